//! Send payloads handed to the engine instead of copied.
//!
//! A large message (at least [`LARGE_MESSAGE`] bytes) that the socket does
//! not take at once waits in the outbound queue. Copying it there costs as
//! much as the write itself, so a `bytes` object is queued by reference: the
//! engine keeps the object alive and writes from its buffer. That is safe
//! because `bytes` is immutable and its buffer never moves. A `bytearray` or
//! `memoryview` can change after `send()` returns, so it is copied once into
//! a `Bytes` of the engine's own (never twice: the copy is what is queued).
//!
//! Where the last reference is dropped: the writer drops a written chunk on
//! the thread that wrote it: the loop's thread in loop mode, a tokio worker
//! in I/O-thread mode, either of them without the thread attached to Python.
//! pyo3 then defers the decref to its reference pool, applied the next time
//! any thread attaches (every call from Python into `_native`, or the end of
//! a `detach`), so no Python object is touched without the GIL.

use bytes::Bytes;
use ferrosocket::LARGE_MESSAGE;
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A `bytes` object as the owner of a [`Bytes`].
struct PyBytesOwner {
    /// Keeps the buffer alive; dropped off the GIL as the module docs say.
    _obj: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is into the immutable buffer of `_obj`, which lives as
// long as this owner; the only shared state is that object, whose `Py` is
// `Send` (its drop without the GIL is deferred by pyo3).
unsafe impl Send for PyBytesOwner {}

impl AsRef<[u8]> for PyBytesOwner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the `Send` impl: the buffer is alive and never written.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// What `send_bytes` passes to the engine.
pub(crate) enum SendPayload<'a> {
    /// A small `bytes` object: encoded straight into the outbound buffer.
    Borrowed(&'a [u8]),
    /// Owned by the engine from here on.
    Owned(Bytes),
}

/// The payload of a bytes-like object: a large `bytes` object by reference,
/// any other buffer copied (see the module docs).
pub(crate) fn send_payload<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<SendPayload<'a>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        if bytes.len() < LARGE_MESSAGE {
            return Ok(SendPayload::Borrowed(bytes));
        }
        let owner = PyBytesOwner {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            _obj: b.clone().unbind(),
        };
        return Ok(SendPayload::Owned(Bytes::from_owner(owner)));
    }
    let copy = PyBuffer::<u8>::get(data)?.to_vec(data.py())?;
    Ok(SendPayload::Owned(Bytes::from(copy)))
}
