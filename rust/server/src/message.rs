//! Messages and close codes as the application sees them.

use std::fmt;

use bytes::Bytes;

/// A message received from (or sent to) the peer.
///
/// [`crate::WebSocket::receive`] answers pings itself and never surfaces pongs,
/// so it only yields `Text`, `Binary` and `Close`; the other variants exist so
/// the type describes every frame kind, as the reference API does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A complete text message (valid UTF-8 by construction).
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping's payload.
    Ping(Vec<u8>),
    /// A pong's payload.
    Pong(Vec<u8>),
    /// The connection closed: the peer's code and reason, or, when the peer
    /// sent none or vanished, [`CloseCode::NoStatus`] / [`CloseCode::Abnormal`]
    /// and the code ferrosocket closed with after a protocol error.
    Close(CloseCode, String),
}

/// A message as [`crate::WebSocket::receive_shared`] yields it: the payload
/// shared with the engine's read buffer rather than copied into a `String`
/// or `Vec<u8>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedMessage {
    /// A complete text message: the engine checked that it is UTF-8.
    Text(Bytes),
    /// A complete binary message.
    Binary(Bytes),
    /// The connection closed (as [`Message::Close`]).
    Close(CloseCode, String),
}

impl SharedMessage {
    /// A text message's contents as `&str` (`None` for other kinds, or for
    /// a `Text` built by hand from bytes that are not UTF-8).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SharedMessage::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// RFC 6455 §7.4 close codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    Normal,
    /// 1001: the server is going down or the browser navigated away.
    Away,
    /// 1002: a protocol error.
    Protocol,
    /// 1003: a data type the endpoint cannot accept.
    Unsupported,
    /// 1005: no status code was present (never sent on the wire).
    NoStatus,
    /// 1006: the connection was lost without a close frame (never sent).
    Abnormal,
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8).
    Invalid,
    /// 1008: a message that violates policy.
    Policy,
    /// 1009: a message too big to process.
    Size,
    /// 1010: the client expected an extension the server did not negotiate.
    Extension,
    /// 1011: an unexpected condition on the server.
    Error,
    /// 1012: the service is restarting.
    Restart,
    /// 1013: try again later.
    Again,
    /// 1014: a gateway got an invalid answer upstream.
    BadGateway,
    /// Any other code (3000–4999 for libraries and applications).
    Other(u16),
}

impl CloseCode {
    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        u16::from(self)
    }

    /// Whether this code may be sent in a close frame (RFC 6455 §7.4).
    pub fn is_sendable(self) -> bool {
        ferrosocket_proto::is_valid_close_code(self.as_u16())
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::Away => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::NoStatus => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::Invalid => 1007,
            CloseCode::Policy => 1008,
            CloseCode::Size => 1009,
            CloseCode::Extension => 1010,
            CloseCode::Error => 1011,
            CloseCode::Restart => 1012,
            CloseCode::Again => 1013,
            CloseCode::BadGateway => 1014,
            CloseCode::Other(code) => code,
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> CloseCode {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::Away,
            1002 => CloseCode::Protocol,
            1003 => CloseCode::Unsupported,
            1005 => CloseCode::NoStatus,
            1006 => CloseCode::Abnormal,
            1007 => CloseCode::Invalid,
            1008 => CloseCode::Policy,
            1009 => CloseCode::Size,
            1010 => CloseCode::Extension,
            1011 => CloseCode::Error,
            1012 => CloseCode::Restart,
            1013 => CloseCode::Again,
            1014 => CloseCode::BadGateway,
            other => CloseCode::Other(other),
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}
