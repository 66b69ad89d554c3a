//! The fuzz target bodies (`ferrosocket_proto::fuzzing`) run as bounded
//! property tests, so stable CI exercises what `cargo fuzz` runs on nightly.

use bytes::BytesMut;
use ferrosocket_proto::{encode_frame, fuzzing, Deflater, FrameHeader, OpCode};
use proptest::prelude::*;

/// A client frame: masked with `mask`.
fn masked_into(dst: &mut BytesMut, op: OpCode, payload: &[u8], fin: bool, mask: [u8; 4]) {
    let header = FrameHeader {
        fin,
        mask: Some(mask),
        ..FrameHeader::new(op, payload.len())
    };
    encode_frame(dst, header, payload);
}

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
                masked_into(&mut wire, op, &payload, fin, [1, 2, 3, 4]);
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

/// Input of `decode_frames_deflate`: chunk size, inflater choice, then
/// messages compressed by a client deflater of the same window and context
/// mode (some sent plain), fragmented, with pings between fragments and
/// random corruption. Repetitive payloads inflate past the 8 KiB limit.
fn compressed_stream() -> impl Strategy<Value = Vec<u8>> {
    let message = (
        prop_oneof![
            prop::collection::vec("[a-z\"{}:, ]{0,12}|κόσμε", 0..100)
                .prop_map(|v| (true, v.concat().into_bytes())),
            (any::<u8>(), 0usize..12_000).prop_map(|(b, n)| (false, vec![b; n])),
            prop::collection::vec(any::<u8>(), 0..600).prop_map(|v| (false, v)),
        ],
        prop::bool::weighted(0.8),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        any::<bool>(),
    );
    (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(message, 1..5),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    )
        .prop_map(|(chunk, params, messages, edits)| {
            let mut client = Deflater::with_window(8 + (params & 7), params & 8 != 0, 6, 8);
            let mut wire = BytesMut::new();
            wire.extend_from_slice(&[chunk, params]);
            for ((text, data), compress, cuts, ping) in messages {
                let body = if compress {
                    let mut c = BytesMut::new();
                    client.compress(&data, &mut c);
                    c.to_vec()
                } else {
                    data
                };
                let mut points: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
                points.sort_unstable();
                points.push(body.len());
                let mut last = 0;
                for (i, &p) in points.iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    let header = FrameHeader {
                        fin: i + 1 == points.len(),
                        rsv1: i == 0 && compress,
                        mask: Some([1, 2, 3, 4]),
                        ..FrameHeader::new(op, p - last)
                    };
                    encode_frame(&mut wire, header, &body[last..p]);
                    last = p;
                    if ping {
                        masked_into(&mut wire, OpCode::Ping, b"p", true, [5, 6, 7, 8]);
                    }
                }
            }
            let mut v = wire.to_vec();
            for (i, b) in edits {
                // Keep the two parameter bytes: corrupt the wire only.
                let i = 2 + i.index(v.len() - 2);
                v[i] = b;
            }
            v
        })
}

/// `Sec-WebSocket-Extensions` values assembled from the grammar's pieces
/// (names, parameters, values, separators, quotes), one header per line.
fn extension_offers() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: [&str; 26] = [
        "permessage-deflate",
        "x-webkit-deflate-frame",
        "; ",
        ";",
        ", ",
        ",",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "=",
        "\"",
        "\\",
        "8",
        "9",
        "10",
        "12",
        "15",
        "16",
        "08",
        " ",
        "\t",
        "\n",
        "foo",
        "é",
        "Permessage-Deflate",
    ];
    prop::collection::vec(0..PIECES.len(), 0..40).prop_map(|v| {
        v.into_iter()
            .map(|i| PIECES[i])
            .collect::<String>()
            .into_bytes()
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

    #[test]
    fn decode_frames_deflate_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::decode_frames_deflate(&data);
    }

    #[test]
    fn decode_frames_deflate_structured(data in compressed_stream()) {
        fuzzing::decode_frames_deflate(&data);
    }

    #[test]
    fn negotiate_deflate_random_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::negotiate_deflate(&data);
    }

    #[test]
    fn negotiate_deflate_structured(data in extension_offers()) {
        fuzzing::negotiate_deflate(&data);
    }
}

#[test]
fn fuzz_bodies_accept_edge_inputs() {
    fuzzing::decode_frames(&[]);
    fuzzing::decode_frames(&[0]);
    fuzzing::decode_frames(&[
        1, 0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    fuzzing::decode_frames_deflate(&[]);
    fuzzing::decode_frames_deflate(&[1]);
    // The RFC 7692 §7.2.3.1 "Hello" as one masked compressed frame.
    fuzzing::decode_frames_deflate(&[
        3, 0, 0xc1, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
    ]);
    fuzzing::negotiate_deflate(b"");
    fuzzing::negotiate_deflate(b"permessage-deflate; client_max_window_bits\nfoo");
    fuzzing::parse_handshake(b"");
    fuzzing::parse_handshake(b"GET / HTTP/1.1\r\n\r\n");
}
