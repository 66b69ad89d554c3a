//! Frame encoding and the server-role streaming decoder (RFC 6455 §5).
//!
//! # Decoder design
//!
//! The decoder is a state machine over a caller-owned `BytesMut`: the server
//! appends whatever it read from the socket and calls [`Decoder::decode`]
//! until it returns `Ok(None)`. Every byte the decoder has processed is
//! removed from the buffer, so the caller never tracks offsets.
//!
//! * **Validation order.** The first two header bytes carry RSV, opcode, FIN,
//!   MASK and the 7-bit length, so most protocol errors are reported as soon
//!   as those two bytes arrive. Size limits are checked on the *declared*
//!   length, before anything is allocated or the payload is waited for.
//! * **Fast path.** When a whole unfragmented data frame is already in the
//!   buffer, its payload is unmasked in place and `split_to` hands it out as
//!   the event's `Bytes`: no copy.
//! * **Incremental path.** Otherwise the payload is consumed as it arrives:
//!   each available piece is appended to the message buffer, unmasked with the
//!   running payload offset, and (for text) fed to the streaming UTF-8
//!   validator. An invalid byte therefore fails the connection with 1007 in
//!   the same `decode` call in which it arrives (Autobahn 6.4.3/6.4.4 strict),
//!   and across fragments too. The message buffer only grows by bytes that
//!   have arrived, so a peer cannot make us allocate by declaring a length.
//! * **Control frames** (≤125 bytes) are decoded only once complete; they may
//!   be interleaved between the fragments of a data message.
//! * **Errors are sticky**: after an error, `decode` keeps returning it; the
//!   connection must be failed with `error.close_code()`.
//!
//! # Extensions (RSV1): permessage-deflate
//!
//! RSV bits are protocol errors unless an [`Inflater`] was installed with
//! [`Decoder::set_deflate`] (the handshake agreed on permessage-deflate,
//! RFC 7692). Then RSV1 is accepted on the *first* frame of a text or binary
//! message only (§6: never on continuation or control frames; 1002
//! otherwise), and that message is inflated piece by piece as its payload
//! arrives, straight out of the caller's buffer. The size limit
//! (`max_message_size`) and fail-fast UTF-8 validation therefore apply to
//! the decompressed bytes, and a compression bomb fails with 1009 having
//! buffered at most the limit (see [`crate::deflate`]). `max_frame_size`
//! still bounds each frame's declared (compressed) length; the compressed
//! bytes of a message are never buffered, so they need no other limit.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

/// Frame opcodes defined by RFC 6455 §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for a reserved one.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, Ping and Pong.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A received close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// One complete message or control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message; guaranteed valid UTF-8.
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// `None` for a close frame with an empty payload.
    Close(Option<CloseFrame>),
}

/// Size limits of the decoder.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// Largest declared payload length of a single frame.
    pub max_frame_size: usize,
    /// Largest total payload of a (possibly fragmented) message.
    pub max_message_size: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
        }
    }
}

/// The longest possible frame header: 2 + 8 (length) + 4 (mask).
pub const fn max_header_len() -> usize {
    14
}

/// Initial capacity cap of a message buffer on the incremental path.
const INITIAL_MESSAGE_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    mask: [u8; 4],
    len: u64,
    header_len: usize,
}

/// The data frame whose payload is being consumed.
#[derive(Debug)]
struct FrameProgress {
    fin: bool,
    mask: [u8; 4],
    len: usize,
    done: usize,
}

/// The data message being assembled.
#[derive(Debug)]
struct Message {
    text: bool,
    /// The payload of an uncompressed message.
    data: BytesMut,
    /// The inflated payload of a compressed (RSV1) message. A `Vec` so the
    /// inflater can grow it with `reserve_exact`, never past the limit.
    inflated: Option<Vec<u8>>,
    utf8: Option<Utf8Validator>,
}

impl Message {
    fn len(&self) -> usize {
        self.inflated.as_ref().map_or(self.data.len(), Vec::len)
    }

    fn capacity(&self) -> usize {
        self.data.capacity() + self.inflated.as_ref().map_or(0, Vec::capacity)
    }
}

/// Streaming server-role frame decoder; see the module docs.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    frame: Option<FrameProgress>,
    message: Option<Message>,
    error: Option<ProtocolError>,
    inflater: Option<Inflater>,
}

/// Parse a header from the start of `buf`. `Ok(None)`: need more bytes.
/// Checks that need only the first two bytes are done before waiting.
/// `rsv1_ok`: an extension owns RSV1 (it is still refused on control and
/// continuation frames).
fn parse_header(buf: &[u8], rsv1_ok: bool) -> Result<Option<Header>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && !rsv1_ok) {
        return Err(ProtocolError::ReservedBits);
    }
    let raw_op = b0 & 0x0f;
    let opcode = OpCode::from_u8(raw_op).ok_or(ProtocolError::UnknownOpcode(raw_op))?;
    if rsv1 && !matches!(opcode, OpCode::Text | OpCode::Binary) {
        // RFC 7692 §6.1: only the first frame of a data message.
        return Err(ProtocolError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::UnmaskedFrame);
    }
    let len7 = b1 & 0x7f;
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        if len7 > 125 {
            return Err(ProtocolError::ControlFrameTooLong);
        }
    }
    let (len, ext) = match len7 {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 2)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(b);
            if len >> 63 != 0 {
                return Err(ProtocolError::InvalidLength);
            }
            (len, 8)
        }
        n => (u64::from(n), 0),
    };
    let header_len = 2 + ext + 4;
    if buf.len() < header_len {
        return Ok(None);
    }
    let mut mask = [0u8; 4];
    mask.copy_from_slice(&buf[2 + ext..header_len]);
    Ok(Some(Header {
        fin,
        rsv1,
        opcode,
        mask,
        len,
        header_len,
    }))
}

fn control_event(opcode: OpCode, payload: Bytes) -> Result<Event, ProtocolError> {
    Ok(match opcode {
        OpCode::Ping => Event::Ping(payload),
        OpCode::Pong => Event::Pong(payload),
        _ => Event::Close(parse_close_payload(&payload)?),
    })
}

fn parse_close_payload(p: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match p.len() {
        0 => Ok(None),
        1 => Err(ProtocolError::InvalidClosePayload),
        _ => {
            let code = u16::from_be_bytes([p[0], p[1]]);
            if !crate::close::is_valid_close_code(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = simdutf8::basic::from_utf8(&p[2..])
                .map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DecoderConfig::default())
    }
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Self {
        Decoder {
            config,
            frame: None,
            message: None,
            error: None,
            inflater: None,
        }
    }

    /// A decoder that accepts permessage-deflate messages (see
    /// [`Decoder::set_deflate`]).
    pub fn with_deflate(config: DecoderConfig, inflater: Inflater) -> Self {
        let mut d = Decoder::new(config);
        d.inflater = Some(inflater);
        d
    }

    /// Install (or remove, with `None`) the inflater of an agreed
    /// permessage-deflate extension. With one, RSV1 marks a compressed
    /// message on its first frame; without one, RSV1 is a protocol error.
    /// Call it between messages (right after the handshake): a message in
    /// progress keeps the mode it started with only if the inflater stays.
    pub fn set_deflate(&mut self, inflater: Option<Inflater>) {
        self.inflater = inflater;
    }

    /// Whether permessage-deflate is active.
    pub fn deflate_enabled(&self) -> bool {
        self.inflater.is_some()
    }

    /// Heap bytes currently held for the message in progress (capacity of
    /// its buffers; 0 between messages). For compressed messages this never
    /// exceeds `max_message_size`, however much a peer's data would inflate.
    pub fn buffered_capacity(&self) -> usize {
        self.message.as_ref().map_or(0, Message::capacity)
    }

    /// The limits this decoder enforces.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Whether a data message has started but not yet completed.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Decode from `buf`, consuming (advancing past) every byte it has
    /// processed. Returns `Ok(Some(event))` for each complete message or
    /// control frame, `Ok(None)` when it needs more bytes. Call repeatedly
    /// until `None`. After an error every later call returns the same error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.decode_inner(buf);
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.frame = None;
            self.message = None;
        }
        result
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            if self.frame.is_none() {
                let Some(h) = parse_header(buf, self.inflater.is_some())? else {
                    return Ok(None);
                };
                if h.opcode.is_control() {
                    // len <= 125 was checked by parse_header.
                    let len = h.len as usize;
                    if buf.len() < h.header_len + len {
                        return Ok(None);
                    }
                    buf.advance(h.header_len);
                    let mut payload = buf.split_to(len);
                    apply_mask(&mut payload, h.mask, 0);
                    return control_event(h.opcode, payload.freeze()).map(Some);
                }
                match (h.opcode, self.message.is_some()) {
                    (OpCode::Continuation, false) => {
                        return Err(ProtocolError::UnexpectedContinuation)
                    }
                    (OpCode::Text | OpCode::Binary, true) => {
                        return Err(ProtocolError::ExpectedContinuation)
                    }
                    _ => {}
                }
                if h.len > self.config.max_frame_size as u64 {
                    return Err(ProtocolError::FrameTooLarge);
                }
                let compressed =
                    h.rsv1 || self.message.as_ref().is_some_and(|m| m.inflated.is_some());
                // A compressed message is limited on its inflated size, as it is produced.
                let so_far = self.message.as_ref().map_or(0, Message::len) as u64;
                if !compressed && so_far + h.len > self.config.max_message_size as u64 {
                    return Err(ProtocolError::MessageTooLarge);
                }
                let len = h.len as usize;
                if !compressed && self.message.is_none() && h.fin && buf.len() >= h.header_len + len
                {
                    // Fast path: whole unfragmented frame present.
                    buf.advance(h.header_len);
                    let mut payload = buf.split_to(len);
                    apply_mask(&mut payload, h.mask, 0);
                    return if h.opcode == OpCode::Text {
                        simdutf8::basic::from_utf8(&payload)
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                        Ok(Some(Event::Text(payload.freeze())))
                    } else {
                        Ok(Some(Event::Binary(payload.freeze())))
                    };
                }
                buf.advance(h.header_len);
                if self.message.is_none() {
                    let text = h.opcode == OpCode::Text;
                    // Reserve only what has arrived (bounded), never the declared length.
                    let (data, inflated) = if compressed {
                        (BytesMut::new(), Some(Vec::new()))
                    } else {
                        let cap = len.min(buf.len()).min(INITIAL_MESSAGE_CAPACITY);
                        (BytesMut::with_capacity(cap), None)
                    };
                    self.message = Some(Message {
                        text,
                        data,
                        inflated,
                        utf8: text.then(Utf8Validator::new),
                    });
                }
                self.frame = Some(FrameProgress {
                    fin: h.fin,
                    mask: h.mask,
                    len,
                    done: 0,
                });
            }

            // Consume as much of the current data frame's payload as has arrived.
            let (Some(frame), Some(msg)) = (self.frame.as_mut(), self.message.as_mut()) else {
                unreachable!("a data frame in progress always has a message");
            };
            let n = (frame.len - frame.done).min(buf.len());
            let limit = self.config.max_message_size;
            if let Some(out) = msg.inflated.as_mut() {
                let Some(inflater) = self.inflater.as_mut() else {
                    // set_deflate(None) in the middle of a compressed message.
                    return Err(ProtocolError::ReservedBits);
                };
                let start = out.len();
                if n > 0 {
                    // Unmask in the caller's buffer (these bytes are consumed
                    // anyway) and inflate straight from it.
                    apply_mask(&mut buf[..n], frame.mask, frame.done);
                    let fed = inflater.inflate(&buf[..n], out, limit);
                    buf.advance(n);
                    frame.done += n;
                    fed?;
                }
                if frame.done == frame.len && frame.fin {
                    inflater.finish(out, limit)?;
                }
                if let Some(v) = msg.utf8.as_mut() {
                    v.feed(&out[start..])?;
                }
            } else if n > 0 {
                let start = msg.data.len();
                msg.data.extend_from_slice(&buf[..n]);
                buf.advance(n);
                let piece = &mut msg.data[start..];
                apply_mask(piece, frame.mask, frame.done);
                if let Some(v) = msg.utf8.as_mut() {
                    v.feed(piece)?;
                }
                frame.done += n;
            }
            if frame.done < frame.len {
                return Ok(None);
            }
            let fin = frame.fin;
            self.frame = None;
            if fin {
                let Some(mut msg) = self.message.take() else {
                    unreachable!()
                };
                if let Some(v) = msg.utf8.as_mut() {
                    v.finish()?;
                }
                let data = match msg.inflated.take() {
                    Some(out) => Bytes::from(out),
                    None => msg.data.freeze(),
                };
                return Ok(Some(if msg.text {
                    Event::Text(data)
                } else {
                    Event::Binary(data)
                }));
            }
        }
    }
}

/// A frame header: the bytes and how many of them are used (2..=14).
pub(crate) fn header_bytes(
    opcode: OpCode,
    len: usize,
    fin: bool,
    rsv1: bool,
    mask: Option<[u8; 4]>,
) -> ([u8; 14], usize) {
    let mut h = [0u8; 14];
    h[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode as u8;
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        h[1] = m | len as u8;
        2
    } else if len <= u16::MAX as usize {
        h[1] = m | 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = m | 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(mask) = mask {
        h[n..n + 4].copy_from_slice(&mask);
        n += 4;
    }
    (h, n)
}

fn put_header(dst: &mut BytesMut, opcode: OpCode, len: usize, fin: bool, masked: bool) {
    let (h, n) = header_bytes(opcode, len, fin, false, masked.then_some([0; 4]));
    // The mask itself is written by the caller.
    dst.put_slice(&h[..if masked { n - 4 } else { n }]);
}

/// Server frame (unmasked) with RSV1 as given: RSV1 marks the first frame of
/// a permessage-deflate message whose `payload` is already compressed (see
/// [`crate::Deflater`]). Continuation frames of that message have RSV1 clear.
pub fn encode_frame_rsv1(
    dst: &mut BytesMut,
    opcode: OpCode,
    payload: &[u8],
    fin: bool,
    rsv1: bool,
) {
    let (h, n) = header_bytes(opcode, payload.len(), fin, rsv1, None);
    dst.reserve(n + payload.len());
    dst.put_slice(&h[..n]);
    dst.extend_from_slice(payload);
}

/// Client frame (masked with `mask`) with RSV1 as given (tests, load tools).
pub fn encode_frame_masked_rsv1(
    dst: &mut BytesMut,
    opcode: OpCode,
    payload: &[u8],
    fin: bool,
    rsv1: bool,
    mask: [u8; 4],
) {
    let (h, n) = header_bytes(opcode, payload.len(), fin, rsv1, Some(mask));
    dst.reserve(n + payload.len());
    dst.put_slice(&h[..n]);
    let start = dst.len();
    dst.extend_from_slice(payload);
    apply_mask(&mut dst[start..], mask, 0);
}

/// Server frames: unmasked. Appends header+payload to `dst`.
pub fn encode_frame(dst: &mut BytesMut, opcode: OpCode, payload: &[u8], fin: bool) {
    dst.reserve(max_header_len() + payload.len());
    put_header(dst, opcode, payload.len(), fin, false);
    dst.extend_from_slice(payload);
}

/// Client frames (tests, fuzzing, load tools): masked with `mask`.
pub fn encode_frame_masked(
    dst: &mut BytesMut,
    opcode: OpCode,
    payload: &[u8],
    fin: bool,
    mask: [u8; 4],
) {
    dst.reserve(max_header_len() + payload.len());
    put_header(dst, opcode, payload.len(), fin, true);
    dst.extend_from_slice(&mask);
    let start = dst.len();
    dst.extend_from_slice(payload);
    apply_mask(&mut dst[start..], mask, 0);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Close frame (unmasked, server role) with an optional code and reason.
/// With `code == None` the payload is empty and `reason` is ignored (§5.5.1:
/// a reason requires a code). The reason is truncated on a char boundary so
/// the payload stays within 125 bytes.
pub fn encode_close(dst: &mut BytesMut, code: Option<u16>, reason: &str) {
    let mut payload = [0u8; 125];
    let len = match code {
        None => 0,
        Some(code) => {
            let reason = truncate_utf8(reason, 123);
            payload[..2].copy_from_slice(&code.to_be_bytes());
            payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
            2 + reason.len()
        }
    };
    encode_frame(dst, OpCode::Close, &payload[..len], true);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn decode_all(bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(e) = d.decode(&mut buf)? {
            out.push(e);
        }
        Ok(out)
    }

    fn err_of(bytes: &[u8]) -> ProtocolError {
        decode_all(bytes).expect_err("must fail")
    }

    fn masked(op: OpCode, payload: &[u8], fin: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_frame_masked(&mut b, op, payload, fin, MASK);
        b.to_vec()
    }

    // ---- RFC 6455 §5.7 examples ----

    #[test]
    fn rfc_unmasked_hello_encoder() {
        let mut b = BytesMut::new();
        encode_frame(&mut b, OpCode::Text, b"Hello", true);
        assert_eq!(&b[..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn rfc_masked_hello_decoder_and_encoder() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(masked(OpCode::Text, b"Hello", true), wire);
        assert_eq!(
            decode_all(&wire).unwrap(),
            vec![Event::Text(Bytes::from_static(b"Hello"))]
        );
    }

    #[test]
    fn rfc_fragmented_hello() {
        let mut b = BytesMut::new();
        encode_frame(&mut b, OpCode::Text, b"Hel", false);
        encode_frame(&mut b, OpCode::Continuation, b"lo", true);
        assert_eq!(
            &b[..],
            &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
        );
        let mut wire = masked(OpCode::Text, b"Hel", false);
        wire.extend(masked(OpCode::Continuation, b"lo", true));
        assert_eq!(
            decode_all(&wire).unwrap(),
            vec![Event::Text(Bytes::from_static(b"Hello"))]
        );
    }

    #[test]
    fn rfc_ping_pong() {
        let mut b = BytesMut::new();
        encode_frame(&mut b, OpCode::Ping, b"Hello", true);
        assert_eq!(&b[..], &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // Masked pong from the RFC.
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            decode_all(&pong).unwrap(),
            vec![Event::Pong(Bytes::from_static(b"Hello"))]
        );
        assert_eq!(
            decode_all(&masked(OpCode::Ping, b"Hello", true)).unwrap(),
            vec![Event::Ping(Bytes::from_static(b"Hello"))]
        );
    }

    #[test]
    fn rfc_256_and_64k_binary_lengths() {
        let mut b = BytesMut::new();
        encode_frame(&mut b, OpCode::Binary, &[0u8; 256], true);
        assert_eq!(&b[..4], &[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(b.len(), 4 + 256);
        let mut b = BytesMut::new();
        encode_frame(&mut b, OpCode::Binary, &vec![0u8; 65536], true);
        assert_eq!(
            &b[..10],
            &[0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(b.len(), 10 + 65536);
        // And they decode back when masked.
        for n in [125usize, 126, 256, 65535, 65536] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert_eq!(
                decode_all(&masked(OpCode::Binary, &data, true)).unwrap(),
                vec![Event::Binary(Bytes::from(data))],
                "len {n}"
            );
        }
    }

    // ---- every error variant from crafted bytes ----

    #[test]
    fn error_unmasked() {
        let e = err_of(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::UnmaskedFrame, 1002)
        );
    }

    #[test]
    fn error_reserved_bits_each() {
        for rsv in [0x40u8, 0x20, 0x10] {
            let e = err_of(&[0x81 | rsv, 0x80, 0, 0, 0, 0]);
            assert_eq!(
                (e.clone(), e.close_code()),
                (ProtocolError::ReservedBits, 1002)
            );
        }
    }

    #[test]
    fn error_unknown_opcodes() {
        for op in (3u8..=7).chain(11..=15) {
            let e = err_of(&[0x80 | op, 0x80, 0, 0, 0, 0]);
            assert_eq!(e, ProtocolError::UnknownOpcode(op));
            assert_eq!(e.close_code(), 1002);
        }
    }

    #[test]
    fn error_fragmented_control() {
        let e = err_of(&masked(OpCode::Ping, b"x", false));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::FragmentedControlFrame, 1002)
        );
    }

    #[test]
    fn error_control_too_long() {
        let e = err_of(&masked(OpCode::Ping, &[0u8; 126], true));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::ControlFrameTooLong, 1002)
        );
        // 125 is fine.
        assert_eq!(
            decode_all(&masked(OpCode::Ping, &[7u8; 125], true))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn error_unexpected_continuation() {
        let e = err_of(&masked(OpCode::Continuation, b"x", true));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::UnexpectedContinuation, 1002)
        );
    }

    #[test]
    fn error_expected_continuation() {
        let mut w = masked(OpCode::Text, b"a", false);
        w.extend(masked(OpCode::Binary, b"b", true));
        let e = err_of(&w);
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::ExpectedContinuation, 1002)
        );
    }

    #[test]
    fn error_invalid_length_top_bit() {
        let e = err_of(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidLength, 1002)
        );
    }

    #[test]
    fn error_frame_too_large_before_payload() {
        let mut d = Decoder::new(DecoderConfig {
            max_frame_size: 100,
            max_message_size: 1000,
        });
        // Header only, declaring 101 bytes: fails without any payload.
        let mut buf = BytesMut::from(&[0x82u8, 0x80 | 101, 1, 2, 3, 4][..]);
        let e = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::FrameTooLarge, 1009)
        );
        // Declaring 2^62 bytes must not allocate or panic either.
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&[0x82u8, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4][..]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::FrameTooLarge));
    }

    #[test]
    fn error_message_too_large_across_fragments() {
        let mut d = Decoder::new(DecoderConfig {
            max_frame_size: 100,
            max_message_size: 150,
        });
        let mut buf = BytesMut::new();
        encode_frame_masked(&mut buf, OpCode::Binary, &[1; 100], false, MASK);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(d.in_message());
        // Next fragment's header declares 51: 151 > 150, rejected on the header.
        buf.extend_from_slice(&[0x80, 0x80 | 51, 1, 2, 3, 4]);
        let e = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::MessageTooLarge, 1009)
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let mut d = Decoder::new(DecoderConfig {
            max_frame_size: 100,
            max_message_size: 150,
        });
        let mut buf = BytesMut::new();
        encode_frame_masked(&mut buf, OpCode::Binary, &[1; 100], false, MASK);
        encode_frame_masked(&mut buf, OpCode::Continuation, &[2; 50], true, MASK);
        match d.decode(&mut buf).unwrap() {
            Some(Event::Binary(b)) => assert_eq!(b.len(), 150),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_invalid_utf8_fast_path_and_close_code() {
        let e = err_of(&masked(OpCode::Text, &[b'a', 0xff], true));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidUtf8, 1007)
        );
        // Truncated code point at the end of the message.
        let mut w = masked(OpCode::Text, &[b'a', 0xe2], false);
        w.extend(masked(OpCode::Continuation, &[0x82], true));
        assert_eq!(err_of(&w), ProtocolError::InvalidUtf8);
    }

    #[test]
    fn error_close_payloads() {
        let e = err_of(&masked(OpCode::Close, &[0x03], true));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidClosePayload, 1002)
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let e = err_of(&masked(OpCode::Close, &code.to_be_bytes(), true));
            assert_eq!(
                (e.clone(), e.close_code()),
                (ProtocolError::InvalidCloseCode(code), 1002)
            );
        }
        let e = err_of(&masked(
            OpCode::Close,
            &[0x03, 0xe8, 0xce, 0xba, 0xff],
            true,
        ));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidCloseReason, 1007)
        );
    }

    #[test]
    fn close_payloads_ok() {
        assert_eq!(
            decode_all(&masked(OpCode::Close, b"", true)).unwrap(),
            vec![Event::Close(None)]
        );
        let mut p = 4000u16.to_be_bytes().to_vec();
        p.extend("bye κ".as_bytes());
        assert_eq!(
            decode_all(&masked(OpCode::Close, &p, true)).unwrap(),
            vec![Event::Close(Some(CloseFrame {
                code: 4000,
                reason: "bye κ".into()
            }))]
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&[0x83u8, 0x80, 0, 0, 0, 0][..]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::UnknownOpcode(3)));
        let mut good = BytesMut::from(&masked(OpCode::Text, b"ok", true)[..]);
        assert_eq!(d.decode(&mut good), Err(ProtocolError::UnknownOpcode(3)));
    }

    // ---- streaming behaviour ----

    #[test]
    fn header_errors_reported_after_two_bytes() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&[0x09u8][..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0x80]); // ping without FIN, rest of header missing
        assert_eq!(
            d.decode(&mut buf),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }

    #[test]
    fn text_fails_fast_mid_frame() {
        // Autobahn 6.4.3 shape: one text frame, payload in three chunks, the
        // invalid byte in the middle chunk. Must fail when it arrives.
        let payload: Vec<u8> = [
            &b"\xce\xba\xe1\xbd\xb9\xcf\x83"[..],
            &b"\xf4\x90\x80\x80"[..],
            b"edited",
        ]
        .concat();
        let wire = masked(OpCode::Text, &payload, true);
        let hdr = 6;
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&wire[..hdr + 7]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty(), "available payload must be consumed");
        buf.extend_from_slice(&wire[hdr + 7..hdr + 11]);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn text_fails_fast_across_fragments() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&masked(OpCode::Text, b"ok", false)[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        let mut next = masked(OpCode::Continuation, &[b'x', 0xc0, b'y'], false);
        next.truncate(6 + 2); // only 'x' and the invalid 0xc0 have arrived
        buf.extend_from_slice(&next);
        assert_eq!(d.decode(&mut buf), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn control_interleaved_between_fragments() {
        let mut w = masked(OpCode::Text, b"He", false);
        w.extend(masked(OpCode::Ping, b"p", true));
        w.extend(masked(OpCode::Continuation, b"l", false));
        w.extend(masked(OpCode::Pong, b"", true));
        w.extend(masked(OpCode::Continuation, b"lo", true));
        w.extend(masked(OpCode::Binary, b"", true));
        assert_eq!(
            decode_all(&w).unwrap(),
            vec![
                Event::Ping(Bytes::from_static(b"p")),
                Event::Pong(Bytes::new()),
                Event::Text(Bytes::from_static(b"Hello")),
                Event::Binary(Bytes::new()),
            ]
        );
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let mut w = masked(OpCode::Binary, &[9u8; 300], true);
        w.extend(masked(OpCode::Text, "€uro".as_bytes(), false));
        w.extend(masked(OpCode::Close, &[0x03, 0xe8], true));
        w.extend(masked(OpCode::Continuation, b"!", true));
        let whole = decode_all(&w).unwrap();
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &w {
            buf.extend_from_slice(&[b]);
            while let Some(e) = d.decode(&mut buf).unwrap() {
                got.push(e);
            }
        }
        assert_eq!(got, whole);
        assert_eq!(whole.len(), 3);
        assert!(buf.is_empty());
    }

    #[test]
    fn fast_path_leaves_following_bytes() {
        let mut w = masked(OpCode::Binary, b"one", true);
        w.extend_from_slice(&[0x82]); // start of the next frame
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&w[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Some(Event::Binary(Bytes::from_static(b"one")))
        );
        assert_eq!(&buf[..], &[0x82]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], &[0x82], "an incomplete header is not consumed");
    }

    #[test]
    fn incremental_reserve_is_bounded_by_arrival() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        // Declares 16 MiB but only 10 bytes arrive.
        buf.extend_from_slice(&[0x02, 0xFF, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]);
        buf.extend_from_slice(&[0u8; 10]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        let cap = d.message.as_ref().unwrap().data.capacity();
        assert!(cap < 4096, "capacity {cap}");
    }

    // ---- encoder ----

    #[test]
    fn encode_close_variants() {
        let mut b = BytesMut::new();
        encode_close(&mut b, None, "ignored");
        assert_eq!(&b[..], &[0x88, 0x00]);
        let mut b = BytesMut::new();
        encode_close(&mut b, Some(1000), "bye");
        assert_eq!(&b[..], &[0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
        // 122 ASCII + a 2-byte char straddling the 123-byte limit: char dropped.
        let reason = format!("{}é", "a".repeat(122));
        let mut b = BytesMut::new();
        encode_close(&mut b, Some(1001), &reason);
        assert_eq!(b[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&b[4..]).is_ok());
        let long = "é".repeat(200);
        let mut b = BytesMut::new();
        encode_close(&mut b, Some(1001), &long);
        assert!(b[1] <= 125);
        assert_eq!(b[1] as usize, 2 + 122);
    }

    #[test]
    fn max_header_len_is_upper_bound() {
        let mut b = BytesMut::new();
        encode_frame_masked(&mut b, OpCode::Binary, &vec![0; 70000], true, MASK);
        assert_eq!(b.len() - 70000, max_header_len());
    }
}
