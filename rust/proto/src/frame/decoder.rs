//! The streaming frame decoder, for either role.
//!
//! # Design
//!
//! The decoder is a state machine over a caller-owned `BytesMut`: the server
//! appends whatever it read from the socket and calls [`Decoder::decode`]
//! until it returns `Ok(None)`. Every byte the decoder has processed is
//! removed from the buffer, so the caller never tracks offsets; the one
//! exception is a frame read in place (below), which stays at the front of
//! the buffer until it is complete, so the caller must keep appending to the
//! same buffer.
//!
//! * **States.** Between messages, inside a data message (reading one of its
//!   frames' payload, or waiting for its next fragment's header), or failed.
//!   A message in progress is one value (`State::Message`) holding its
//!   kind, its payload buffer (plain or inflated) and the frame being read,
//!   so no combination of fields can be out of step.
//! * **Validation order.** The first two header bytes carry RSV, opcode, FIN,
//!   MASK and the 7-bit length, so most protocol errors are reported as soon
//!   as those two bytes arrive. Size limits are checked on the *declared*
//!   length, before anything is allocated or the payload is waited for.
//! * **Fast path.** When a whole unfragmented data frame is already in the
//!   buffer, its payload is unmasked in place and `split_to` hands it out as
//!   the event's `Bytes`: no copy.
//! * **In place.** An unfragmented, uncompressed data frame that has not
//!   fully arrived is read where it lands: its header stays at the front of
//!   the caller's buffer, the buffer is reserved for the whole frame (its
//!   declared length was checked against the limits first, and at most
//!   4 MiB (`EAGER_RESERVE`) is reserved ahead of what arrived, growing by doubling
//!   beyond), each piece is unmasked and (for text) validated as it arrives,
//!   and once complete the payload is split off as the event's `Bytes`. A
//!   megabyte message therefore costs no copy here: the socket reads into
//!   its final buffer. The reservation is address space; pages are only
//!   touched by bytes that arrive, so a peer that declares 16 MiB and stalls
//!   holds what it sent. [`Decoder::in_place_missing`] tells the caller not
//!   to grow the buffer itself meanwhile (that would copy the frame).
//! * **Incremental path.** Fragmented and compressed messages are consumed as
//!   they arrive: each available piece is appended to the message buffer
//!   (or inflated into it), unmasked with the running payload offset, and (for
//!   text) fed to the streaming UTF-8 validator. The message buffer only
//!   grows by bytes that have arrived.
//! * **Fail fast.** On both paths an invalid UTF-8 byte fails the connection
//!   with 1007 in the same `decode` call in which it arrives (Autobahn
//!   6.4.3/6.4.4 strict), and across fragments too.
//! * **Control frames** (≤125 bytes) are decoded only once complete; they may
//!   be interleaved between the fragments of a data message.
//! * **Errors are sticky**: after an error, `decode` keeps returning it; the
//!   connection must be failed with `error.close_code()`.
//!
//! * **Role.** A decoder is a server's by default: peer frames must be
//!   masked. [`Decoder::with_role`] makes it a client's, which refuses masked
//!   frames (1002) and reads unmasked ones; everything else is shared, so the
//!   two roles cannot drift apart.
//!
//! # Extensions (RSV1): permessage-deflate
//!
//! RSV bits are protocol errors unless the decoder was built with an
//! [`Inflater`] ([`Decoder::with_deflate`]: the handshake agreed on
//! permessage-deflate, RFC 7692). Then RSV1 is accepted on the *first* frame
//! of a text or binary message only (§6: never on continuation or control
//! frames; 1002 otherwise), and that message is inflated piece by piece as
//! its payload arrives, straight out of the caller's buffer. The size limit
//! (`max_message_size`) and fail-fast UTF-8 validation therefore apply to
//! the decompressed bytes, and a compression bomb fails with 1009 having
//! buffered at most the limit (see [`crate::deflate`]). `max_frame_size`
//! still bounds each frame's declared (compressed) length; the compressed
//! bytes of a message are never buffered, so they need no other limit.

use bytes::{Buf, Bytes, BytesMut};

use super::close_payload::parse_close_payload;
use super::header::{FrameHeader, Role};
use super::{Event, OpCode};
use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

mod in_place;
use in_place::{InPlace, Spares, EAGER_RESERVE};

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

/// Initial capacity cap of a message buffer on the incremental path.
const INITIAL_MESSAGE_CAPACITY: usize = 64 * 1024;

/// Where the decoder is between two calls.
#[derive(Debug)]
enum State {
    /// No data message in progress: the next data frame must start one.
    Idle,
    /// A data message has started and not yet completed.
    Message(Message),
    /// An unfragmented, uncompressed data frame read in place (see the
    /// module docs): its header and the payload so far are at the front of
    /// the caller's buffer.
    InPlace(InPlace),
    /// A protocol error was found; every later call returns it.
    Failed(ProtocolError),
}

/// The data message being assembled.
#[derive(Debug)]
struct Message {
    kind: Kind,
    payload: Payload,
    /// The data frame whose payload is being consumed; `None` while waiting
    /// for the header of the next fragment.
    frame: Option<FrameProgress>,
}

#[derive(Debug)]
enum Kind {
    /// Validated as it arrives.
    Text(Utf8Validator),
    Binary,
}

#[derive(Debug)]
enum Payload {
    /// An uncompressed message, as received (unmasked).
    Plain(BytesMut),
    /// A compressed (RSV1) message, inflated. A `Vec` so the inflater can
    /// grow it with `reserve_exact`, never past the limit.
    Inflated(Vec<u8>),
}

/// The progress through one data frame's payload.
#[derive(Debug)]
struct FrameProgress {
    fin: bool,
    mask: [u8; 4],
    len: usize,
    done: usize,
}

impl Message {
    fn len(&self) -> usize {
        match &self.payload {
            Payload::Plain(b) => b.len(),
            Payload::Inflated(v) => v.len(),
        }
    }

    fn capacity(&self) -> usize {
        match &self.payload {
            Payload::Plain(b) => b.capacity(),
            Payload::Inflated(v) => v.capacity(),
        }
    }

    /// The completed message as an event (checks that text did not end
    /// inside a code point). Leaves an empty payload behind.
    fn take_event(&mut self) -> Result<Event, ProtocolError> {
        let data = match &mut self.payload {
            Payload::Plain(b) => std::mem::take(b).freeze(),
            Payload::Inflated(v) => Bytes::from(std::mem::take(v)),
        };
        Ok(match &mut self.kind {
            Kind::Text(utf8) => {
                utf8.finish()?;
                Event::Text(data)
            }
            Kind::Binary => Event::Binary(data),
        })
    }
}

/// Streaming frame decoder; see the module docs.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    role: Role,
    state: State,
    /// Fixed at construction: whether RSV1 may mark a compressed message.
    /// Boxed: only a compressed connection pays for its room.
    inflater: Option<Box<Inflater>>,
    /// Allocations of earlier frames read in place, reused once their
    /// payloads are dropped.
    spares: Spares,
    /// The reader's next read size (see [`Decoder::set_read_ahead`]).
    read_ahead: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DecoderConfig::default())
    }
}

impl Decoder {
    /// A decoder without extensions: RSV1 is a protocol error.
    pub fn new(config: DecoderConfig) -> Self {
        Decoder {
            config,
            role: Role::Server,
            state: State::Idle,
            inflater: None,
            spares: Spares::default(),
            read_ahead: 0,
        }
    }

    /// Tell the decoder how much the caller reads at a time (its adaptive
    /// read size). A frame read in place gets a buffer of at least that
    /// many bytes from its first one (and never less than the frame plus
    /// `REUSE_SLACK`), so a stream of large frames is read in as few system
    /// calls as the reader's read size allows, not a frame or two per call.
    /// 0 (the default) leaves the frame plus `REUSE_SLACK`.
    pub fn set_read_ahead(&mut self, bytes: usize) {
        self.read_ahead = bytes;
    }

    /// Drop the allocations kept for frames read in place (a quiet
    /// connection's reader calls this when it releases its own buffer).
    pub fn release_spares(&mut self) {
        self.spares = Spares::default();
    }

    /// Make room in `buf` for the caller's next read of `additional` bytes.
    /// Like `BytesMut::reserve`, except when `buf`'s allocation is still
    /// shared with payloads handed out (the application has not dropped
    /// them yet): then its bytes move to a kept allocation whose payloads
    /// have all been dropped, as for a frame read in place, instead of to a
    /// new allocation each time.
    pub fn reserve_for_read(&mut self, buf: &mut BytesMut, additional: usize) {
        if buf.try_reclaim(additional) {
            return;
        }
        let want = buf.len() + additional;
        if want > EAGER_RESERVE {
            buf.reserve(additional);
        } else {
            self.spares.regrow(buf, want);
        }
    }

    /// The same decoder for `role`'s end of the connection (the default is
    /// [`Role::Server`]): a client reads unmasked frames and refuses masked
    /// ones ([`ProtocolError::MaskedFrame`]).
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// A decoder for a connection that agreed on permessage-deflate: RSV1
    /// marks a compressed message on its first frame, inflated by `inflater`.
    pub fn with_deflate(config: DecoderConfig, inflater: Inflater) -> Self {
        Decoder {
            inflater: Some(Box::new(inflater)),
            ..Decoder::new(config)
        }
    }

    /// Heap bytes currently held for the message in progress (capacity of
    /// its buffer; 0 between messages). For compressed messages this never
    /// exceeds `max_message_size`, however much a peer's data would inflate.
    pub fn buffered_capacity(&self) -> usize {
        match &self.state {
            State::Message(m) => m.capacity(),
            State::Idle | State::InPlace(_) | State::Failed(_) => 0,
        }
    }

    /// Bytes of a frame read in place that have not arrived yet (0 when no
    /// frame is read in place). While it is not 0 the decoder has reserved
    /// the caller's buffer for them: growing it further would copy the
    /// frame, so the caller should just read into the spare capacity.
    pub fn in_place_missing(&self, buf: &BytesMut) -> usize {
        match &self.state {
            State::InPlace(f) => (f.header_len + f.len).saturating_sub(buf.len()),
            _ => 0,
        }
    }

    /// Decode from `buf`, consuming (advancing past) every byte it has
    /// processed. Returns `Ok(Some(event))` for each complete message or
    /// control frame, `Ok(None)` when it needs more bytes. Call repeatedly
    /// until `None`. After an error every later call returns the same error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let result = self.decode_inner(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            if let State::InPlace(frame) = &mut self.state {
                let event = frame.advance(buf, self.read_ahead)?;
                if event.is_some() {
                    self.state = State::Idle;
                }
                return Ok(event);
            }
            if let State::Message(msg) = &mut self.state {
                if let Some(frame) = msg.frame.as_mut() {
                    let limit = self.config.max_message_size;
                    let inflater = self.inflater.as_deref_mut();
                    if !consume_payload(
                        &mut msg.payload,
                        &mut msg.kind,
                        frame,
                        inflater,
                        buf,
                        limit,
                    )? {
                        return Ok(None);
                    }
                    let fin = frame.fin;
                    msg.frame = None;
                    if fin {
                        let event = msg.take_event()?;
                        self.state = State::Idle;
                        return Ok(Some(event));
                    }
                    continue;
                }
            }
            // No frame in progress: the next header.
            let Some((h, header_len)) =
                FrameHeader::parse(buf, self.inflater.is_some(), self.role)?
            else {
                return Ok(None);
            };
            let mask = h.mask.unwrap_or_default();
            if h.opcode.is_control() {
                // len <= 125 was checked by the parser.
                let len = h.len as usize;
                if buf.len() < header_len + len {
                    return Ok(None);
                }
                buf.advance(header_len);
                let mut payload = buf.split_to(len);
                apply_mask(&mut payload, mask, 0);
                return control_event(h.opcode, payload.freeze()).map(Some);
            }
            let message = match &mut self.state {
                State::Message(m) => Some(m),
                State::Idle | State::InPlace(_) | State::Failed(_) => None,
            };
            match (h.opcode, message.is_some()) {
                (OpCode::Continuation, false) => return Err(ProtocolError::UnexpectedContinuation),
                (OpCode::Text | OpCode::Binary, true) => {
                    return Err(ProtocolError::ExpectedContinuation)
                }
                _ => {}
            }
            if h.len > self.config.max_frame_size as u64 {
                return Err(ProtocolError::FrameTooLarge);
            }
            let compressed =
                h.rsv1 || matches!(&message, Some(m) if matches!(m.payload, Payload::Inflated(_)));
            // A compressed message is limited on its inflated size, as it is produced.
            let so_far = message.as_ref().map_or(0, |m| m.len()) as u64;
            if !compressed && so_far + h.len > self.config.max_message_size as u64 {
                return Err(ProtocolError::MessageTooLarge);
            }
            let len = h.len as usize;
            let frame = FrameProgress {
                fin: h.fin,
                mask,
                len,
                done: 0,
            };
            match message {
                Some(m) => {
                    buf.advance(header_len);
                    m.frame = Some(frame);
                }
                None if !compressed && h.fin && buf.len() >= header_len + len => {
                    // Fast path: whole unfragmented frame present.
                    buf.advance(header_len);
                    let mut payload = buf.split_to(len);
                    apply_mask(&mut payload, mask, 0);
                    return if h.opcode == OpCode::Text {
                        simdutf8::basic::from_utf8(&payload)
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                        Ok(Some(Event::Text(payload.freeze())))
                    } else {
                        Ok(Some(Event::Binary(payload.freeze())))
                    };
                }
                None if !compressed && h.fin => {
                    // The frame's length is known and within the limits: read
                    // it where it lands.
                    self.spares.place(buf, header_len + len, self.read_ahead);
                    let kind = if h.opcode == OpCode::Text {
                        Kind::Text(Utf8Validator::new())
                    } else {
                        Kind::Binary
                    };
                    self.state = State::InPlace(InPlace {
                        kind,
                        header_len,
                        len,
                        mask,
                        done: 0,
                    });
                }
                None => {
                    buf.advance(header_len);
                    let payload = if compressed {
                        Payload::Inflated(Vec::new())
                    } else {
                        // Reserve only what has arrived (bounded), never the declared length.
                        let cap = len.min(buf.len()).min(INITIAL_MESSAGE_CAPACITY);
                        Payload::Plain(BytesMut::with_capacity(cap))
                    };
                    let kind = if h.opcode == OpCode::Text {
                        Kind::Text(Utf8Validator::new())
                    } else {
                        Kind::Binary
                    };
                    self.state = State::Message(Message {
                        kind,
                        payload,
                        frame: Some(frame),
                    });
                }
            }
        }
    }
}

/// Consume as much of the current data frame's payload as has arrived into
/// the message's payload (inflating it if compressed, validating text).
/// `Ok(true)`: the frame's payload is complete.
fn consume_payload(
    payload: &mut Payload,
    kind: &mut Kind,
    frame: &mut FrameProgress,
    inflater: Option<&mut Inflater>,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<bool, ProtocolError> {
    let n = (frame.len - frame.done).min(buf.len());
    let new_bytes = match payload {
        Payload::Inflated(out) => {
            // A compressed message only starts when RSV1 was accepted, which
            // takes an inflater; the decoder's inflater never changes.
            let inflater = inflater.ok_or(ProtocolError::ReservedBits)?;
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
            &out[start..]
        }
        Payload::Plain(data) => {
            let start = data.len();
            data.extend_from_slice(&buf[..n]);
            buf.advance(n);
            let piece = &mut data[start..];
            apply_mask(piece, frame.mask, frame.done);
            frame.done += n;
            piece
        }
    };
    if let Kind::Text(utf8) = kind {
        utf8.feed(new_bytes)?;
    }
    Ok(frame.done == frame.len)
}

fn control_event(opcode: OpCode, payload: Bytes) -> Result<Event, ProtocolError> {
    Ok(match opcode {
        OpCode::Ping => Event::Ping(payload),
        OpCode::Pong => Event::Pong(payload),
        _ => Event::Close(parse_close_payload(&payload)?),
    })
}
