//! The deflate leaf on its own: RFC 7692 §7.2.3 vectors through [`Deflater`]
//! and [`Inflater`], the output limit, and the "window bits 8" guarantee.

mod support;

use bytes::BytesMut;
use ferrosocket_proto::{
    encode_compressed, DeflateParams, Deflater, Inflater, OpCode, ProtocolError,
};
use support::rfc1951::decode_max_distance;

/// The tail a sync flush ends with (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

fn inflate_msg(inf: &mut Inflater, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    inf.inflate(payload, &mut out, usize::MAX)?;
    inf.finish(&mut out, usize::MAX)?;
    Ok(out)
}

fn compress(d: &mut Deflater, payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    d.compress(payload, &mut b);
    b.to_vec()
}

// ---- RFC 7692 §7.2.3 vectors ----

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

#[test]
fn rfc_7_2_3_1_hello_deflater_and_frame() {
    for level in [3, 6, 9] {
        let mut d = Deflater::new(DeflateParams::default(), level, 8);
        assert_eq!(compress(&mut d, b"Hello"), HELLO, "level {level}");
    }
    let mut d = Deflater::new(DeflateParams::default(), 6, 8);
    let mut frame = BytesMut::new();
    encode_compressed(&mut frame, &mut d, OpCode::Text, b"Hello", None);
    assert_eq!(
        &frame[..],
        &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
}

#[test]
fn rfc_7_2_3_1_hello_inflater_whole_and_fragmented() {
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
    // The fragmented example: 0xf2 0x48 0xcd | 0xc9 0xc9 0x07 0x00.
    let mut inf = Inflater::new(DeflateParams::default());
    let mut out = Vec::new();
    inf.inflate(&HELLO[..3], &mut out, 100).unwrap();
    inf.inflate(&HELLO[3..], &mut out, 100).unwrap();
    inf.finish(&mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
}

#[test]
fn rfc_7_2_3_2_shared_window() {
    let mut d = Deflater::new(DeflateParams::default(), 6, 8);
    assert_eq!(compress(&mut d, b"Hello"), HELLO);
    assert_eq!(compress(&mut d, b"Hello"), HELLO_AGAIN);
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut inf, &HELLO_AGAIN).unwrap(), b"Hello");
    // Without context takeover each message stands alone.
    let mut d = Deflater::new(params(true, false, 15, 15), 6, 8);
    assert_eq!(compress(&mut d, b"Hello"), HELLO);
    assert_eq!(compress(&mut d, b"Hello"), HELLO);
    // And an inflater that resets cannot resolve the back-reference.
    let mut inf = Inflater::new(params(false, true, 15, 15));
    assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
    assert_eq!(
        inflate_msg(&mut inf, &HELLO_AGAIN),
        Err(ProtocolError::InvalidCompressedData)
    );
}

#[test]
fn rfc_7_2_3_3_no_compression_block() {
    let p = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
    // Level 0 produces stored blocks: the same bytes.
    let mut d = Deflater::new(DeflateParams::default(), 0, 8);
    assert_eq!(compress(&mut d, b"Hello"), p);
}

#[test]
fn rfc_7_2_3_4_bfinal_then_more_messages() {
    let p = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
    // The stream restarted primed with "Hello": the next messages decode,
    // including one that refers back to it.
    assert_eq!(inflate_msg(&mut inf, &HELLO_AGAIN).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
    assert_eq!(inflate_msg(&mut inf, &HELLO).unwrap(), b"Hello");
}

#[test]
fn rfc_7_2_3_5_two_blocks() {
    let p = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(inflate_msg(&mut inf, &p).unwrap(), b"Hello");
}

#[test]
fn empty_message_both_ways() {
    let mut d = Deflater::new(DeflateParams::default(), 6, 8);
    let mut inf = Inflater::new(DeflateParams::default());
    for msg in [&b""[..], b"Hello", b"", b"", b"Hello"] {
        let c = compress(&mut d, msg);
        if msg.is_empty() {
            assert_eq!(c, [0x00]);
        }
        assert_eq!(inflate_msg(&mut inf, &c).unwrap(), msg);
    }
}

#[test]
fn corrupt_data_is_1007() {
    let mut inf = Inflater::new(DeflateParams::default());
    // BTYPE=11 is reserved.
    let e = inflate_msg(&mut inf, &[0xff, 0x00]).unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidCompressedData, 1007)
    );
    // A stored block whose NLEN is not ~LEN.
    let mut inf = Inflater::new(DeflateParams::default());
    assert_eq!(
        inflate_msg(&mut inf, &[0x00, 0x05, 0x00, 0x00, 0x00, b'H']),
        Err(ProtocolError::InvalidCompressedData)
    );
}

// ---- output limit ----

#[test]
fn limit_is_exact_and_inclusive() {
    let data = vec![b'a'; 10_000];
    let mut d = Deflater::new(DeflateParams::default(), 6, 8);
    let c = compress(&mut d, &data);
    assert!(c.len() < 100);
    // Exactly the limit: fine.
    let mut inf = Inflater::new(DeflateParams::default());
    let mut out = Vec::new();
    inf.inflate(&c, &mut out, 10_000).unwrap();
    inf.finish(&mut out, 10_000).unwrap();
    assert_eq!(out, data);
    assert!(out.capacity() <= 10_000, "capacity {}", out.capacity());
    // One byte less: 1009 with at most the limit produced or reserved.
    let mut inf = Inflater::new(DeflateParams::default());
    let mut out = Vec::new();
    let e = inf
        .inflate(&c, &mut out, 9_999)
        .and_then(|()| inf.finish(&mut out, 9_999))
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::MessageTooLarge, 1009)
    );
    assert_eq!(out.len(), 9_999);
    assert!(out.capacity() <= 9_999, "capacity {}", out.capacity());
}

#[test]
fn limit_counts_from_message_start_in_dst() {
    // dst may already hold bytes; the limit is on what this message adds.
    let mut inf = Inflater::new(DeflateParams::default());
    let mut out = b"prefix".to_vec();
    inf.inflate(&HELLO, &mut out, 5).unwrap();
    inf.finish(&mut out, 5).unwrap();
    assert_eq!(out, b"prefixHello");
    let mut inf = Inflater::new(DeflateParams::default());
    let mut out = b"prefix".to_vec();
    let r = inf
        .inflate(&HELLO, &mut out, 4)
        .and_then(|()| inf.finish(&mut out, 4));
    assert_eq!(r, Err(ProtocolError::MessageTooLarge));
    assert_eq!(out, b"prefixHell");
}

// ---- window bits 8 ----

/// Compressed messages as one deflate stream, each with its tail back.
fn stream_of(messages: &[Vec<u8>]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| [&m[..], &TAIL].concat())
        .collect()
}

#[test]
fn window_8_output_stays_within_256_bytes() {
    // Repetition at distance 300: a 10-bit deflater uses it...
    let unit: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
    let data = unit.repeat(20);
    let mut wide = Deflater::with_window(10, false, 6, 8);
    let c = compress(&mut wide, &data);
    let (out, max) = decode_max_distance(&stream_of(std::slice::from_ref(&c))).unwrap();
    assert_eq!(out, data, "the checker decodes");
    assert!(max > 256, "the check can fail: {max}");
    // ...one for an agreed 8 does not, yet still finds nearer repeats.
    let mut d = Deflater::new(params(false, false, 8, 15), 6, 8);
    let near = unit[..200].repeat(50);
    let c8 = compress(&mut d, &near);
    assert!(c8.len() < near.len() / 2, "{} bytes", c8.len());
    let (out, max) = decode_max_distance(&stream_of(&[c8])).unwrap();
    assert_eq!(out, near);
    assert!((1..=256).contains(&max), "{max}");
    // Our inflater for an agreed client window of 8 accepts what a
    // quietly-9-bit client would send.
    let mut inf = Inflater::new(params(false, false, 15, 8));
    let mut nine = Deflater::with_window(15, false, 6, 8);
    let c = compress(&mut nine, &near);
    assert_eq!(inflate_msg(&mut inf, &c).unwrap(), near);
}

/// The "Window bits 8" guarantee as a regression guard: whatever the
/// level, memory level or context mode, a deflater for an agreed 8-bit
/// window never emits a distance over 256, across many messages.
#[test]
fn window_8_deflater_never_reaches_past_256_bytes() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let mut overall = 0;
    for round in 0..4 {
        // Literals and copies at distances up to 300, all around the limit.
        let mut data = vec![0u8; 1];
        while data.len() < 12_000 {
            if rnd() % 3 == 0 {
                data.push(rnd() as u8);
            } else {
                let dist = 1 + (rnd() % 300).min(data.len() - 1);
                for _ in 0..3 + rnd() % 100 {
                    data.push(data[data.len() - dist]);
                }
            }
        }
        for level in [1, 2, 4, 6, 9] {
            for mem_level in [1, 8, 9] {
                let nct = round % 2 == 1;
                let mut d = Deflater::new(params(nct, false, 8, 15), level, mem_level);
                let msgs: Vec<Vec<u8>> = data.chunks(3000).map(|m| compress(&mut d, m)).collect();
                let what = format!("round {round} level {level} mem {mem_level}");
                let (out, max) = decode_max_distance(&stream_of(&msgs)).expect(&what);
                assert_eq!(out, data, "{what}");
                assert!(max <= 256, "{what}: distance {max}");
                overall = overall.max(max);
            }
        }
    }
    assert!(
        overall > 200,
        "the data exercised long distances: {overall}"
    );
}
