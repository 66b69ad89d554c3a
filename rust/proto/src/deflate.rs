//! permessage-deflate (RFC 7692): negotiation, compression, bounded inflation.
//!
//! Three pieces, all sans-IO like the rest of the crate:
//!
//! * [`negotiate`] reads every `Sec-WebSocket-Extensions` header value,
//!   accepts the first `permessage-deflate` offer we can honour and returns
//!   the agreed [`DeflateParams`] plus the response header value.
//! * [`Deflater`] compresses one outgoing (server → client) message at a
//!   time and strips the `00 00 ff ff` tail of the sync flush (§7.2.1).
//! * [`Inflater`] decompresses one incoming (client → server) message as its
//!   fragment payloads arrive; [`Decoder::set_deflate`](crate::Decoder::set_deflate)
//!   plugs it into the frame decoder so that size limits and fail-fast UTF-8
//!   apply to the *decompressed* bytes.
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
//! * `client_max_window_bits` (with or without a value) in an offer: we may
//!   limit the client's window to `config.client_max_window_bits`; we answer
//!   the parameter only when that is smaller than what the client would use
//!   anyway. Without it in the offer we must not send it (§7.1.2.2).
//! * Flags: `server_no_context_takeover` offered is echoed and honoured;
//!   either flag is also sent when our config asks for it.
//!
//! # Window bits 8
//!
//! zlib (and zlib-rs) cannot produce a raw deflate stream with a 256-byte
//! window: asked for 8 it silently uses 9 (zlib ≥ 1.2.9, madler/zlib#171), and
//! a strict peer inflating with a 256-byte window would then see distances it
//! cannot resolve. Answering 9 to a request for 8 is not allowed either
//! (§7.1.2.1: the answer must be ≤ the request), and declining makes Autobahn
//! 13.3.x/13.5.x (whose only offer is `server_max_window_bits=8`) report
//! UNIMPLEMENTED. So we *accept* 8 and honour it exactly: a deflater for an
//! 8-bit window runs zlib's Huffman-only strategy, which emits no LZ77
//! back-references at all, so every stream it produces is valid for any
//! window size. Messages still shrink (entropy coding), just less.
//! On the receiving side, an agreed `client_max_window_bits=8` inflates with a
//! 512-byte window: a superset, so it also accepts clients whose zlib quietly
//! used 9.
//!
//! # Bomb safety
//!
//! [`Inflater::inflate`] writes into a `Vec` it grows itself with
//! `reserve_exact`, never past the caller's limit, and stops with
//! [`ProtocolError::MessageTooLarge`] (1009) as soon as one byte more than the
//! limit *would* be produced (detected with a 1-byte probe, so the output
//! never holds more than `limit` bytes). Compressed input is never buffered:
//! it is inflated straight out of the socket buffer.
//!
//! # Corrupt data
//!
//! A stream zlib rejects fails with [`ProtocolError::InvalidCompressedData`],
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
//! resolved (flate2 does not expose the inflate window) and fail with 1007.
//! No mainstream client sends BFINAL; all of them use sync flushes.
//!
//! # Backends
//!
//! Inflation uses `flate2` on zlib-rs. Compression uses zlib-rs directly —
//! the very crate flate2 runs on — because flate2 exposes neither the memory
//! level (the biggest per-connection memory knob: 2^(mem_level+9) bytes of
//! deflate state) nor the Huffman-only strategy the 8-bit window needs.

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{DeflateFlush, Strategy};

use crate::error::ProtocolError;
use crate::frame::{header_bytes, max_header_len, OpCode};
use crate::mask::apply_mask;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The tail a sync flush ends with, removed on send and restored on receive (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Server-side permessage-deflate settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Negotiate the extension at all. Default `true`: browsers offer it on
    /// every connection and it cuts JSON traffic 3–10×.
    pub enabled: bool,
    /// Largest LZ77 window (log2) we compress with, 8..=15. Default 15.
    pub server_max_window_bits: u8,
    /// Largest window (log2) we let the client compress with, 8..=15. Only
    /// sent when the client offered `client_max_window_bits`. Default 15.
    pub client_max_window_bits: u8,
    /// Reset our compressor after every message: worse ratio, but no
    /// compression state has to be reasoned about across messages. Default
    /// `false`.
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after every message. Default
    /// `false`.
    pub client_no_context_takeover: bool,
    /// zlib level 0..=9. Default 3: on JSON-like payloads of a few KiB,
    /// level 3 gets within a few percent of level 6's size at a clearly lower
    /// CPU cost per message (measured in `level_trade_off` below, ignored
    /// test); compression runs once per message per connection, so CPU is
    /// the cost that scales.
    pub level: u32,
    /// zlib memory level 1..=9 (deflate state is about 2^(mem_level+9)
    /// bytes plus the window). Default 8, zlib's own default.
    pub mem_level: u8,
    /// Messages shorter than this go out uncompressed. Default 64: below
    /// that, deflate's block overhead (a few bytes) eats most of the gain,
    /// the frame header stays 2 bytes either way, and the per-call cost of
    /// the compressor dominates the CPU spent on tiny messages.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 3,
            mem_level: 8,
            threshold: 64,
        }
    }
}

impl DeflateConfig {
    /// Whether a message of `len` bytes should be compressed (at or above
    /// `threshold`).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// A compressor for the server → client direction of `params`.
    pub fn deflater(&self, params: DeflateParams) -> Deflater {
        Deflater::new(params, self.level, self.mem_level)
    }
}

/// What was agreed in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so we reset
    /// our inflater too).
    pub client_no_context_takeover: bool,
    /// Our compression window (log2), 8..=15.
    pub server_max_window_bits: u8,
    /// The client's compression window (log2), 8..=15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// RFC 7692 defaults: context takeover both ways, 15-bit windows.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` response value announcing these
    /// parameters (window sizes only when below 15).
    pub fn response_header(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

// ---------------------------------------------------------------- negotiation

/// Split `s` on `sep` outside double quotes (with `\` escapes inside them).
fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut in_quote, mut escaped) = (0, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A parameter value: a token, or a quoted string whose content is a token
/// (§7.1). `None` when malformed.
fn param_value(raw: &str) -> Option<String> {
    let v = raw.trim();
    let v = if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        out
    } else {
        v.to_owned()
    };
    is_token(&v).then_some(v)
}

/// 8..=15, decimal, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// One offer's parameters.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Parse the parameters of one permessage-deflate offer; `None` declines it.
fn parse_offer(params: &[&str]) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen = [false; 4];
    for p in params {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(param_value(v)?)),
            None => (p.trim(), None),
        };
        if !is_token(name) {
            return None;
        }
        let idx = [
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ]
        .iter()
        .position(|k| k.eq_ignore_ascii_case(name))?; // unknown → decline
        if std::mem::replace(&mut seen[idx], true) {
            return None; // duplicate → decline (§7)
        }
        match (idx, value) {
            (0, None) => offer.server_no_context_takeover = true,
            (1, None) => offer.client_no_context_takeover = true,
            (2, Some(v)) => offer.server_max_window_bits = Some(window_bits(&v)?),
            (3, None) => offer.client_max_window_bits = Some(None),
            (3, Some(v)) => offer.client_max_window_bits = Some(Some(window_bits(&v)?)),
            _ => return None, // a flag with a value, or a window size without one
        }
    }
    Some(offer)
}

/// Accept the first `permessage-deflate` offer in `offers` (the raw
/// `Sec-WebSocket-Extensions` header values, in order) that we can honour;
/// return the agreed parameters and the response header value. `None`: no
/// acceptable offer (or `config.enabled` is false) — answer without the
/// extension. See the module docs for every decision.
pub fn negotiate(offers: &[String], config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    if !config.enabled {
        return None;
    }
    let our_server_bits = config.server_max_window_bits.clamp(8, 15);
    let our_client_bits = config.client_max_window_bits.clamp(8, 15);
    for header in offers {
        for element in split_outside_quotes(header, b',') {
            let mut parts = split_outside_quotes(element, b';').into_iter();
            let name = parts.next().unwrap_or("").trim();
            if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
                continue; // another extension, or an empty list element
            }
            let rest: Vec<&str> = parts.collect();
            let Some(offer) = parse_offer(&rest) else {
                continue;
            };
            let client_bits = match offer.client_max_window_bits {
                // Not offered: the client may not understand the parameter,
                // so we cannot limit it (§7.1.2.2).
                None => 15,
                Some(v) => v.unwrap_or(15).min(our_client_bits),
            };
            let params = DeflateParams {
                server_no_context_takeover: offer.server_no_context_takeover
                    || config.server_no_context_takeover,
                client_no_context_takeover: offer.client_no_context_takeover
                    || config.client_no_context_takeover,
                server_max_window_bits: offer
                    .server_max_window_bits
                    .unwrap_or(15)
                    .min(our_server_bits),
                client_max_window_bits: client_bits,
            };
            return Some((params, params.response_header()));
        }
    }
    None
}

// ---------------------------------------------------------------- compression

/// Compressor for one direction of one connection (server → client).
pub struct Deflater {
    z: zlib_rs::Deflate,
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
    /// client (tests, load tools) uses the `client_*` parameters here.
    pub fn with_window(
        window_bits: u8,
        no_context_takeover: bool,
        level: u32,
        mem_level: u8,
    ) -> Deflater {
        let window_bits = window_bits.clamp(8, 15);
        let config = zlib_rs::DeflateConfig {
            level: level.min(9) as i32,
            method: zlib_rs::Method::Deflated,
            // Raw deflate cannot do 8; see "Window bits 8" in the module docs.
            window_bits: -i32::from(window_bits.max(9)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            strategy: if window_bits == 8 {
                Strategy::HuffmanOnly
            } else {
                Strategy::Default
            },
        };
        Deflater {
            z: zlib_rs::Deflate::new_with_config(config),
            no_context_takeover,
        }
    }

    /// Append the compressed form of one whole message to `dst`, without
    /// the `00 00 ff ff` tail (§7.2.1). With no context takeover the
    /// compressor is reset afterwards.
    pub fn compress(&mut self, payload: &[u8], dst: &mut BytesMut) {
        if payload.is_empty() {
            // An empty stored block. Not asked of zlib: a sync flush right
            // after another one, with no input, produces nothing at all.
            dst.extend_from_slice(&[0x00]);
            return;
        }
        let start = dst.len();
        let mut input = payload;
        loop {
            // Most payloads shrink; reserve about half, at least 64 bytes.
            dst.reserve((input.len() / 2).max(64));
            let spare = dst.spare_capacity_mut();
            let spare_len = spare.len();
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let result = self
                .z
                .compress_uninit(input, spare, DeflateFlush::SyncFlush);
            let consumed = (self.z.total_in() - in0) as usize;
            let produced = (self.z.total_out() - out0) as usize;
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
            self.z.reset();
        }
    }

    /// Append one whole compressed message as a single server (unmasked)
    /// frame with RSV1 set (§6.1): header, then the compressed payload.
    pub fn encode_message(&mut self, dst: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
        self.encode_message_inner(dst, opcode, payload, None);
    }

    /// Like [`Deflater::encode_message`] but a masked client frame (tests,
    /// load tools).
    pub fn encode_message_masked(
        &mut self,
        dst: &mut BytesMut,
        opcode: OpCode,
        payload: &[u8],
        mask: [u8; 4],
    ) {
        self.encode_message_inner(dst, opcode, payload, Some(mask));
    }

    fn encode_message_inner(
        &mut self,
        dst: &mut BytesMut,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        // Compress behind room for the largest header, then slide the
        // payload down to sit right after the actual header.
        let room = max_header_len();
        let start = dst.len();
        dst.resize(start + room, 0);
        self.compress(payload, dst);
        let len = dst.len() - start - room;
        let (hdr, hlen) = header_bytes(opcode, len, true, true, mask);
        dst.copy_within(start + room.., start + hlen);
        dst.truncate(start + hlen + len);
        dst[start..start + hlen].copy_from_slice(&hdr[..hlen]);
        if let Some(mask) = mask {
            apply_mask(&mut dst[start + hlen..], mask, 0);
        }
    }
}

// -------------------------------------------------------------- decompression

/// Decompressor for the client → server direction of one connection; see
/// the module docs ("Bomb safety", "BFINAL blocks").
pub struct Inflater {
    z: Decompress,
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
            z: Decompress::new_with_window_bits(false, window_bits),
            window_bits,
            no_context_takeover,
            message_start: None,
        }
    }

    /// Whether a message is being inflated (fed, not yet finished).
    pub fn in_message(&self) -> bool {
        self.message_start.is_some()
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
    /// new message (after a reset, with no context takeover).
    pub fn finish(&mut self, dst: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let start = *self.message_start.get_or_insert(dst.len());
        let result = self.run(&TAIL, dst, start, limit);
        self.message_start = None;
        if self.no_context_takeover {
            self.z.reset(false);
        }
        result
    }

    /// Forget the current message and all context (for a connection that
    /// is failed and reused, or tests).
    pub fn reset(&mut self) {
        self.z.reset(false);
        self.message_start = None;
    }

    fn run(
        &mut self,
        mut input: &[u8],
        dst: &mut Vec<u8>,
        start: usize,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let cap_end = start.saturating_add(limit);
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let (status, room) = if dst.len() < cap_end {
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
                let status = self
                    .z
                    .decompress_uninit(input, spare, FlushDecompress::None);
                let produced = (self.z.total_out() - out0) as usize;
                // SAFETY: zlib initialised the first `produced` bytes of `spare`.
                unsafe { dst.set_len(len + produced) };
                (status, room)
            } else {
                // At the limit: probe whether any more output is coming.
                let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                let status = self
                    .z
                    .decompress_uninit(input, &mut probe, FlushDecompress::None);
                if self.z.total_out() > out0 {
                    return Err(ProtocolError::MessageTooLarge);
                }
                (status, 1)
            };
            let status = status.map_err(|_| ProtocolError::InvalidCompressedData)?;
            let consumed = (self.z.total_in() - in0) as usize;
            let produced = (self.z.total_out() - out0) as usize;
            input = &input[consumed..];
            if status == Status::StreamEnd {
                self.restart_after_final_block(&dst[start..])?;
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

    /// After a `BFINAL=1` block: a new raw stream, primed with the tail of
    /// this message's output (see "BFINAL blocks" in the module docs).
    fn restart_after_final_block(&mut self, message: &[u8]) -> Result<(), ProtocolError> {
        self.z.reset(false);
        let window = 1usize << self.window_bits;
        let dict = &message[message.len().saturating_sub(window)..];
        if !dict.is_empty() {
            self.z
                .set_dictionary(dict)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
        }
        Ok(())
    }
}
