//! The one error type of the frame layer.
//!
//! Every way a peer can violate RFC 6455 on an established connection is one
//! variant, and each variant knows the close code the server must send back
//! (`close_code`). Keeping the mapping here means the server never has to
//! guess: it writes `encode_close(dst, Some(err.close_code()), &err.to_string())`
//! and fails the connection.

use std::fmt;

/// A violation of RFC 6455 by the peer, detected while decoding frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A client frame arrived without the MASK bit (RFC 6455 §5.1).
    UnmaskedFrame,
    /// A server frame arrived with the MASK bit (RFC 6455 §5.1); client role.
    MaskedFrame,
    /// RSV1, RSV2 or RSV3 set while no extension owns them (§5.2).
    ReservedBits,
    /// Opcode 3–7 or 11–15 (§5.2).
    UnknownOpcode(u8),
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A control frame with a payload longer than 125 bytes (§5.5).
    ControlFrameTooLong,
    /// A continuation frame with no fragmented message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    ExpectedContinuation,
    /// A 64-bit payload length with the most significant bit set (§5.2).
    InvalidLength,
    /// The declared frame length exceeds `DecoderConfig::max_frame_size`.
    FrameTooLarge,
    /// The message would exceed `DecoderConfig::max_message_size`.
    MessageTooLarge,
    /// A text message that is not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A close frame with a 1-byte payload (§5.5.1).
    InvalidClosePayload,
    /// A close code that may not be received (§7.4).
    InvalidCloseCode(u16),
    /// A close reason that is not valid UTF-8 (§5.5.1).
    InvalidCloseReason,
    /// A permessage-deflate payload that does not inflate (RFC 7692 §6.2);
    /// 1007, see `crate::deflate` for why.
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code to fail the connection with (RFC 6455 §7.4.1):
    /// 1007 for invalid UTF-8 or undecodable compressed data, 1009 for size limits, 1002 for everything else.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => 1007,
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => 1009,
            _ => 1002,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong => {
                f.write_str("control frame payload over 125 bytes")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message")
            }
            ProtocolError::ExpectedContinuation => f.write_str("expected a continuation frame"),
            ProtocolError::InvalidLength => f.write_str("invalid 64-bit payload length"),
            ProtocolError::FrameTooLarge => f.write_str("frame too large"),
            ProtocolError::MessageTooLarge => f.write_str("message too large"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text message"),
            ProtocolError::InvalidClosePayload => f.write_str("close payload of 1 byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidCloseReason => f.write_str("close reason is not UTF-8"),
            ProtocolError::InvalidCompressedData => f.write_str("invalid compressed data"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes() {
        use ProtocolError::*;
        for e in [
            UnmaskedFrame,
            MaskedFrame,
            ReservedBits,
            UnknownOpcode(3),
            FragmentedControlFrame,
            ControlFrameTooLong,
            UnexpectedContinuation,
            ExpectedContinuation,
            InvalidLength,
            InvalidClosePayload,
            InvalidCloseCode(1005),
        ] {
            assert_eq!(e.close_code(), 1002, "{e:?}");
        }
        assert_eq!(InvalidUtf8.close_code(), 1007);
        assert_eq!(InvalidCloseReason.close_code(), 1007);
        assert_eq!(InvalidCompressedData.close_code(), 1007);
        assert_eq!(FrameTooLarge.close_code(), 1009);
        assert_eq!(MessageTooLarge.close_code(), 1009);
        // Display is short enough to be a close reason (<= 123 bytes).
        assert!(UnknownOpcode(15).to_string().len() <= 123);
        assert_eq!(InvalidCloseCode(999).to_string(), "invalid close code 999");
    }
}
