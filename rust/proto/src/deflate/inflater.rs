//! [`Inflater`]: bounded decompression of incoming messages, piece by piece
//! (see "Bomb safety" and "BFINAL blocks" in the [module docs](super)).
//! The zlib stream is set up on the first compressed message, so a
//! connection whose peer never compresses holds none.

use super::zstream::ZStream;
use super::{DeflateParams, TAIL};
use crate::error::ProtocolError;

/// Decompressor for the client → server direction of one connection; see
/// the module docs ("Bomb safety", "BFINAL blocks").
pub struct Inflater {
    /// `None` until the first compressed message.
    z: Option<ZStream>,
    window_bits: u8,
    no_context_takeover: bool,
    /// Output length of `dst` when the current message started.
    message_start: Option<usize>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("in_message", &self.message_start.is_some())
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// The server's decompressor for `params` (uses `client_max_window_bits`
    /// and `client_no_context_takeover`).
    pub fn new(params: DeflateParams) -> Inflater {
        Inflater::with_window(
            params.client_max_window_bits,
            params.client_no_context_takeover,
        )
    }

    /// A decompressor with an explicit window (8..=15; 8 inflates with 9,
    /// a superset) and context mode.
    pub fn with_window(window_bits: u8, no_context_takeover: bool) -> Inflater {
        let window_bits = window_bits.clamp(9, 15);
        Inflater {
            z: None,
            window_bits,
            no_context_takeover,
            message_start: None,
        }
    }

    /// Inflate the next piece of the current message's (unmasked) compressed
    /// payload, appending output to `dst`. The message's output (what `dst`
    /// gained since the message's first `inflate`) never exceeds `limit`
    /// bytes, and `dst`'s capacity is only ever grown (with `reserve_exact`)
    /// up to `start + limit`: one byte more fails with
    /// [`ProtocolError::MessageTooLarge`]. Corrupt input fails with
    /// [`ProtocolError::InvalidCompressedData`].
    pub fn inflate(
        &mut self,
        input: &[u8],
        dst: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let start = *self.message_start.get_or_insert(dst.len());
        self.run(input, dst, start, limit)
    }

    /// End the current message: feed the `00 00 ff ff` tail that the sender
    /// removed and drain what is left. Afterwards the next `inflate` starts a
    /// new message (on a new zlib stream, with no context takeover).
    pub fn finish(&mut self, dst: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let start = *self.message_start.get_or_insert(dst.len());
        let result = self.run(&TAIL, dst, start, limit);
        self.message_start = None;
        if self.no_context_takeover {
            // As in the deflater: a fresh stream per message costs what a
            // reset does, and nothing is held between messages.
            self.z = None;
        }
        result
    }

    fn run(
        &mut self,
        mut input: &[u8],
        dst: &mut Vec<u8>,
        start: usize,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let cap_end = start.saturating_add(limit);
        let bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| ZStream::inflate(bits));
        loop {
            let (progress, room) = if dst.len() < cap_end {
                if dst.len() == dst.capacity() {
                    // Double the message's output (at least a guess from the
                    // input), never past the limit.
                    let want = (dst.capacity() - start)
                        .max(input.len().saturating_mul(2))
                        .max(256);
                    dst.reserve_exact(want.min(cap_end - dst.len()));
                }
                // Never write past the limit, even if the allocator gave more.
                let room = (cap_end - dst.len()).min(dst.capacity() - dst.len());
                let len = dst.len();
                let spare = &mut dst.spare_capacity_mut()[..room];
                let progress = z.run(input, spare);
                let produced = progress.map_or(0, |p| p.produced);
                // SAFETY: zlib initialised the first `produced` bytes of `spare`.
                unsafe { dst.set_len(len + produced) };
                (progress, room)
            } else {
                // At the limit: probe whether any more output is coming.
                let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                let progress = z.run(input, &mut probe);
                if progress.is_ok_and(|p| p.produced > 0) {
                    return Err(ProtocolError::MessageTooLarge);
                }
                (progress, 1)
            };
            let progress = progress.map_err(|_| ProtocolError::InvalidCompressedData)?;
            let (consumed, produced) = (progress.consumed, progress.produced);
            input = &input[consumed..];
            if progress.stream_end {
                restart_after_final_block(z, bits, &dst[start..])?;
                if input.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if input.is_empty() && produced < room {
                return Ok(()); // all input used and output was not the bottleneck
            }
            if consumed == 0 && produced == 0 {
                // No progress although there is input and room: cannot happen
                // with a sane stream; refuse rather than spin.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }
}

/// After a `BFINAL=1` block: a new raw stream, primed with the tail of
/// this message's output (see "BFINAL blocks" in the module docs).
fn restart_after_final_block(
    z: &mut ZStream,
    window_bits: u8,
    message: &[u8],
) -> Result<(), ProtocolError> {
    z.reset();
    let window = 1usize << window_bits;
    let dict = &message[message.len().saturating_sub(window)..];
    if !dict.is_empty() {
        z.set_dictionary(dict)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
    }
    Ok(())
}
