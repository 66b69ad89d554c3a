//! Send payloads handed to the engine instead of copied, and the contents
//! of the other bytes-like arguments (ping and pong payloads, a refusal's
//! body).
//!
//! A large message (at least [`LARGE_MESSAGE`] bytes) that the socket does
//! not take at once waits in the outbound queue. Copying it there costs as
//! much as the write itself, so a `bytes` object is queued by reference: the
//! engine keeps the object alive and writes from its buffer. That is safe
//! because `bytes` is immutable and its buffer never moves. A `str` is
//! queued the same way, from its UTF-8 form: for an ASCII string that is the
//! string's own data, for any other the UTF-8 copy CPython makes once and
//! keeps with the object until it is freed (`PyUnicode_AsUTF8AndSize`), so
//! it too lives exactly as long as the object. A `bytearray` or
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
use pyo3::types::{PyBytes, PyString};

/// A `bytes` or `str` object as the owner of a [`Bytes`].
struct PyOwner {
    /// Keeps the buffer alive; dropped off the GIL as the module docs say.
    _obj: Py<PyAny>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is into an immutable buffer that `_obj` owns and frees
// only with itself (see the module docs), and `_obj` lives as long as this
// owner; the only shared state is that object, whose `Py` is `Send` (its
// drop without the GIL is deferred by pyo3).
unsafe impl Send for PyOwner {}

impl PyOwner {
    /// `data`, which `obj` owns as the module docs say, as a [`Bytes`].
    fn bytes(obj: &Bound<'_, PyAny>, data: &[u8]) -> Bytes {
        Bytes::from_owner(PyOwner {
            ptr: data.as_ptr(),
            len: data.len(),
            _obj: obj.clone().unbind(),
        })
    }
}

impl AsRef<[u8]> for PyOwner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the `Send` impl: the buffer is alive and never written.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// What `send_bytes` and `send_text` pass to the engine.
pub(crate) enum SendPayload<'a> {
    /// A small `bytes` or `str` object: encoded straight into the outbound
    /// buffer.
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
        return Ok(SendPayload::Owned(PyOwner::bytes(data, bytes)));
    }
    let copy = PyBuffer::<u8>::get(data)?.to_vec(data.py())?;
    Ok(SendPayload::Owned(Bytes::from(copy)))
}

/// The UTF-8 payload of a `str`: a large one by reference (see the module
/// docs). Fails for a string with lone surrogates, which has no UTF-8 form.
pub(crate) fn text_payload<'a>(data: &'a Bound<'_, PyString>) -> PyResult<SendPayload<'a>> {
    let text = data.to_str()?.as_bytes();
    if text.len() < LARGE_MESSAGE {
        return Ok(SendPayload::Borrowed(text));
    }
    Ok(SendPayload::Owned(PyOwner::bytes(data.as_any(), text)))
}

/// `f` applied to the contents of any bytes-like object, copied only when
/// it is not `bytes`.
pub(crate) fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    let buffer = PyBuffer::<u8>::get(data)?;
    let bytes = buffer.to_vec(data.py())?;
    Ok(f(&bytes))
}

/// The contents of any bytes-like object.
pub(crate) fn buffer_bytes(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    PyBuffer::<u8>::get(data)?.to_vec(data.py())
}
