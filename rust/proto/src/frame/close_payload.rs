//! The close frame's payload (RFC 6455 §5.5.1): an optional 2-byte code and,
//! only after a code, a UTF-8 reason, 125 bytes in all.

use bytes::BytesMut;

use super::encode::encode_frame;
use super::header::FrameHeader;
use super::{CloseFrame, OpCode};
use crate::error::ProtocolError;

/// Close frame (unmasked, server role) with an optional code and reason.
/// With `code == None` the payload is empty and `reason` is ignored (§5.5.1:
/// a reason requires a code). The reason is truncated on a char boundary so
/// the payload stays within 125 bytes.
pub fn encode_close(dst: &mut BytesMut, code: Option<u16>, reason: &str) {
    encode_close_masked(dst, code, reason, None);
}

/// [`encode_close`] with a masking key: a client's close frame.
pub fn encode_close_masked(
    dst: &mut BytesMut,
    code: Option<u16>,
    reason: &str,
    mask: Option<[u8; 4]>,
) {
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
    let header = FrameHeader {
        mask,
        ..FrameHeader::new(OpCode::Close, len)
    };
    encode_frame(dst, header, &payload[..len]);
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

/// A received close payload: `None` when empty; refused when 1 byte long,
/// with a code that may not be received (§7.4), or with a non-UTF-8 reason.
pub(crate) fn parse_close_payload(p: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
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
