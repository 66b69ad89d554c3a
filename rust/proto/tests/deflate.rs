//! permessage-deflate through the frame decoder: RSV1 rules, RFC 7692 frames,
//! round trips under arbitrary fragmentation and TCP chunking, and the bomb.

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{
    encode_compressed, encode_frame, Decoder, DecoderConfig, DeflateParams, Deflater, Event,
    FrameHeader, Inflater, OpCode, ProtocolError,
};
use proptest::prelude::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn deflate_decoder() -> Decoder {
    Decoder::with_deflate(
        DecoderConfig::default(),
        Inflater::new(DeflateParams::default()),
    )
}

fn frame(op: OpCode, payload: &[u8], fin: bool, rsv1: bool) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv1,
        mask: Some(MASK),
        ..FrameHeader::new(op, payload.len())
    };
    let mut b = BytesMut::new();
    encode_frame(&mut b, header, payload);
    b.to_vec()
}

fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(e) = d.decode(&mut buf)? {
        out.push(e);
    }
    Ok(out)
}

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

// ---- RFC 7692 §7.2.3 frames through the decoder ----

#[test]
fn rfc_frames_decode() {
    let mut d = deflate_decoder();
    // 7.2.3.1 unfragmented, then 7.2.3.2 the shared-window "Hello".
    let mut w = frame(OpCode::Text, &HELLO, true, true);
    w.extend(frame(
        OpCode::Text,
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
        true,
        true,
    ));
    // 7.2.3.1 fragmented: RSV1 only on the first frame.
    w.extend(frame(OpCode::Text, &HELLO[..3], false, true));
    w.extend(frame(OpCode::Continuation, &HELLO[3..], true, false));
    // 7.2.3.3 a stored block, as binary.
    w.extend(frame(
        OpCode::Binary,
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        true,
        true,
    ));
    // An uncompressed message is still fine with the extension on.
    w.extend(frame(OpCode::Text, b"plain", true, false));
    let hello = || Event::Text(Bytes::from_static(b"Hello"));
    assert_eq!(
        decode_all(&mut d, &w).unwrap(),
        vec![
            hello(),
            hello(),
            hello(),
            Event::Binary(Bytes::from_static(b"Hello")),
            Event::Text(Bytes::from_static(b"plain")),
        ]
    );
}

#[test]
fn control_frames_between_compressed_fragments() {
    let mut d = deflate_decoder();
    let mut w = frame(OpCode::Text, &HELLO[..2], false, true);
    w.extend(frame(OpCode::Ping, b"p", true, false));
    w.extend(frame(OpCode::Continuation, &HELLO[2..], true, false));
    assert_eq!(
        decode_all(&mut d, &w).unwrap(),
        vec![
            Event::Ping(Bytes::from_static(b"p")),
            Event::Text(Bytes::from_static(b"Hello")),
        ]
    );
}

// ---- RSV1 rules ----

#[test]
fn rsv1_without_extension_is_1002() {
    let mut d = Decoder::default();
    let e = decode_all(&mut d, &frame(OpCode::Text, &HELLO, true, true)).unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::ReservedBits, 1002)
    );
}

#[test]
fn rsv1_on_continuation_or_control_is_1002() {
    for bad in [
        {
            let mut w = frame(OpCode::Text, &HELLO[..3], false, true);
            w.extend(frame(OpCode::Continuation, &HELLO[3..], true, true));
            w
        },
        {
            let mut w = frame(OpCode::Text, b"He", false, false);
            w.extend(frame(OpCode::Continuation, b"llo", true, true));
            w
        },
        frame(OpCode::Ping, b"", true, true),
        frame(OpCode::Pong, b"x", true, true),
        frame(OpCode::Close, &[0x03, 0xe8], true, true),
    ] {
        let mut d = deflate_decoder();
        let e = decode_all(&mut d, &bad).unwrap_err();
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::ReservedBits, 1002)
        );
    }
}

#[test]
fn rsv2_rsv3_stay_errors_with_deflate() {
    for rsv in [0x20u8, 0x10, 0x60] {
        let mut w = frame(OpCode::Text, &HELLO, true, false);
        w[0] |= rsv;
        let mut d = deflate_decoder();
        assert_eq!(decode_all(&mut d, &w), Err(ProtocolError::ReservedBits));
    }
}

#[test]
fn corrupt_compressed_payload_is_1007() {
    let mut d = deflate_decoder();
    let e = decode_all(
        &mut d,
        &frame(OpCode::Binary, &[0xff, 0xff, 0xff], true, true),
    )
    .unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidCompressedData, 1007)
    );
}

#[test]
fn invalid_utf8_fails_fast_after_inflation() {
    // Valid prefix, then an invalid byte, then lots more: the error must come
    // while the first fragment is inflated, before the message ends.
    let mut payload = b"ok ".to_vec();
    payload.push(0xff);
    payload.extend(std::iter::repeat_n(b'a', 10_000));
    let mut c = BytesMut::new();
    Deflater::with_window(15, false, 6, 8).compress(&payload, &mut c);
    let mut d = deflate_decoder();
    let first = frame(OpCode::Text, &c, false, true); // FIN never arrives
    assert_eq!(decode_all(&mut d, &first), Err(ProtocolError::InvalidUtf8));
    // Binary is not validated.
    let mut d = deflate_decoder();
    let events = decode_all(&mut d, &frame(OpCode::Binary, &c, true, true)).unwrap();
    assert_eq!(events, vec![Event::Binary(Bytes::from(payload))]);
}

#[test]
fn truncated_code_point_at_message_end_is_1007() {
    let mut c = BytesMut::new();
    Deflater::with_window(15, false, 6, 8).compress(&[b'a', 0xe2, 0x82], &mut c);
    let mut d = deflate_decoder();
    assert_eq!(
        decode_all(&mut d, &frame(OpCode::Text, &c, true, true)),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn message_limit_applies_to_inflated_size() {
    let data = vec![b'x'; 5000];
    let mut c = BytesMut::new();
    Deflater::with_window(15, false, 6, 8).compress(&data, &mut c);
    assert!(c.len() < 100);
    let config = |max| DecoderConfig {
        max_frame_size: 1000,
        max_message_size: max,
    };
    let mut d = Decoder::with_deflate(config(5000), Inflater::new(DeflateParams::default()));
    assert_eq!(
        decode_all(&mut d, &frame(OpCode::Text, &c, true, true)).unwrap(),
        vec![Event::Text(Bytes::from(data.clone()))]
    );
    let mut d = Decoder::with_deflate(config(4999), Inflater::new(DeflateParams::default()));
    let e = decode_all(&mut d, &frame(OpCode::Text, &c, true, true)).unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::MessageTooLarge, 1009)
    );
    // The frame size limit still applies to the compressed (wire) length.
    let mut d = Decoder::with_deflate(config(1 << 20), Inflater::new(DeflateParams::default()));
    let big = vec![0u8; 1001];
    assert_eq!(
        decode_all(&mut d, &frame(OpCode::Binary, &big, true, true)),
        Err(ProtocolError::FrameTooLarge)
    );
}

// ---- the bomb ----

/// About 1 MiB of raw deflate that inflates to `mib` MiB of zeros. The first
/// 1 MiB chunk is compressed for real; in steady state every further
/// sync-flushed 1 MiB of zeros compresses to the same bytes, which is checked
/// here on a few repetitions before they are replicated.
fn zero_bomb(mib: usize) -> Vec<u8> {
    let chunk = vec![0u8; 1 << 20];
    let mut d = Deflater::with_window(15, false, 9, 9);
    let mut parts = Vec::new();
    for _ in 0..4 {
        let mut b = BytesMut::new();
        d.compress(&chunk, &mut b);
        // compress() strips the tail; inside one message it must stay.
        b.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        parts.push(b.to_vec());
    }
    assert_eq!(parts[2], parts[1], "steady state");
    assert_eq!(parts[3], parts[1], "steady state");
    // Verify the replicated stream on a small prefix.
    let mut inf = Inflater::with_window(15, false);
    let mut out = Vec::new();
    for p in [&parts[0], &parts[1], &parts[1]] {
        inf.inflate(p, &mut out, usize::MAX).unwrap();
    }
    inf.finish(&mut out, usize::MAX).unwrap();
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|&b| b == 0));
    let mut bomb = parts[0].clone();
    for _ in 1..mib {
        bomb.extend_from_slice(&parts[1]);
    }
    bomb
}

#[test]
fn bomb_inflater_stops_at_the_limit() {
    let bomb = zero_bomb(1024); // 1 GiB of zeros
    assert!(bomb.len() < 2 << 20, "compressed size {}", bomb.len());
    let limit = 4 << 20;
    let mut inf = Inflater::with_window(15, false);
    let mut out = Vec::new();
    let mut result = Ok(());
    for piece in bomb.chunks(16 * 1024) {
        result = inf.inflate(piece, &mut out, limit);
        assert!(out.capacity() <= limit, "capacity {}", out.capacity());
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ProtocolError::MessageTooLarge));
    assert_eq!(out.len(), limit, "produced exactly the limit, no more");
    assert!(out.capacity() <= limit);
}

#[test]
fn bomb_through_the_decoder_closes_with_1009() {
    let bomb = zero_bomb(1024);
    let limit = 8 << 20;
    let mut d = Decoder::with_deflate(
        DecoderConfig {
            max_frame_size: 256 * 1024,
            max_message_size: limit,
        },
        Inflater::new(DeflateParams::default()),
    );
    // Fragments of 64 KiB compressed, fed to the decoder in 4 KiB reads.
    let mut wire = Vec::new();
    let frags: Vec<&[u8]> = bomb.chunks(64 * 1024).collect();
    for (i, f) in frags.iter().enumerate() {
        let op = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        wire.extend(frame(op, f, i + 1 == frags.len(), i == 0));
    }
    let mut buf = BytesMut::new();
    let mut peak = 0;
    let mut outcome = None;
    'feed: for read in wire.chunks(4096) {
        buf.extend_from_slice(read);
        // Each read either needs more bytes or fails: no event can complete.
        match d.decode(&mut buf) {
            Ok(Some(e)) => panic!("unexpected event {e:?}"),
            Ok(None) => {}
            Err(e) => {
                outcome = Some(e);
                break 'feed;
            }
        }
        peak = peak.max(d.buffered_capacity());
        assert!(d.buffered_capacity() <= limit, "{}", d.buffered_capacity());
    }
    let e = outcome.expect("the bomb must be refused");
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::MessageTooLarge, 1009)
    );
    assert!(peak > limit / 2, "the decoder did buffer output: {peak}");
    assert_eq!(d.buffered_capacity(), 0, "released after the error");
}

// ---- round trips ----

#[derive(Debug, Clone)]
struct Msg {
    text: bool,
    data: Vec<u8>,
    /// Cut points (fractions) of the compressed payload into fragments.
    cuts: Vec<prop::sample::Index>,
    compressed: bool,
}

fn payload() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        // Compressible text, JSON-ish.
        prop::collection::vec("[a-z\"{}:, ]{0,12}|κόσμε|€", 0..200)
            .prop_map(|v| (true, v.concat().into_bytes())),
        // Repetitive binary.
        (any::<u8>(), 0usize..5000).prop_map(|(b, n)| (false, vec![b; n])),
        // Random binary.
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(|v| (false, v)),
    ]
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        payload(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        prop::bool::weighted(0.85),
    )
        .prop_map(|((text, data), cuts, compressed)| Msg {
            text,
            data,
            cuts,
            compressed,
        })
}

fn cut(data: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(data[last..p].to_vec());
        last = p;
    }
    out.push(data[last..].to_vec());
    out
}

fn params_strategy() -> impl Strategy<Value = DeflateParams> {
    (any::<bool>(), any::<bool>(), 8u8..=15, 8u8..=15).prop_map(|(s, c, sb, cb)| DeflateParams {
        server_no_context_takeover: s,
        client_no_context_takeover: c,
        server_max_window_bits: sb,
        client_max_window_bits: cb,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Client → server: a client deflater (the agreed client window and
    /// context mode) fragments each compressed message arbitrarily; the wire
    /// is split into arbitrary reads; the decoder yields the original messages.
    #[test]
    fn client_to_server_round_trip(
        params in params_strategy(),
        msgs in prop::collection::vec(msg(), 1..12),
        reads in prop::collection::vec(1usize..700, 1..40),
        level in 0u32..=9,
    ) {
        let mut client = Deflater::with_window(
            params.client_max_window_bits,
            params.client_no_context_takeover,
            level,
            8,
        );
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for m in &msgs {
            let op = if m.text { OpCode::Text } else { OpCode::Binary };
            let body = if m.compressed {
                let mut c = BytesMut::new();
                client.compress(&m.data, &mut c);
                c.to_vec()
            } else {
                m.data.clone()
            };
            let frags = cut(&body, &m.cuts);
            for (i, f) in frags.iter().enumerate() {
                let o = if i == 0 { op } else { OpCode::Continuation };
                wire.extend(frame(o, f, i + 1 == frags.len(), i == 0 && m.compressed));
            }
            let b = Bytes::from(m.data.clone());
            expected.push(if m.text { Event::Text(b) } else { Event::Binary(b) });
        }
        let mut d = Decoder::with_deflate(DecoderConfig::default(), Inflater::new(params));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = reads[i % reads.len()].min(rest.len());
            i += 1;
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(e) = d.decode(&mut buf).unwrap() {
                got.push(e);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, expected);
    }

    /// Server → client: the server's Deflater (agreed server window and
    /// context mode) and an inflater with the same parameters agree on every
    /// message, and whole-frame encoding decodes through a client-role view
    /// (masked re-encoding of the same payload).
    #[test]
    fn server_to_client_round_trip(
        params in params_strategy(),
        msgs in prop::collection::vec(payload(), 1..12),
        level in 0u32..=9,
        mem_level in 1u8..=9,
        chunk in 1usize..300,
    ) {
        let mut server = Deflater::new(params, level, mem_level);
        let mut client_inflater = Inflater::with_window(
            params.server_max_window_bits,
            params.server_no_context_takeover,
        );
        for (_, data) in &msgs {
            let mut c = BytesMut::new();
            server.compress(data, &mut c);
            let mut out = Vec::new();
            for piece in c.chunks(chunk) {
                client_inflater.inflate(piece, &mut out, data.len()).unwrap();
            }
            client_inflater.finish(&mut out, data.len()).unwrap();
            prop_assert_eq!(&out, data);
        }
    }

    /// Context takeover actually helps: the second of two equal messages is
    /// much smaller with it, and the same size without it.
    #[test]
    fn context_takeover_shrinks_repeats(text in "[a-z ]{200,400}") {
        let with = DeflateParams::default();
        let without = DeflateParams { server_no_context_takeover: true, ..with };
        let sizes = |p| {
            let mut d = Deflater::new(p, 6, 8);
            let mut a = BytesMut::new();
            d.compress(text.as_bytes(), &mut a);
            let mut b = BytesMut::new();
            d.compress(text.as_bytes(), &mut b);
            (a.len(), b.len())
        };
        let (a, b) = sizes(with);
        prop_assert!(b * 4 < a, "{a} then {b}");
        let (a, b) = sizes(without);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn encode_compressed_frames_decode() {
    // Whole-message frames of every header size, masked (client role).
    let mut client = Deflater::with_window(15, false, 6, 8);
    let mut d = deflate_decoder();
    let mut wire = BytesMut::new();
    let sizes = [0usize, 5, 200, 70_000, 300_000];
    let mut expected = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        // Random-ish so that large ones stay large after compression.
        let data: Vec<u8> = (0..n).map(|j| ((j * 2654435761 + i) >> 7) as u8).collect();
        encode_compressed(&mut wire, &mut client, OpCode::Binary, &data, Some(MASK));
        expected.push(Event::Binary(Bytes::from(data)));
    }
    // A plain frame in between still works.
    wire.extend(frame(OpCode::Text, b"plain", true, false));
    expected.push(Event::Text(Bytes::from_static(b"plain")));
    assert_eq!(decode_all(&mut d, &wire).unwrap(), expected);
}
