//! The frame codec (RFC 6455 §5): one header value, one encoder, and the
//! streaming decoder (either [`Role`]).
//!
//! * [`header`]: [`FrameHeader`], the one description of a frame header, with
//!   the one encoder of its wire bytes and the parser the decoder uses.
//! * [`encode`]: whole frames built on that encoder, including the
//!   permessage-deflate message frame (RSV1, RFC 7692 §6.1).
//! * [`close_payload`]: the close frame's code-and-reason payload (§5.5.1).
//! * [`decoder`]: [`Decoder`], bytes in, [`Event`]s out.
//!
//! The codec depends on [`crate::deflate`] (the decoder inflates, the encoder
//! compresses), never the other way round: deflate only turns bytes into
//! bytes, so it can be tested and fuzzed without frames.

pub mod close_payload;
pub mod decoder;
pub mod encode;
pub mod header;

use bytes::Bytes;

pub use close_payload::{encode_close, encode_close_masked};
pub use decoder::{Decoder, DecoderConfig};
pub use encode::{encode_compressed, encode_frame};
pub use header::{FrameHeader, Role};

/// Frame opcodes defined by RFC 6455 §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// A later fragment of a fragmented message.
    Continuation = 0,
    /// The first frame of a text message.
    Text = 1,
    /// The first frame of a binary message.
    Binary = 2,
    /// A close frame (RFC 6455 §5.5.1).
    Close = 8,
    /// A ping (§5.5.2).
    Ping = 9,
    /// A pong (§5.5.3).
    Pong = 10,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for a reserved one.
    pub(crate) fn from_u8(v: u8) -> Option<OpCode> {
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
    pub(crate) fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A received close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (always a valid one; see [`crate::is_valid_close_code`]).
    pub code: u16,
    /// The reason, valid UTF-8, at most 123 bytes.
    pub reason: String,
}

/// One complete message or control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message; guaranteed valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping's payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong's payload (at most 125 bytes).
    Pong(Bytes),
    /// `None` for a close frame with an empty payload.
    Close(Option<CloseFrame>),
}
