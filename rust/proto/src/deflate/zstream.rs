//! [`ZStream`]: the one place that calls zlib (through `libz-sys`), as a safe
//! owner of a raw-deflate `z_stream` for either direction (see "Backends" in
//! the [module docs](super)).
//!
//! zlib keeps a pointer back to the `z_stream` inside its internal state
//! (`state->strm`, checked by every call), so the stream must never move
//! after `deflateInit2_`/`inflateInit2_`: it lives in a `Box` that is only
//! ever used through `&mut`, and is ended exactly once, in `Drop`.

use std::ffi::{c_int, c_uint, c_void};
use std::mem::MaybeUninit;
use std::ptr;

use libz_sys as z;

/// What one [`ZStream::run`] call did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    /// Input bytes used.
    pub consumed: usize,
    /// Output bytes written (initialised) at the start of the output slice.
    pub produced: usize,
    /// Inflate only: the stream ended (a `BFINAL=1` block was completed).
    pub stream_end: bool,
}

/// zlib returned an error (corrupt data when inflating; misuse otherwise).
#[derive(Debug, Clone, Copy)]
pub(super) struct ZError;

/// A raw deflate or inflate stream, initialised, pinned in its box.
pub(super) struct ZStream {
    strm: Box<z::z_stream>,
    deflate: bool,
}

// SAFETY: the stream owns its state outright (zlib keeps no global or
// thread-local state), so moving its owner to another thread is fine; all
// calls go through `&mut self`.
unsafe impl Send for ZStream {}

// zlib's allocator hooks (libz-sys declares them non-nullable). The C
// heap, as zlib's own default: what zlib allocates is only touched when
// used, so RSS follows use (the window, for instance, fills as data comes).
extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

unsafe extern "C" fn zalloc(_opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    match (items as usize).checked_mul(size as usize) {
        // SAFETY: plain C allocation; zlib checks for null.
        Some(n) => unsafe { malloc(n) },
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn zfree(_opaque: *mut c_void, address: *mut c_void) {
    // SAFETY: zlib only frees what `zalloc` returned.
    unsafe { free(address) }
}

fn empty_stream() -> Box<z::z_stream> {
    Box::new(z::z_stream {
        next_in: ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: ptr::null_mut(),
        state: ptr::null_mut(),
        zalloc,
        zfree,
        opaque: ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    })
}

const STREAM_SIZE: c_int = std::mem::size_of::<z::z_stream>() as c_int;

impl ZStream {
    /// A raw deflate stream. `window_bits` 9..=15, `level` 0..=9,
    /// `mem_level` 1..=9 (the caller clamps; anything else panics here).
    pub fn deflate(level: u32, window_bits: u8, mem_level: u8) -> ZStream {
        let mut strm = empty_stream();
        // SAFETY: `strm` is a valid, boxed (never moving) z_stream with our
        // allocator hooks; version and size are the ones libz-sys binds.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *strm,
                level as c_int,
                z::Z_DEFLATED,
                -c_int::from(window_bits),
                c_int::from(mem_level),
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                STREAM_SIZE,
            )
        };
        init_result(rc, "deflateInit2");
        ZStream {
            strm,
            deflate: true,
        }
    }

    /// A raw inflate stream with a `window_bits` (9..=15) window. zlib
    /// allocates the window itself on the first output, not here.
    pub fn inflate(window_bits: u8) -> ZStream {
        let mut strm = empty_stream();
        // SAFETY: as in `deflate`.
        let rc = unsafe {
            z::inflateInit2_(
                &mut *strm,
                -c_int::from(window_bits),
                z::zlibVersion(),
                STREAM_SIZE,
            )
        };
        init_result(rc, "inflateInit2");
        ZStream {
            strm,
            deflate: false,
        }
    }

    /// Feed `input` and write into `output`: deflate with `Z_SYNC_FLUSH`,
    /// inflate with `Z_NO_FLUSH`. "No progress possible" (`Z_BUF_ERROR`)
    /// is not an error: it shows as nothing consumed nor produced.
    pub fn run(
        &mut self,
        input: &[u8],
        output: &mut [MaybeUninit<u8>],
    ) -> Result<Progress, ZError> {
        // zlib counts in `uInt`: hand it at most 4 GiB - 1 per call; the
        // callers loop until their input is used.
        let avail_in = input.len().min(c_uint::MAX as usize) as c_uint;
        let avail_out = output.len().min(c_uint::MAX as usize) as c_uint;
        let strm = &mut *self.strm;
        // zlib never writes through `next_in` (it is `z_const` in C).
        strm.next_in = input.as_ptr().cast_mut();
        strm.avail_in = avail_in;
        strm.next_out = output.as_mut_ptr().cast();
        strm.avail_out = avail_out;
        // SAFETY: the stream was initialised for this direction and never
        // moved; `next_in`/`next_out` are valid for `avail_in`/`avail_out`
        // bytes for the duration of the call, and zlib only writes output.
        let rc = unsafe {
            if self.deflate {
                z::deflate(strm, z::Z_SYNC_FLUSH)
            } else {
                z::inflate(strm, z::Z_NO_FLUSH)
            }
        };
        let progress = Progress {
            consumed: (avail_in - strm.avail_in) as usize,
            produced: (avail_out - strm.avail_out) as usize,
            stream_end: rc == z::Z_STREAM_END,
        };
        // Do not leave pointers to the caller's buffers behind.
        strm.next_in = ptr::null_mut();
        strm.avail_in = 0;
        strm.next_out = ptr::null_mut();
        strm.avail_out = 0;
        match rc {
            z::Z_OK | z::Z_STREAM_END | z::Z_BUF_ERROR => Ok(progress),
            _ => Err(ZError),
        }
    }

    /// Inflate only: start a new raw stream (after a final block), keeping
    /// the allocation.
    pub fn reset(&mut self) {
        debug_assert!(!self.deflate);
        // SAFETY: an initialised, unmoved inflate stream.
        let rc = unsafe { z::inflateReset(&mut *self.strm) };
        debug_assert_eq!(rc, z::Z_OK);
    }

    /// Inflate only: prime the window with `dict` (raw streams allow it at
    /// any point between blocks).
    pub fn set_dictionary(&mut self, dict: &[u8]) -> Result<(), ZError> {
        debug_assert!(!self.deflate);
        let len = c_uint::try_from(dict.len()).map_err(|_| ZError)?;
        // SAFETY: an initialised, unmoved inflate stream; zlib copies `dict`.
        let rc = unsafe { z::inflateSetDictionary(&mut *self.strm, dict.as_ptr(), len) };
        if rc == z::Z_OK {
            Ok(())
        } else {
            Err(ZError)
        }
    }
}

impl Drop for ZStream {
    fn drop(&mut self) {
        // SAFETY: initialised in the constructor, ended only here.
        unsafe {
            if self.deflate {
                z::deflateEnd(&mut *self.strm);
            } else {
                z::inflateEnd(&mut *self.strm);
            }
        }
    }
}

/// Initialisation only fails for bad parameters (the callers clamp them)
/// or no memory, where Rust's own allocations would abort as well.
fn init_result(rc: c_int, what: &str) {
    assert!(rc == z::Z_OK, "{what} failed: {rc}");
}
