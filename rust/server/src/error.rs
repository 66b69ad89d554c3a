//! The error type of the Rust API.

use std::fmt;
use std::io;

use ferrosocket_proto::ProtocolError;

use crate::message::CloseCode;

/// Why a [`crate::WebSocket`] operation failed.
#[derive(Debug)]
pub enum WebSocketError {
    /// `accept()` or `reject()` was called twice.
    AlreadyAccepted,
    /// A message operation before `accept()`.
    NotAccepted,
    /// The connection is closed (or closing, for sends): the code and reason
    /// it closed with.
    ConnectionClosed(CloseCode, String),
    /// The peer broke RFC 6455; the connection was closed with
    /// [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// `receive_text`/`receive_bytes` got the other kind of message.
    UnexpectedMessage {
        /// What the caller asked for.
        expected: &'static str,
        /// What arrived instead.
        got: &'static str,
    },
    /// A close code that may not be sent (RFC 6455 §7.4), or a reason longer
    /// than 123 bytes.
    InvalidClose(u16),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::AlreadyAccepted => f.write_str("the handshake was already answered"),
            WebSocketError::NotAccepted => {
                f.write_str("the WebSocket is not accepted yet: call accept() first")
            }
            WebSocketError::ConnectionClosed(code, reason) if reason.is_empty() => {
                write!(f, "the connection is closed (code {code})")
            }
            WebSocketError::ConnectionClosed(code, reason) => {
                write!(f, "the connection is closed (code {code}: {reason})")
            }
            WebSocketError::Protocol(err) => write!(f, "protocol error: {err}"),
            WebSocketError::UnexpectedMessage { expected, got } => {
                write!(f, "expected a {expected} message, got {got}")
            }
            WebSocketError::InvalidClose(code) => {
                write!(f, "close code {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999, reason up to 123 bytes)")
            }
            WebSocketError::Io(err) => write!(f, "I/O error: {err}"),
        }
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebSocketError::Protocol(err) => Some(err),
            WebSocketError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for WebSocketError {
    fn from(err: io::Error) -> Self {
        WebSocketError::Io(err)
    }
}
