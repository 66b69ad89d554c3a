//! The frame codec through its public API: RFC 6455 §5.7 examples, every
//! decoder error from crafted bytes, streaming behaviour, and the encoder.

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{
    encode_close, encode_frame, CloseFrame, Decoder, DecoderConfig, Event, FrameHeader, OpCode,
    ProtocolError,
};

/// A server frame: unmasked.
fn unmasked_into(dst: &mut BytesMut, op: OpCode, payload: &[u8], fin: bool) {
    let header = FrameHeader {
        fin,
        ..FrameHeader::new(op, payload.len())
    };
    encode_frame(dst, header, payload);
}

/// A client frame: masked with `mask`.
fn masked_into(dst: &mut BytesMut, op: OpCode, payload: &[u8], fin: bool, mask: [u8; 4]) {
    let header = FrameHeader {
        fin,
        mask: Some(mask),
        ..FrameHeader::new(op, payload.len())
    };
    encode_frame(dst, header, payload);
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn decode_all(bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(e) = d.decode(&mut buf)? {
        out.push(e);
    }
    Ok(out)
}

fn err_of(bytes: &[u8]) -> ProtocolError {
    decode_all(bytes).expect_err("must fail")
}

fn masked(op: OpCode, payload: &[u8], fin: bool) -> Vec<u8> {
    let mut b = BytesMut::new();
    masked_into(&mut b, op, payload, fin, MASK);
    b.to_vec()
}

// ---- RFC 6455 §5.7 examples ----

#[test]
fn rfc_unmasked_hello_encoder() {
    let mut b = BytesMut::new();
    unmasked_into(&mut b, OpCode::Text, b"Hello", true);
    assert_eq!(&b[..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn rfc_masked_hello_decoder_and_encoder() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(masked(OpCode::Text, b"Hello", true), wire);
    assert_eq!(
        decode_all(&wire).unwrap(),
        vec![Event::Text(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_fragmented_hello() {
    let mut b = BytesMut::new();
    unmasked_into(&mut b, OpCode::Text, b"Hel", false);
    unmasked_into(&mut b, OpCode::Continuation, b"lo", true);
    assert_eq!(
        &b[..],
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
    );
    let mut wire = masked(OpCode::Text, b"Hel", false);
    wire.extend(masked(OpCode::Continuation, b"lo", true));
    assert_eq!(
        decode_all(&wire).unwrap(),
        vec![Event::Text(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_ping_pong() {
    let mut b = BytesMut::new();
    unmasked_into(&mut b, OpCode::Ping, b"Hello", true);
    assert_eq!(&b[..], &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    // Masked pong from the RFC.
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_all(&pong).unwrap(),
        vec![Event::Pong(Bytes::from_static(b"Hello"))]
    );
    assert_eq!(
        decode_all(&masked(OpCode::Ping, b"Hello", true)).unwrap(),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_256_and_64k_binary_lengths() {
    let mut b = BytesMut::new();
    unmasked_into(&mut b, OpCode::Binary, &[0u8; 256], true);
    assert_eq!(&b[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(b.len(), 4 + 256);
    let mut b = BytesMut::new();
    unmasked_into(&mut b, OpCode::Binary, &vec![0u8; 65536], true);
    assert_eq!(
        &b[..10],
        &[0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    );
    assert_eq!(b.len(), 10 + 65536);
    // And they decode back when masked.
    for n in [125usize, 126, 256, 65535, 65536] {
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        assert_eq!(
            decode_all(&masked(OpCode::Binary, &data, true)).unwrap(),
            vec![Event::Binary(Bytes::from(data))],
            "len {n}"
        );
    }
}

// ---- every error variant from crafted bytes ----

#[test]
fn error_unmasked() {
    let e = err_of(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::UnmaskedFrame, 1002)
    );
}

#[test]
fn error_reserved_bits_each() {
    for rsv in [0x40u8, 0x20, 0x10] {
        let e = err_of(&[0x81 | rsv, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::ReservedBits, 1002)
        );
    }
}

#[test]
fn error_unknown_opcodes() {
    for op in (3u8..=7).chain(11..=15) {
        let e = err_of(&[0x80 | op, 0x80, 0, 0, 0, 0]);
        assert_eq!(e, ProtocolError::UnknownOpcode(op));
        assert_eq!(e.close_code(), 1002);
    }
}

#[test]
fn error_fragmented_control() {
    let e = err_of(&masked(OpCode::Ping, b"x", false));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::FragmentedControlFrame, 1002)
    );
}

#[test]
fn error_control_too_long() {
    let e = err_of(&masked(OpCode::Ping, &[0u8; 126], true));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::ControlFrameTooLong, 1002)
    );
    // 125 is fine.
    assert_eq!(
        decode_all(&masked(OpCode::Ping, &[7u8; 125], true))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn error_unexpected_continuation() {
    let e = err_of(&masked(OpCode::Continuation, b"x", true));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::UnexpectedContinuation, 1002)
    );
}

#[test]
fn error_expected_continuation() {
    let mut w = masked(OpCode::Text, b"a", false);
    w.extend(masked(OpCode::Binary, b"b", true));
    let e = err_of(&w);
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::ExpectedContinuation, 1002)
    );
}

#[test]
fn error_invalid_length_top_bit() {
    let e = err_of(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidLength, 1002)
    );
}

#[test]
fn error_frame_too_large_before_payload() {
    let mut d = Decoder::new(DecoderConfig {
        max_frame_size: 100,
        max_message_size: 1000,
    });
    // Header only, declaring 101 bytes: fails without any payload.
    let mut buf = BytesMut::from(&[0x82u8, 0x80 | 101, 1, 2, 3, 4][..]);
    let e = d.decode(&mut buf).unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::FrameTooLarge, 1009)
    );
    // Declaring 2^62 bytes must not allocate or panic either.
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&[0x82u8, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4][..]);
    assert_eq!(d.decode(&mut buf), Err(ProtocolError::FrameTooLarge));
}

#[test]
fn error_message_too_large_across_fragments() {
    let mut d = Decoder::new(DecoderConfig {
        max_frame_size: 100,
        max_message_size: 150,
    });
    let mut buf = BytesMut::new();
    masked_into(&mut buf, OpCode::Binary, &[1; 100], false, MASK);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(d.buffered_capacity() >= 100, "the first fragment is held");
    // Next fragment's header declares 51: 151 > 150, rejected on the header.
    buf.extend_from_slice(&[0x80, 0x80 | 51, 1, 2, 3, 4]);
    let e = d.decode(&mut buf).unwrap_err();
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::MessageTooLarge, 1009)
    );
}

#[test]
fn limits_are_inclusive() {
    let mut d = Decoder::new(DecoderConfig {
        max_frame_size: 100,
        max_message_size: 150,
    });
    let mut buf = BytesMut::new();
    masked_into(&mut buf, OpCode::Binary, &[1; 100], false, MASK);
    masked_into(&mut buf, OpCode::Continuation, &[2; 50], true, MASK);
    match d.decode(&mut buf).unwrap() {
        Some(Event::Binary(b)) => assert_eq!(b.len(), 150),
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_invalid_utf8_fast_path_and_close_code() {
    let e = err_of(&masked(OpCode::Text, &[b'a', 0xff], true));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidUtf8, 1007)
    );
    // Truncated code point at the end of the message.
    let mut w = masked(OpCode::Text, &[b'a', 0xe2], false);
    w.extend(masked(OpCode::Continuation, &[0x82], true));
    assert_eq!(err_of(&w), ProtocolError::InvalidUtf8);
}

#[test]
fn error_close_payloads() {
    let e = err_of(&masked(OpCode::Close, &[0x03], true));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidClosePayload, 1002)
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let e = err_of(&masked(OpCode::Close, &code.to_be_bytes(), true));
        assert_eq!(
            (e.clone(), e.close_code()),
            (ProtocolError::InvalidCloseCode(code), 1002)
        );
    }
    let e = err_of(&masked(
        OpCode::Close,
        &[0x03, 0xe8, 0xce, 0xba, 0xff],
        true,
    ));
    assert_eq!(
        (e.clone(), e.close_code()),
        (ProtocolError::InvalidCloseReason, 1007)
    );
}

#[test]
fn close_payloads_ok() {
    assert_eq!(
        decode_all(&masked(OpCode::Close, b"", true)).unwrap(),
        vec![Event::Close(None)]
    );
    let mut p = 4000u16.to_be_bytes().to_vec();
    p.extend("bye κ".as_bytes());
    assert_eq!(
        decode_all(&masked(OpCode::Close, &p, true)).unwrap(),
        vec![Event::Close(Some(CloseFrame {
            code: 4000,
            reason: "bye κ".into()
        }))]
    );
}

#[test]
fn errors_are_sticky() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&[0x83u8, 0x80, 0, 0, 0, 0][..]);
    assert_eq!(d.decode(&mut buf), Err(ProtocolError::UnknownOpcode(3)));
    let mut good = BytesMut::from(&masked(OpCode::Text, b"ok", true)[..]);
    assert_eq!(d.decode(&mut good), Err(ProtocolError::UnknownOpcode(3)));
}

// ---- streaming behaviour ----

#[test]
fn header_errors_reported_after_two_bytes() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&[0x09u8][..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(&[0x80]); // ping without FIN, rest of header missing
    assert_eq!(
        d.decode(&mut buf),
        Err(ProtocolError::FragmentedControlFrame)
    );
}

#[test]
fn text_fails_fast_mid_frame() {
    // Autobahn 6.4.3 shape: one text frame, payload in three chunks, the
    // invalid byte in the middle chunk. Must fail when it arrives.
    let payload: Vec<u8> = [
        &b"\xce\xba\xe1\xbd\xb9\xcf\x83"[..],
        &b"\xf4\x90\x80\x80"[..],
        b"edited",
    ]
    .concat();
    let wire = masked(OpCode::Text, &payload, true);
    let hdr = 6;
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&wire[..hdr + 7]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), hdr + 7, "a frame read in place stays put");
    buf.extend_from_slice(&wire[hdr + 7..hdr + 11]);
    assert_eq!(d.decode(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn text_fails_fast_across_fragments() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&masked(OpCode::Text, b"ok", false)[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    let mut next = masked(OpCode::Continuation, &[b'x', 0xc0, b'y'], false);
    next.truncate(6 + 2); // only 'x' and the invalid 0xc0 have arrived
    buf.extend_from_slice(&next);
    assert_eq!(d.decode(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn control_interleaved_between_fragments() {
    let mut w = masked(OpCode::Text, b"He", false);
    w.extend(masked(OpCode::Ping, b"p", true));
    w.extend(masked(OpCode::Continuation, b"l", false));
    w.extend(masked(OpCode::Pong, b"", true));
    w.extend(masked(OpCode::Continuation, b"lo", true));
    w.extend(masked(OpCode::Binary, b"", true));
    assert_eq!(
        decode_all(&w).unwrap(),
        vec![
            Event::Ping(Bytes::from_static(b"p")),
            Event::Pong(Bytes::new()),
            Event::Text(Bytes::from_static(b"Hello")),
            Event::Binary(Bytes::new()),
        ]
    );
}

#[test]
fn byte_at_a_time_equals_whole() {
    let mut w = masked(OpCode::Binary, &[9u8; 300], true);
    w.extend(masked(OpCode::Text, "€uro".as_bytes(), false));
    w.extend(masked(OpCode::Close, &[0x03, 0xe8], true));
    w.extend(masked(OpCode::Continuation, b"!", true));
    let whole = decode_all(&w).unwrap();
    let mut d = Decoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &b in &w {
        buf.extend_from_slice(&[b]);
        while let Some(e) = d.decode(&mut buf).unwrap() {
            got.push(e);
        }
    }
    assert_eq!(got, whole);
    assert_eq!(whole.len(), 3);
    assert!(buf.is_empty());
}

#[test]
fn fast_path_leaves_following_bytes() {
    let mut w = masked(OpCode::Binary, b"one", true);
    w.extend_from_slice(&[0x82]); // start of the next frame
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&w[..]);
    assert_eq!(
        d.decode(&mut buf).unwrap(),
        Some(Event::Binary(Bytes::from_static(b"one")))
    );
    assert_eq!(&buf[..], &[0x82]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], &[0x82], "an incomplete header is not consumed");
}

#[test]
fn incremental_reserve_is_bounded_by_arrival() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::new();
    // A first fragment declaring 16 MiB, of which only 10 bytes arrive.
    buf.extend_from_slice(&[0x02, 0xFF, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]);
    buf.extend_from_slice(&[0u8; 10]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    let cap = d.buffered_capacity();
    assert!(cap < 4096, "capacity {cap}");
}

#[test]
fn a_frame_read_in_place_is_reserved_at_most_4_mib_ahead() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::new();
    // One final frame declaring 16 MiB - 1, of which only 10 bytes arrive.
    buf.extend_from_slice(&[0x82, 0xFF, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]);
    buf.extend_from_slice(&[0u8; 10]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(
        buf.capacity() <= 24 + (4 << 20),
        "capacity {}",
        buf.capacity()
    );
    assert_eq!(d.in_place_missing(&buf), (16 << 20) - 1 - 10);
}

#[test]
fn a_frame_that_spans_reads_lands_in_one_buffer_without_a_copy() {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    for opcode in [OpCode::Binary, OpCode::Text] {
        let payload: Vec<u8> = if opcode == OpCode::Text {
            payload.iter().map(|b| b'a' + b % 26).collect()
        } else {
            payload.clone()
        };
        let wire = masked(opcode, &payload, true);
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&wire[..1000]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        let start = buf.as_ptr() as usize;
        assert!(buf.capacity() >= wire.len(), "reserved for the whole frame");
        let mut event = None;
        for piece in wire[1000..].chunks(4096) {
            assert!(event.is_none());
            buf.extend_from_slice(piece);
            event = d.decode(&mut buf).unwrap();
        }
        let data = match event.expect("the frame completes") {
            Event::Binary(b) | Event::Text(b) => b,
            other => panic!("{other:?}"),
        };
        assert_eq!(&data[..], &payload[..]);
        let header = wire.len() - payload.len();
        assert_eq!(
            data.as_ptr() as usize,
            start + header,
            "split out of the read buffer"
        );
        assert!(buf.is_empty());
    }
}

// ---- encoder ----

#[test]
fn encode_close_variants() {
    let mut b = BytesMut::new();
    encode_close(&mut b, None, "ignored");
    assert_eq!(&b[..], &[0x88, 0x00]);
    let mut b = BytesMut::new();
    encode_close(&mut b, Some(1000), "bye");
    assert_eq!(&b[..], &[0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    // 122 ASCII + a 2-byte char straddling the 123-byte limit: char dropped.
    let reason = format!("{}é", "a".repeat(122));
    let mut b = BytesMut::new();
    encode_close(&mut b, Some(1001), &reason);
    assert_eq!(b[1] as usize, 2 + 122);
    assert!(std::str::from_utf8(&b[4..]).is_ok());
    let long = "é".repeat(200);
    let mut b = BytesMut::new();
    encode_close(&mut b, Some(1001), &long);
    assert!(b[1] <= 125);
    assert_eq!(b[1] as usize, 2 + 122);
}

#[test]
fn longest_header_is_14_bytes() {
    let mut b = BytesMut::new();
    masked_into(&mut b, OpCode::Binary, &vec![0; 70000], true, MASK);
    assert_eq!(b.len() - 70000, 14);
}

#[test]
fn rsv1_and_mask_bits() {
    let mut b = BytesMut::new();
    let header = FrameHeader {
        fin: false,
        rsv1: true,
        mask: Some(MASK),
        ..FrameHeader::new(OpCode::Text, 5)
    };
    encode_frame(&mut b, header, b"Hello");
    assert_eq!(
        &b[..],
        &[0x41, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
    // The header alone, for a payload written separately.
    let mut h = BytesMut::new();
    header.encode(&mut h);
    assert_eq!(&h[..], &b[..6]);
}

#[test]
#[should_panic(expected = "frame header length must match the payload")]
fn encode_frame_refuses_a_length_mismatch() {
    let mut b = BytesMut::new();
    encode_frame(&mut b, FrameHeader::new(OpCode::Binary, 4), b"abc");
}
