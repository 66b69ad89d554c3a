//! The fuzz target bodies (`ferrosocket_proto::fuzzing`) run as bounded
//! property tests, so stable CI exercises what `cargo fuzz` runs on nightly.

use bytes::BytesMut;
use ferrosocket_proto::{encode_frame_masked, fuzzing, OpCode};
use proptest::prelude::*;

/// Plausible frame streams with random corruption: reaches deep decoder states
/// far more often than uniform bytes.
fn frame_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop::collection::vec(
            (
                0u8..16,
                any::<bool>(),
                prop::collection::vec(any::<u8>(), 0..200),
            ),
            0..6,
        ),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    )
        .prop_map(|(chunk, frames, edits)| {
            let mut wire = BytesMut::new();
            wire.extend_from_slice(&[chunk]);
            for (op, fin, payload) in frames {
                let op = match op % 6 {
                    0 => OpCode::Continuation,
                    1 => OpCode::Text,
                    2 => OpCode::Binary,
                    3 => OpCode::Close,
                    4 => OpCode::Ping,
                    _ => OpCode::Pong,
                };
                encode_frame_masked(&mut wire, op, &payload, fin, [1, 2, 3, 4]);
            }
            let mut v = wire.to_vec();
            for (i, b) in edits {
                let i = i.index(v.len());
                v[i] = b;
            }
            v
        })
}

fn request_head() -> impl Strategy<Value = Vec<u8>> {
    let base = "GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(edits, cut)| {
            let mut v = base.as_bytes().to_vec();
            for (i, b) in edits {
                let i = i.index(v.len());
                v[i] = b;
            }
            v.truncate(cut.index(v.len() + 1));
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decode_frames_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::decode_frames(&data);
    }

    #[test]
    fn decode_frames_structured(data in frame_stream()) {
        fuzzing::decode_frames(&data);
    }

    #[test]
    fn parse_handshake_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::parse_handshake(&data);
    }

    #[test]
    fn parse_handshake_mutated(data in request_head()) {
        fuzzing::parse_handshake(&data);
    }
}

#[test]
fn fuzz_bodies_accept_edge_inputs() {
    fuzzing::decode_frames(&[]);
    fuzzing::decode_frames(&[0]);
    fuzzing::decode_frames(&[
        1, 0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    fuzzing::parse_handshake(b"");
    fuzzing::parse_handshake(b"GET / HTTP/1.1\r\n\r\n");
}
