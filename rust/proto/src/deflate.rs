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
//! * `client_max_window_bits` (with or without a value) in an offer: the
//!   agreed client window is `min(value or 15, config.client_max_window_bits)`
//!   and is answered whenever it is below 15. Without the parameter in the
//!   offer we must not send it (§7.1.2.2), so the client keeps 15.
//! * Flags: `server_no_context_takeover` offered is echoed and honoured;
//!   either flag is also sent when our config asks for it.
//!
//! # Window bits 8
//!
//! zlib (and zlib-rs) cannot set up a raw deflate stream with a 256-byte
//! window: asked for 8 it uses 9 or refuses (zlib ≥ 1.2.9, madler/zlib#171).
//! Answering 9 to a request for 8 is not allowed (§7.1.2.1: the answer must
//! be ≤ the request), and declining makes Autobahn 13.3.x/13.5.x (whose only
//! offer is `server_max_window_bits=8`) report UNIMPLEMENTED. So we accept 8
//! and compress with a 9-bit window, which is still honouring 8: what the
//! parameter limits is the distance of back-references, and zlib's longest
//! distance is the window minus its 262-byte lookahead (`MAX_DIST`), i.e. 250
//! bytes for 9 bits. `window_8_deflater_never_reaches_past_256_bytes` guards
//! that across levels, memory levels and context modes against a strict
//! 256-byte-window inflater (a 10-bit deflater fails the same check).
//! On the receiving side, an agreed `client_max_window_bits=8` inflates with
//! a 9-bit window: a superset, so it also accepts clients whose zlib quietly
//! used 9 with a full 512-byte reach.

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
//! the very crate (and version) flate2 runs on — because flate2 does not
//! expose the memory level, the biggest per-connection memory knob (deflate
//! state is about 2^(mem_level+9) bytes plus twice the window).

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::DeflateFlush;

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
    /// zlib level 0..=9. Default 3. Measured on ~2 KiB JSON messages with
    /// context takeover (`level_trade_off`, ignored test, release build):
    /// level 1 → 0.35 of the raw size at ~12 µs/message, level 3 → 0.25 at
    /// ~35 µs, level 6 → 0.23 at ~70 µs, level 9 → 0.23 at ~90+ µs. Level 3
    /// stays within 10% of level 6's size for about half its CPU, and
    /// compression runs once per message per connection, so CPU is the cost
    /// that scales; pick 1 when CPU is the bottleneck.
    pub level: u32,
    /// zlib memory level 1..=9 (deflate state is about 2^(mem_level+9)
    /// bytes plus the window). Default 8, zlib's own default.
    pub mem_level: u8,
    /// Messages shorter than this go out uncompressed. Default 0: every
    /// message is compressed once the extension is agreed, as websockets
    /// and uvicorn do, because with context takeover even a short message
    /// can shrink to a back-reference into earlier ones, and some clients
    /// handle a mix of compressed and plain messages badly. Raise it (64 is
    /// a good value) when CPU matters more than bytes for tiny messages:
    /// below that size deflate's few bytes of block overhead eat most of
    /// the gain without context takeover.
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
            threshold: 0,
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
        let config = zlib_rs::DeflateConfig {
            level: level.min(9) as i32,
            method: zlib_rs::Method::Deflated,
            // Raw deflate cannot allocate 8; 9 never reaches past 250 bytes.
            // See "Window bits 8" in the module docs.
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            strategy: zlib_rs::Strategy::Default,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn neg(v: &[&str]) -> Option<(DeflateParams, String)> {
        negotiate(&offers(v), &DeflateConfig::default())
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    fn inflate_msg(inf: &mut Inflater, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::new();
        inf.inflate(payload, &mut out, usize::MAX)?;
        inf.finish(&mut out, usize::MAX)?;
        Ok(out)
    }

    fn compress(d: &mut Deflater, payload: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        d.compress(payload, &mut b);
        b.to_vec()
    }

    // ---- RFC 7692 §7.2.3 vectors ----

    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

    #[test]
    fn rfc_7_2_3_1_hello_deflater_and_frame() {
        for level in [3, 6, 9] {
            let mut d = Deflater::new(DeflateParams::default(), level, 8);
            assert_eq!(compress(&mut d, b"Hello"), HELLO, "level {level}");
        }
        let mut d = Deflater::new(DeflateParams::default(), 6, 8);
        let mut frame = BytesMut::new();
        d.encode_message(&mut frame, OpCode::Text, b"Hello");
        assert_eq!(
            &frame[..],
            &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }

    #[test]
    fn rfc_7_2_3_1_hello_inflater_whole_and_fragmented() {
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
        // The fragmented example: 0xf2 0x48 0xcd | 0xc9 0xc9 0x07 0x00.
        let mut inf = Inflater::new(DeflateParams::default());
        let mut out = Vec::new();
        inf.inflate(&HELLO[..3], &mut out, 100).unwrap();
        inf.inflate(&HELLO[3..], &mut out, 100).unwrap();
        inf.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc_7_2_3_2_shared_window() {
        let mut d = Deflater::new(DeflateParams::default(), 6, 8);
        assert_eq!(compress(&mut d, b"Hello"), HELLO);
        assert_eq!(compress(&mut d, b"Hello"), HELLO_AGAIN);
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut inf, &HELLO_AGAIN).unwrap(), b"Hello");
        // Without context takeover each message stands alone.
        let mut d = Deflater::new(params(true, false, 15, 15), 6, 8);
        assert_eq!(compress(&mut d, b"Hello"), HELLO);
        assert_eq!(compress(&mut d, b"Hello"), HELLO);
        // And an inflater that resets cannot resolve the back-reference.
        let mut inf = Inflater::new(params(false, true, 15, 15));
        assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
        assert_eq!(
            inflate_msg(&mut inf, &HELLO_AGAIN),
            Err(ProtocolError::InvalidCompressedData)
        );
    }

    #[test]
    fn rfc_7_2_3_3_no_compression_block() {
        let p = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
        // Level 0 produces stored blocks: the same bytes.
        let mut d = Deflater::new(DeflateParams::default(), 0, 8);
        assert_eq!(compress(&mut d, b"Hello"), p);
    }

    #[test]
    fn rfc_7_2_3_4_bfinal_then_more_messages() {
        let p = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
        // The stream restarted primed with "Hello": the next messages decode,
        // including one that refers back to it.
        assert_eq!(inflate_msg(&mut inf, &HELLO_AGAIN).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
        assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7_2_3_5_two_blocks() {
        let p = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
    }

    #[test]
    fn empty_message_both_ways() {
        let mut d = Deflater::new(DeflateParams::default(), 6, 8);
        let mut inf = Inflater::new(DeflateParams::default());
        for msg in [&b""[..], b"Hello", b"", b"", b"Hello"] {
            let c = compress(&mut d, msg);
            if msg.is_empty() {
                assert_eq!(c, [0x00]);
            }
            assert_eq!(inflate_msg(&mut inf, &c).unwrap(), msg);
        }
    }

    #[test]
    fn corrupt_data_is_1007() {
        let mut inf = Inflater::new(DeflateParams::default());
        // BTYPE=11 is reserved.
        let e = inflate_msg(&mut inf, &[0xff, 0x00]).unwrap_err();
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidCompressedData, 1007)
        );
        // A stored block whose NLEN is not ~LEN.
        let mut inf = Inflater::new(DeflateParams::default());
        assert_eq!(
            inflate_msg(&mut inf, &[0x00, 0x05, 0x00, 0x00, 0x00, b'H']),
            Err(ProtocolError::InvalidCompressedData)
        );
    }

    // ---- output limit ----

    #[test]
    fn limit_is_exact_and_inclusive() {
        let data = vec![b'a'; 10_000];
        let mut d = Deflater::new(DeflateParams::default(), 6, 8);
        let c = compress(&mut d, &data);
        assert!(c.len() < 100);
        // Exactly the limit: fine.
        let mut inf = Inflater::new(DeflateParams::default());
        let mut out = Vec::new();
        inf.inflate(&c, &mut out, 10_000).unwrap();
        inf.finish(&mut out, 10_000).unwrap();
        assert_eq!(out, data);
        assert!(out.capacity() <= 10_000, "capacity {}", out.capacity());
        // One byte less: 1009 with at most the limit produced or reserved.
        let mut inf = Inflater::new(DeflateParams::default());
        let mut out = Vec::new();
        let e = inf
            .inflate(&c, &mut out, 9_999)
            .and_then(|()| inf.finish(&mut out, 9_999))
            .unwrap_err();
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::MessageTooLarge, 1009)
        );
        assert_eq!(out.len(), 9_999);
        assert!(out.capacity() <= 9_999, "capacity {}", out.capacity());
    }

    #[test]
    fn limit_counts_from_message_start_in_dst() {
        // dst may already hold bytes; the limit is on what this message adds.
        let mut inf = Inflater::new(DeflateParams::default());
        let mut out = b"prefix".to_vec();
        inf.inflate(&HELLO, &mut out, 5).unwrap();
        inf.finish(&mut out, 5).unwrap();
        assert_eq!(out, b"prefixHello");
        let mut inf = Inflater::new(DeflateParams::default());
        let mut out = b"prefix".to_vec();
        let r = inf
            .inflate(&HELLO, &mut out, 4)
            .and_then(|()| inf.finish(&mut out, 4));
        assert_eq!(r, Err(ProtocolError::MessageTooLarge));
        assert_eq!(out, b"prefixHell");
    }

    // ---- window bits 8 ----

    /// A tiny RFC 1951 decoder (test only) that reports the longest
    /// back-reference distance used. zlib-rs cannot serve as a strict
    /// 256-byte-window inflater: it always keeps a 32 KiB window.
    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }

    impl Bits<'_> {
        fn bit(&mut self) -> Option<u32> {
            let b = self.data.get(self.pos / 8)?;
            let v = (b >> (self.pos % 8)) & 1;
            self.pos += 1;
            Some(u32::from(v))
        }
        fn bits(&mut self, n: u32) -> Option<u32> {
            (0..n).try_fold(0, |acc, i| Some(acc | (self.bit()? << i)))
        }
    }

    /// Canonical Huffman code from code lengths: (count per length, symbols).
    fn huffman(lengths: &[u8]) -> (Vec<u16>, Vec<u16>) {
        let mut count = vec![0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut offs = [0u16; 16];
        for l in 1..15 {
            offs[l + 1] = offs[l] + count[l];
        }
        let mut syms = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                syms[offs[l as usize] as usize] = sym as u16;
                offs[l as usize] += 1;
            }
        }
        (count, syms)
    }

    fn decode_sym(b: &mut Bits, (count, syms): &(Vec<u16>, Vec<u16>)) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for &c in &count[1..16] {
            code |= b.bit()? as i32;
            let c = i32::from(c);
            if code - c < first {
                return Some(syms[(index + code - first) as usize]);
            }
            index += c;
            first = (first + c) << 1;
            code <<= 1;
        }
        None
    }

    /// Decode a raw deflate stream; `(output, longest distance)`, `None` if
    /// malformed or a distance reaches before the start of the output.
    fn decode_max_distance(data: &[u8]) -> Option<(Vec<u8>, usize)> {
        const LBASE: [u16; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LEXT: [u8; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        const DBASE: [u16; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let mut b = Bits { data, pos: 0 };
        let (mut out, mut max_dist) = (Vec::new(), 0usize);
        // Blocks until fewer than a block header's bits remain.
        while b.pos + 3 <= data.len() * 8 && b.pos / 8 < data.len() {
            let _final = b.bit()?;
            match b.bits(2)? {
                0 => {
                    b.pos = b.pos.div_ceil(8) * 8;
                    let len = b.bits(16)? as usize;
                    let nlen = b.bits(16)? as usize;
                    if len != !nlen & 0xffff {
                        return None;
                    }
                    let start = b.pos / 8;
                    out.extend_from_slice(data.get(start..start + len)?);
                    b.pos += len * 8;
                }
                t @ (1 | 2) => {
                    let (lit, dist) = if t == 1 {
                        let mut l = [8u8; 288];
                        l[144..256].fill(9);
                        l[256..280].fill(7);
                        (huffman(&l), huffman(&[5u8; 30]))
                    } else {
                        let nlen = b.bits(5)? as usize + 257;
                        let ndist = b.bits(5)? as usize + 1;
                        let ncode = b.bits(4)? as usize + 4;
                        const ORDER: [usize; 19] = [
                            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                        ];
                        let mut cl = [0u8; 19];
                        for &i in &ORDER[..ncode] {
                            cl[i] = b.bits(3)? as u8;
                        }
                        let clh = huffman(&cl);
                        let mut lens = Vec::new();
                        while lens.len() < nlen + ndist {
                            match decode_sym(&mut b, &clh)? {
                                s @ 0..=15 => lens.push(s as u8),
                                16 => {
                                    let prev = *lens.last()?;
                                    let n = 3 + b.bits(2)?;
                                    lens.extend((0..n).map(|_| prev));
                                }
                                17 => lens.extend((0..3 + b.bits(3)?).map(|_| 0)),
                                _ => lens.extend((0..11 + b.bits(7)?).map(|_| 0)),
                            }
                        }
                        (huffman(&lens[..nlen]), huffman(&lens[nlen..]))
                    };
                    loop {
                        let sym = decode_sym(&mut b, &lit)? as usize;
                        if sym < 256 {
                            out.push(sym as u8);
                        } else if sym == 256 {
                            break;
                        } else {
                            let i = sym - 257;
                            let len =
                                *LBASE.get(i)? as usize + b.bits(u32::from(LEXT[i]))? as usize;
                            let d = decode_sym(&mut b, &dist)? as usize;
                            let ext = if d < 4 { 0 } else { (d as u32 - 2) / 2 };
                            let d = *DBASE.get(d)? as usize + b.bits(ext)? as usize;
                            if d > out.len() {
                                return None;
                            }
                            max_dist = max_dist.max(d);
                            for _ in 0..len {
                                out.push(out[out.len() - d]);
                            }
                        }
                    }
                }
                _ => return None,
            }
        }
        Some((out, max_dist))
    }

    /// Compressed messages as one deflate stream, each with its tail back.
    fn stream_of(messages: &[Vec<u8>]) -> Vec<u8> {
        messages
            .iter()
            .flat_map(|m| [&m[..], &TAIL].concat())
            .collect()
    }

    #[test]
    fn window_8_output_stays_within_256_bytes() {
        // Repetition at distance 300: a 10-bit deflater uses it...
        let unit: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        let data = unit.repeat(20);
        let mut wide = Deflater::with_window(10, false, 6, 8);
        let c = compress(&mut wide, &data);
        let (out, max) = decode_max_distance(&stream_of(std::slice::from_ref(&c))).unwrap();
        assert_eq!(out, data, "the checker decodes");
        assert!(max > 256, "the check can fail: {max}");
        // ...one for an agreed 8 does not, yet still finds nearer repeats.
        let mut d = Deflater::new(params(false, false, 8, 15), 6, 8);
        let near = unit[..200].repeat(50);
        let c8 = compress(&mut d, &near);
        assert!(c8.len() < near.len() / 2, "{} bytes", c8.len());
        let (out, max) = decode_max_distance(&stream_of(&[c8])).unwrap();
        assert_eq!(out, near);
        assert!((1..=256).contains(&max), "{max}");
        // Our inflater for an agreed client window of 8 accepts what a
        // quietly-9-bit client would send.
        let mut inf = Inflater::new(params(false, false, 15, 8));
        let mut nine = Deflater::with_window(15, false, 6, 8);
        let c = compress(&mut nine, &near);
        assert_eq!(inflate_msg(&mut inf, &c).unwrap(), near);
    }

    /// The "Window bits 8" guarantee as a regression guard: whatever the
    /// level, memory level or context mode, a deflater for an agreed 8-bit
    /// window never emits a distance over 256, across many messages.
    #[test]
    fn window_8_deflater_never_reaches_past_256_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        let mut overall = 0;
        for round in 0..4 {
            // Literals and copies at distances up to 300, all around the limit.
            let mut data = vec![0u8; 1];
            while data.len() < 12_000 {
                if rnd() % 3 == 0 {
                    data.push(rnd() as u8);
                } else {
                    let dist = 1 + (rnd() % 300).min(data.len() - 1);
                    for _ in 0..3 + rnd() % 100 {
                        data.push(data[data.len() - dist]);
                    }
                }
            }
            for level in [1, 2, 4, 6, 9] {
                for mem_level in [1, 8, 9] {
                    let nct = round % 2 == 1;
                    let mut d = Deflater::new(params(nct, false, 8, 15), level, mem_level);
                    let msgs: Vec<Vec<u8>> =
                        data.chunks(3000).map(|m| compress(&mut d, m)).collect();
                    let what = format!("round {round} level {level} mem {mem_level}");
                    let (out, max) = decode_max_distance(&stream_of(&msgs)).expect(&what);
                    assert_eq!(out, data, "{what}");
                    assert!(max <= 256, "{what}: distance {max}");
                    overall = overall.max(max);
                }
            }
        }
        assert!(
            overall > 200,
            "the data exercised long distances: {overall}"
        );
    }

    // ---- negotiation ----

    #[test]
    fn plain_offer() {
        let (p, r) = neg(&["permessage-deflate"]).unwrap();
        assert_eq!(p, DeflateParams::default());
        assert_eq!(r, "permessage-deflate");
    }

    #[test]
    fn browser_offer() {
        // What Chrome and Firefox send.
        let (p, r) = neg(&["permessage-deflate; client_max_window_bits"]).unwrap();
        assert_eq!(p, DeflateParams::default());
        assert_eq!(r, "permessage-deflate");
        // We may limit the client's window when it offered the parameter.
        let cfg = DeflateConfig {
            client_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let (p, r) = negotiate(
            &offers(&["permessage-deflate; client_max_window_bits"]),
            &cfg,
        )
        .unwrap();
        assert_eq!(p.client_max_window_bits, 10);
        assert_eq!(r, "permessage-deflate; client_max_window_bits=10");
        // ...but not when it did not.
        let (p, r) = negotiate(&offers(&["permessage-deflate"]), &cfg).unwrap();
        assert_eq!(p.client_max_window_bits, 15);
        assert_eq!(r, "permessage-deflate");
    }

    #[test]
    fn all_parameters_with_values() {
        let (p, r) = neg(&["permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"])
        .unwrap();
        assert_eq!(p, params(true, true, 10, 12));
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        // The response, read back as an offer, agrees on the same.
        assert_eq!(neg(&[&r]).unwrap().0, p);
    }

    #[test]
    fn quoted_values_and_case() {
        let (p, _) = neg(&[
            "Permessage-Deflate; Server_Max_Window_Bits=\"10\"; client_max_window_bits = \"9\"",
        ])
        .unwrap();
        assert_eq!(p, params(false, false, 10, 9));
        // A comma inside a quoted value of another extension does not split.
        let (p, _) = neg(&["foo; bar=\"a,permessage-deflate\", permessage-deflate; \
                            server_max_window_bits=11"])
        .unwrap();
        assert_eq!(p.server_max_window_bits, 11);
        // Escapes inside quotes.
        assert_eq!(
            neg(&["permessage-deflate; server_max_window_bits=\"1\\2\""])
                .unwrap()
                .0
                .server_max_window_bits,
            12
        );
    }

    #[test]
    fn first_acceptable_offer_wins() {
        // Several offers in one header, the first unacceptable.
        let (p, r) = neg(&["permessage-deflate; server_max_window_bits=7, \
             permessage-deflate; server_max_window_bits=10, permessage-deflate"])
        .unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(r, "permessage-deflate; server_max_window_bits=10");
        // Several headers, other extensions first.
        let (p, _) = neg(&[
            "x-webkit-deflate-frame",
            "permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ])
        .unwrap();
        assert_eq!(p, params(false, true, 15, 15));
        // Autobahn 13.7.x: [(8, nct), (0, nct), (0, -)]: the first is taken.
        let (p, r) = neg(&[
            "permessage-deflate; client_no_context_takeover; client_max_window_bits; \
             server_max_window_bits=8, permessage-deflate; client_no_context_takeover; \
             client_max_window_bits, permessage-deflate; client_max_window_bits",
        ])
        .unwrap();
        assert_eq!(p, params(false, true, 8, 15));
        assert_eq!(
            r,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=8"
        );
    }

    #[test]
    fn invalid_offers_are_declined() {
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"\"",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=1e1",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=-9",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            "permessage-deflate;",
            "permessage-deflate; =10",
            "permessage-deflate-x",
            "x-webkit-deflate-frame",
            "",
        ] {
            assert_eq!(neg(&[bad]), None, "{bad:?}");
            // Declining one offer never hides a later good one.
            let (p, _) = neg(&[bad, "permessage-deflate; server_max_window_bits=9"])
                .unwrap_or_else(|| panic!("{bad:?} hid the next offer"));
            assert_eq!(p.server_max_window_bits, 9, "{bad:?}");
        }
        assert_eq!(negotiate(&[], &DeflateConfig::default()), None);
    }

    #[test]
    fn window_bits_8_is_accepted() {
        for v in 8..=15u8 {
            let (p, r) =
                neg(&[&format!("permessage-deflate; server_max_window_bits={v}")]).unwrap();
            assert_eq!(p.server_max_window_bits, v);
            let expect = if v < 15 {
                format!("permessage-deflate; server_max_window_bits={v}")
            } else {
                "permessage-deflate".to_owned()
            };
            assert_eq!(r, expect);
            let (p, _) =
                neg(&[&format!("permessage-deflate; client_max_window_bits={v}")]).unwrap();
            assert_eq!(p.client_max_window_bits, v);
        }
    }

    #[test]
    fn config_limits_and_flags() {
        let cfg = DeflateConfig {
            server_max_window_bits: 12,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let (p, r) = negotiate(&offers(&["permessage-deflate"]), &cfg).unwrap();
        assert_eq!(p, params(true, true, 12, 15));
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=12"
        );
        // The smaller of the two limits wins.
        let (p, _) = negotiate(
            &offers(&["permessage-deflate; server_max_window_bits=10"]),
            &cfg,
        )
        .unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        let disabled = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        assert_eq!(negotiate(&offers(&["permessage-deflate"]), &disabled), None);
        assert!(DeflateConfig::default().should_compress(0));
        let at_64 = DeflateConfig {
            threshold: 64,
            ..DeflateConfig::default()
        };
        assert!(!at_64.should_compress(63));
        assert!(at_64.should_compress(64));
    }

    /// Level trade-off on JSON-like messages (run with `--ignored
    /// --nocapture` in release to see the numbers behind the default level).
    #[test]
    #[ignore]
    fn level_trade_off() {
        // ~2 KiB JSON messages: repeated keys, varied values (xorshift).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
        ];
        let msgs: Vec<Vec<u8>> = (0..3000)
            .map(|i| {
                let mut m = format!("{{\"seq\":{i},\"ts\":{},\"items\":[", 1_700_000_000_000u64 + rnd() % 10_000_000);
                while m.len() < 2000 {
                    m.push_str(&format!(
                        "{{\"id\":\"{:x}\",\"name\":\"{} {}\",\"price\":{}.{:02},\"qty\":{},\"active\":{}}},",
                        rnd() % (1 << 40),
                        words[(rnd() % 16) as usize],
                        words[(rnd() % 16) as usize],
                        rnd() % 10_000,
                        rnd() % 100,
                        rnd() % 50,
                        rnd() % 2 == 0
                    ));
                }
                m.pop();
                m.push_str("]}");
                m.into_bytes()
            })
            .collect();
        let raw: usize = msgs.iter().map(Vec::len).sum();
        for level in [1, 2, 3, 4, 5, 6, 9] {
            for pass in 0..2 {
                let mut d = Deflater::new(DeflateParams::default(), level, 8);
                let mut b = BytesMut::with_capacity(4096);
                let t = std::time::Instant::now();
                let mut total = 0;
                for m in &msgs {
                    b.clear();
                    d.compress(m, &mut b);
                    total += b.len();
                }
                let el = t.elapsed();
                if pass == 1 {
                    println!(
                        "level {level}: ratio {:.3}, {:.2} µs/msg",
                        total as f64 / raw as f64,
                        el.as_secs_f64() * 1e6 / msgs.len() as f64
                    );
                }
            }
        }
    }
}
