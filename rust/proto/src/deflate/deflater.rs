//! [`Deflater`]: compression of outgoing messages (RFC 7692 §7.2.1), on
//! stock zlib for its memory level (see "Backends" in the
//! [module docs](super)). The zlib stream is set up on the first message,
//! so a connection that never sends a compressed message holds none.

use bytes::BytesMut;

use super::zstream::ZStream;
use super::{DeflateParams, TAIL};

/// Compressor for one direction of one connection (server → client).
pub struct Deflater {
    /// `None` until the first non-empty message.
    z: Option<ZStream>,
    level: u32,
    window_bits: u8,
    mem_level: u8,
    no_context_takeover: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// The server's compressor for `params` (uses `server_max_window_bits`
    /// and `server_no_context_takeover`). `level` is clamped to 0..=9 and
    /// `mem_level` to 1..=9.
    pub fn new(params: DeflateParams, level: u32, mem_level: u8) -> Deflater {
        Deflater::with_window(
            params.server_max_window_bits,
            params.server_no_context_takeover,
            level,
            mem_level,
        )
    }

    /// A compressor with an explicit window (8..=15, clamped) and context
    /// mode; [`Deflater::new`] picks these from the agreed parameters. A
    /// client (the tests, the fuzz bodies) uses the `client_*` parameters here.
    pub fn with_window(
        window_bits: u8,
        no_context_takeover: bool,
        level: u32,
        mem_level: u8,
    ) -> Deflater {
        Deflater {
            z: None,
            level: level.min(9),
            // Raw deflate cannot allocate 8; 9 never reaches past 250 bytes.
            // See "Window bits 8" in the module docs.
            window_bits: window_bits.clamp(9, 15),
            mem_level: mem_level.clamp(1, 9),
            no_context_takeover,
        }
    }

    /// Append the compressed form of one whole message to `dst`, without
    /// the `00 00 ff ff` tail (§7.2.1). With no context takeover the
    /// compressor's state is released afterwards (set up again on the next
    /// message).
    pub fn compress(&mut self, payload: &[u8], dst: &mut BytesMut) {
        if payload.is_empty() {
            // An empty stored block. Not asked of zlib: a sync flush right
            // after another one, with no input, produces nothing at all.
            dst.extend_from_slice(&[0x00]);
            return;
        }
        let (level, bits, mem) = (self.level, self.window_bits, self.mem_level);
        let z = self
            .z
            .get_or_insert_with(|| ZStream::deflate(level, bits, mem));
        let start = dst.len();
        let mut input = payload;
        loop {
            // Most payloads shrink; reserve about half, at least 64 bytes.
            dst.reserve((input.len() / 2).max(64));
            let spare = dst.spare_capacity_mut();
            let spare_len = spare.len();
            let result = z.run(input, spare);
            let (consumed, produced) = result.map_or((0, 0), |p| (p.consumed, p.produced));
            // SAFETY: zlib initialised exactly `produced` bytes of the spare capacity.
            unsafe { dst.set_len(dst.len() + produced) };
            input = &input[consumed..];
            // With a valid configuration, deflate only fails on misuse.
            debug_assert!(result.is_ok(), "deflate: {result:?}");
            if result.is_err() || (input.is_empty() && produced < spare_len) {
                break;
            }
        }
        debug_assert!(dst[start..].ends_with(&TAIL));
        if dst[start..].ends_with(&TAIL) {
            dst.truncate(dst.len() - TAIL.len());
        }
        if self.no_context_takeover {
            // Nothing carries over to the next message, so keep nothing: a
            // new stream costs no more than a reset (which clears the hash
            // too), and the connection holds no state between messages.
            self.z = None;
        }
    }
}
