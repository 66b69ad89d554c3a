//! Whole frames: a [`FrameHeader`] followed by its payload, masked when the
//! header carries a mask.
//!
//! [`encode_compressed`] is where the frame codec meets permessage-deflate on
//! the sending side: the [`Deflater`] only compresses bytes; framing the
//! result (RSV1, the length of the *compressed* payload) happens here. The
//! payload is compressed behind room for the longest header and then slid
//! down behind the actual one, so it is written into `dst` once and no
//! scratch buffer is kept per connection.

use bytes::BytesMut;

use super::header::{FrameHeader, MAX_LEN};
use super::OpCode;
use crate::deflate::Deflater;
use crate::mask::apply_mask;

/// Append one frame to `dst`: `header`, then `payload`, masked with
/// `header.mask` if it has one.
///
/// # Panics
///
/// If `header.len` is not `payload.len()` (the frame would be corrupt).
pub fn encode_frame(dst: &mut BytesMut, header: FrameHeader, payload: &[u8]) {
    assert_eq!(
        header.len,
        payload.len() as u64,
        "frame header length must match the payload"
    );
    dst.reserve(MAX_LEN + payload.len());
    header.encode(dst);
    let start = dst.len();
    dst.extend_from_slice(payload);
    if let Some(mask) = header.mask {
        apply_mask(&mut dst[start..], mask, 0);
    }
}

/// Append one whole message, compressed by `deflater`, as a single final
/// frame with RSV1 set (RFC 7692 §6.1), masked with `mask` if given (client
/// role: tests). `opcode` is [`OpCode::Text`] or [`OpCode::Binary`].
pub fn encode_compressed(
    dst: &mut BytesMut,
    deflater: &mut Deflater,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let start = dst.len();
    dst.resize(start + MAX_LEN, 0);
    deflater.compress(payload, dst);
    let len = dst.len() - start - MAX_LEN;
    let header = FrameHeader {
        rsv1: true,
        mask,
        ..FrameHeader::new(opcode, len)
    };
    let (bytes, n) = header.to_bytes();
    dst.copy_within(start + MAX_LEN.., start + n);
    dst.truncate(start + n + len);
    dst[start..start + n].copy_from_slice(&bytes[..n]);
    if let Some(mask) = mask {
        apply_mask(&mut dst[start + n..], mask, 0);
    }
}
