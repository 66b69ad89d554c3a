//! A published message, framed once for every subscriber.
//!
//! This is the only place the topic code uses proto's encoders. The plain
//! frame is built once, eagerly, into one immutable [`Bytes`]; every plain
//! subscriber queues a reference to it, and its payload (a slice of the same
//! buffer) is what compressed subscribers with context takeover hand to
//! their own writer's deflater (their compressor state is per connection,
//! so nothing can be shared there).
//!
//! Subscribers that negotiated `server_no_context_takeover` compress each
//! message from a fresh state, so the compressed frame depends only on the
//! payload and the window size: it is built once per window size (the
//! first such subscriber builds it, the others share it). The level and
//! memory level come from the server's `DeflateConfig`, which every
//! connection of one server shares, so they are not part of the key.

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{encode_compressed, DeflateConfig, DeflateParams, Deflater, OpCode};

use crate::conn::frame;

/// The largest frame header (2 bytes, an 8-byte length, a 4-byte mask).
const MAX_HEADER: usize = 14;

/// One message on its way to a topic's subscribers.
pub struct Published {
    opcode: OpCode,
    compress: bool,
    /// The unmasked, uncompressed frame.
    plain: Bytes,
    /// Where the payload starts in `plain`.
    header: usize,
    /// Compressed frames without context takeover, by window bits 8..=15.
    groups: [OnceLock<Bytes>; 8],
}

impl Published {
    /// Frame `payload` (a text payload must be valid UTF-8). `compress:
    /// false` sends it uncompressed on every connection.
    pub fn new(opcode: OpCode, payload: &[u8], compress: bool) -> Published {
        let mut plain = BytesMut::with_capacity(payload.len() + MAX_HEADER);
        frame(&mut plain, opcode, payload, None);
        let header = plain.len() - payload.len();
        Published {
            opcode,
            compress,
            plain: plain.freeze(),
            header,
            groups: Default::default(),
        }
    }

    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.plain.len() - self.header
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// Whether it may be compressed.
    pub(crate) fn compress(&self) -> bool {
        self.compress
    }

    /// The payload, a slice of the shared frame (no copy).
    pub(crate) fn payload(&self) -> Bytes {
        self.plain.slice(self.header..)
    }

    /// The shared uncompressed frame.
    pub(crate) fn plain(&self) -> Bytes {
        self.plain.clone()
    }

    /// For a compressed connection: `Ok(frame)` to queue as is (shared: plain,
    /// or compressed once for its group), or `Err(payload)` for the
    /// connection's writer to deflate with its own context.
    pub(crate) fn for_deflate(
        &self,
        params: DeflateParams,
        config: &DeflateConfig,
    ) -> Result<Bytes, Bytes> {
        if !self.compress || !config.should_compress(self.len()) {
            return Ok(self.plain());
        }
        if !params.server_no_context_takeover {
            return Err(self.plain.slice(self.header..));
        }
        let bits = params.server_max_window_bits.clamp(8, 15);
        let frame = self.groups[usize::from(bits - 8)].get_or_init(|| {
            let mut deflater = Deflater::with_window(bits, true, config.level, config.mem_level);
            let mut out = BytesMut::with_capacity(self.len() / 2 + MAX_HEADER);
            encode_compressed(
                &mut out,
                &mut deflater,
                self.opcode,
                &self.plain[self.header..],
                None,
            );
            out.freeze()
        });
        Ok(frame.clone())
    }

    /// How many compressed group frames were built (for tests).
    pub fn groups_built(&self) -> usize {
        self.groups.iter().filter(|g| g.get().is_some()).count()
    }
}
