//! A stream of masked binary frames, as a client sends them.

// Each test binary that includes `support` uses only some of it.
#![allow(dead_code)]

use bytes::BytesMut;
use ferrosocket_proto::{encode_frame, FrameHeader, OpCode};

/// `count` binary frames of `size` bytes each, masked with `mask`; frame `i`
/// is filled with byte `i` (modulo 256), so a test can tell them apart.
pub fn binary_frames(count: usize, size: usize, mask: [u8; 4]) -> Vec<u8> {
    let mut w = BytesMut::new();
    for i in 0..count {
        let header = FrameHeader {
            mask: Some(mask),
            ..FrameHeader::new(OpCode::Binary, size)
        };
        encode_frame(&mut w, header, &vec![i as u8; size]);
    }
    w.to_vec()
}
