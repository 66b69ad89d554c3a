//! The error type of the Rust API, and the checks of the arguments that
//! every layer (the Rust [`crate::WebSocket`], [`crate::Server`] and the Python
//! binding) passes through the same [`crate::Conn`] methods: one check, one
//! message, whichever language called.

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
    /// A close code that may not be sent (RFC 6455 §7.4).
    InvalidClose(u16),
    /// A close reason longer than the 123 bytes a close frame can carry
    /// (the length in bytes).
    CloseReasonTooLong(usize),
    /// A handshake refusal with a status that is not a final HTTP response
    /// (see [`check_refusal_status`]).
    InvalidStatus(u16),
    /// A malformed argument (a subprotocol token, an oversized ping payload):
    /// the caller's mistake, not the peer's or the socket's.
    InvalidArgument(String),
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
            WebSocketError::InvalidClose(code) => write!(
                f,
                "close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999"
            ),
            WebSocketError::CloseReasonTooLong(len) => write!(
                f,
                "a close reason is at most 123 bytes of UTF-8, this one has {len}: shorten it"
            ),
            WebSocketError::InvalidStatus(status) => write!(
                f,
                "cannot refuse a handshake with HTTP {status}: use a final status, 200-599 \
                 (403 to forbid, 401 to ask for credentials, 3xx to redirect)"
            ),
            WebSocketError::InvalidArgument(message) => f.write_str(message),
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

/// The longest close reason: a control frame carries 125 bytes, two of them
/// the code (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = 123;

/// Whether `code` and `reason` may go into a close frame we send.
pub(crate) fn check_close(code: u16, reason: &str) -> Result<(), WebSocketError> {
    if !ferrosocket_proto::is_valid_close_code(code) {
        return Err(WebSocketError::InvalidClose(code));
    }
    if reason.len() > MAX_CLOSE_REASON {
        return Err(WebSocketError::CloseReasonTooLong(reason.len()));
    }
    Ok(())
}

/// Whether `status` may answer an upgrade request we refuse.
///
/// Allowed: every final status, 200–599. Refused: 1xx (informational
/// responses are not an answer: a client keeps waiting for the real one, and
/// 101 would claim an upgrade that never happened) and anything outside HTTP's
/// three-digit range. 2xx stays allowed because the ASGI denial-response
/// extension, and uvicorn with it, send any final status (uvicorn's own tests
/// deny with 200): a client treats every status but 101 as a failed
/// handshake (RFC 6455 §4.1), so a 2xx still refuses.
pub fn check_refusal_status(status: u16) -> Result<(), WebSocketError> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(WebSocketError::InvalidStatus(status))
    }
}
