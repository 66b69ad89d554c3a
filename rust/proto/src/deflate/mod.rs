//! permessage-deflate (RFC 7692): negotiation, compression, bounded inflation.
//!
//! Three pieces, all sans-IO like the rest of the crate:
//!
//! * [`negotiate`] ([`negotiation`]) reads every `Sec-WebSocket-Extensions`
//!   header value, accepts the first `permessage-deflate` offer we can
//!   honour and returns the agreed [`DeflateParams`] plus the response
//!   header value.
//! * [`Deflater`] ([`deflater`]) compresses one outgoing (server → client)
//!   message at a time and strips the `00 00 ff ff` tail of the sync flush
//!   (§7.2.1).
//! * [`Inflater`] ([`inflater`]) decompresses one incoming (client → server)
//!   message as its fragment payloads arrive, into a buffer it never grows
//!   past the caller's limit.
//!
//! # A leaf
//!
//! This module turns bytes into bytes and knows nothing of frames: it
//! imports only the crate's error type. The frame codec uses it — the
//! decoder ([`Decoder::with_deflate`](crate::Decoder::with_deflate)) feeds
//! each compressed payload piece to the inflater so that size limits and
//! fail-fast UTF-8 apply to the *decompressed* bytes, and
//! [`encode_compressed`](crate::encode_compressed) frames a compressed
//! message with RSV1. Keeping the dependency one-way lets compression be
//! tested and fuzzed on its own, and lets a frame change never touch it.
//!
//! # Negotiation decisions
//!
//! * A malformed or unacceptable offer (unknown or duplicate parameter, a
//!   value on a flag parameter, a window size outside 8..=15 or with a leading
//!   zero, an unterminated quote) is *declined*: we skip to the next offer,
//!   and if none is left the handshake succeeds without compression
//!   (§5: declining is always allowed, failing the handshake never needed).
//! * Quoted values (`server_max_window_bits="10"`) are unquoted first, as the
//!   §7.1 ABNF requires. Names compare case-insensitively.
//! * `server_max_window_bits=N` in an offer: we answer with
//!   `min(N, config.server_max_window_bits)`. Without it we announce our own
//!   limit only if it is below 15.
//! * `client_max_window_bits` (with or without a value) in an offer: the
//!   agreed client window is `min(value or 15, config.client_max_window_bits)`
//!   and is answered whenever it is below 15. Without the parameter in the
//!   offer we must not send it (§7.1.2.2), so the client keeps 15.
//! * Flags: `server_no_context_takeover` offered is echoed and honoured;
//!   either flag is also sent when our config asks for it.
//!
//! # Window bits 8
//!
//! zlib cannot set up a raw deflate stream with a 256-byte
//! window: asked for 8 it uses 9 or refuses (zlib ≥ 1.2.9, madler/zlib#171).
//! Answering 9 to a request for 8 is not allowed (§7.1.2.1: the answer must
//! be ≤ the request), and declining makes Autobahn 13.3.x/13.5.x (whose only
//! offer is `server_max_window_bits=8`) report UNIMPLEMENTED. So we accept 8
//! and compress with a 9-bit window, which is still honouring 8: what the
//! parameter limits is the distance of back-references, and zlib's longest
//! distance is the window minus its 262-byte lookahead (`MAX_DIST`), i.e. 250
//! bytes for 9 bits. `window_8_deflater_never_reaches_past_256_bytes` (in
//! `tests/deflate_codec.rs`) guards that across levels, memory levels and
//! context modes against a strict 256-byte-window inflater (a 10-bit
//! deflater fails the same check).
//! On the receiving side, an agreed `client_max_window_bits=8` inflates with
//! a 9-bit window: a superset, so it also accepts clients whose zlib quietly
//! used 9 with a full 512-byte reach.
//!
//! # Bomb safety
//!
//! [`Inflater::inflate`] writes into a `Vec` it grows itself with
//! `reserve_exact`, never past the caller's limit, and stops with
//! [`MessageTooLarge`](crate::ProtocolError::MessageTooLarge) (1009) as
//! soon as one byte more than the limit *would* be produced (detected with
//! a 1-byte probe, so the output never holds more than `limit` bytes).
//! Compressed input is never buffered: it is inflated straight out of the
//! socket buffer.
//!
//! # Corrupt data
//!
//! A stream zlib rejects fails with
//! [`InvalidCompressedData`](crate::ProtocolError::InvalidCompressedData),
//! close code 1007. RFC 7692 only says "fail the connection" (§6.2); 1007 is
//! RFC 6455's code for data inconsistent with the message's type, which is
//! what a payload that does not decode under the negotiated encoding is (the
//! same choice as the `ws` Node library).
//!
//! # BFINAL blocks
//!
//! §7.2.3.4 lets a sender flush with a final (`BFINAL=1`) block, after which
//! the stream ends for zlib. We then restart the inflater, primed with the
//! tail of the current message's output as dictionary, and go on (that is why
//! the example carries an extra `0x00`). Limitation: back-references that
//! reach *before the start of the message* holding the final block cannot be
//! resolved (the new stream is primed with this message's output only) and
//! fail with 1007.
//! No mainstream client sends BFINAL; all of them use sync flushes.
//!
//! # Backends
//!
//! Both directions run on stock zlib (`libz-sys`, built from its bundled
//! source so that wheels do not depend on the system's libz), through the
//! one small safe owner in [`zstream`]. Measured on ~1.6 KB JSON messages,
//! 1000 streams at 12-bit windows (RSS per stream after three messages):
//!
//! * compression: zlib-rs (the former backend) allocates a 65536-entry hash
//!   head (128 KiB) whatever the memory level and clears it at setup: 160 KiB
//!   per deflater at memLevel 5. Stock zlib sizes the hash by memLevel, as
//!   its formula says: 37 KiB. The server's default settings only pay off
//!   with a backend that honours them.
//! * decompression: zlib-rs allocates its state and a 32 KiB window at setup
//!   (18 KiB touched idle, 23 KiB after three messages); stock zlib
//!   allocates the window (of the agreed size) on first output: 11 KiB.
//!   zlib-rs inflated slightly faster in our runs (3–6 µs per message
//!   against 4–6, on a shared machine), a few percent of what compressing
//!   the same message costs, so one backend with half the memory wins.
//!
//! Neither direction sets up its zlib stream before its first compressed
//! message: a connection that agreed on permessage-deflate but sends (or
//! receives) nothing compressed holds no zlib state for that direction
//! (`tests/deflate_memory.rs`). With no context takeover in a direction,
//! its stream is released after every message instead of reset: setting
//! up a new one cost the same as a reset in our measurements (12 / 5 /
//! level 6: 25–38 µs per message either way, noise of a shared machine),
//! and such a connection then holds no zlib state between messages.

pub mod client;
pub mod deflater;
pub mod inflater;
pub mod negotiation;
mod zstream;

pub use client::{accept_response, client_offer};
pub use deflater::Deflater;
pub use inflater::Inflater;
pub use negotiation::{negotiate, DeflateConfig, DeflateParams};

/// The tail a sync flush ends with, removed on send and restored on receive (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
