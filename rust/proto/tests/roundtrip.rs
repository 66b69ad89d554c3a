//! Property tests of the codec: what a client encodes, the server decodes to
//! the same events, however TCP splits the byte stream.

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{
    apply_mask, encode_frame, CloseFrame, Decoder, DecoderConfig, Event, FrameHeader, OpCode,
    ProtocolError,
};
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

#[derive(Debug, Clone)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

#[derive(Debug, Clone)]
enum Item {
    Control(Control),
    /// A data message: fragments, each followed by control frames sent before the next.
    Data {
        text: bool,
        fragments: Vec<(Vec<u8>, Vec<Control>)>,
    },
}

fn control() -> impl Strategy<Value = Control> {
    let close_code = prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Control::Ping),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Control::Pong),
        prop::option::of((close_code, "[a-zé€]{0,30}")).prop_map(Control::Close),
    ]
}

/// Split `data` into `n` pieces at arbitrary points (pieces may be empty).
fn split(data: Vec<u8>, cuts: Vec<prop::sample::Index>) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for p in points {
        out.push(data[prev..p].to_vec());
        prev = p;
    }
    out.push(data[prev..].to_vec());
    out
}

fn item() -> impl Strategy<Value = Item> {
    let text = (
        ".{0,40}",
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(s, cuts)| (true, split(s.into_bytes(), cuts)));
    let binary = (
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(b, cuts)| (false, split(b, cuts)));
    prop_oneof![
        control().prop_map(Item::Control),
        (
            prop_oneof![text, binary],
            prop::collection::vec(prop::collection::vec(control(), 0..2), 4)
        )
            .prop_map(|((text, frags), ctrls)| Item::Data {
                text,
                fragments: frags.into_iter().zip(ctrls.into_iter().cycle()).collect(),
            }),
    ]
}

fn encode_control(wire: &mut BytesMut, c: &Control, mask: [u8; 4]) -> Event {
    match c {
        Control::Ping(p) => {
            masked_into(wire, OpCode::Ping, p, true, mask);
            Event::Ping(Bytes::from(p.clone()))
        }
        Control::Pong(p) => {
            masked_into(wire, OpCode::Pong, p, true, mask);
            Event::Pong(Bytes::from(p.clone()))
        }
        Control::Close(None) => {
            masked_into(wire, OpCode::Close, b"", true, mask);
            Event::Close(None)
        }
        Control::Close(Some((code, reason))) => {
            let mut p = code.to_be_bytes().to_vec();
            p.extend_from_slice(reason.as_bytes());
            masked_into(wire, OpCode::Close, &p, true, mask);
            Event::Close(Some(CloseFrame {
                code: *code,
                reason: reason.clone(),
            }))
        }
    }
}

/// Encode items as a client would; return the wire bytes and the expected events.
fn encode(items: &[Item], mask: [u8; 4]) -> (Vec<u8>, Vec<Event>) {
    let mut wire = BytesMut::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::Control(c) => expected.push(encode_control(&mut wire, c, mask)),
            Item::Data { text, fragments } => {
                let last = fragments.len() - 1;
                let mut whole = Vec::new();
                for (i, (frag, ctrls)) in fragments.iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    masked_into(&mut wire, op, frag, i == last, mask);
                    whole.extend_from_slice(frag);
                    if i != last {
                        for c in ctrls {
                            expected.push(encode_control(&mut wire, c, mask));
                        }
                    }
                }
                expected.push(if *text {
                    Event::Text(Bytes::from(whole))
                } else {
                    Event::Binary(Bytes::from(whole))
                });
            }
        }
    }
    (wire.to_vec(), expected)
}

/// Feed `wire` in chunks whose sizes cycle through `sizes`.
fn decode_chunked(
    wire: &[u8],
    sizes: &[usize],
    config: DecoderConfig,
) -> Result<Vec<Event>, ProtocolError> {
    let mut d = Decoder::new(config);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut pos = 0;
    let mut sizes = sizes.iter().cycle();
    while pos < wire.len() {
        let n = (*sizes.next().unwrap()).min(wire.len() - pos);
        buf.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        while let Some(e) = d.decode(&mut buf)? {
            events.push(e);
        }
    }
    assert!(buf.is_empty(), "all complete frames consumed");
    assert_eq!(d.buffered_capacity(), 0, "no message left in progress");
    Ok(events)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn roundtrip_any_chunking(
        items in prop::collection::vec(item(), 0..8),
        sizes in prop::collection::vec(1usize..64, 1..8),
        mask in any::<[u8; 4]>(),
    ) {
        let (wire, expected) = encode(&items, mask);
        let got = decode_chunked(&wire, &sizes, DecoderConfig::default()).unwrap();
        prop_assert_eq!(&got, &expected);
        // Whole-buffer decoding (fast path) agrees with chunked decoding.
        let whole = decode_chunked(&wire, &[wire.len().max(1)], DecoderConfig::default()).unwrap();
        prop_assert_eq!(whole, expected);
    }

    #[test]
    fn message_limit_is_exact(
        frags in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 1..5),
        limit in 0usize..200,
        sizes in prop::collection::vec(1usize..16, 1..4),
    ) {
        let total: usize = frags.iter().map(Vec::len).sum();
        let items = [Item::Data { text: false, fragments: frags.into_iter().map(|f| (f, vec![])).collect() }];
        let (wire, expected) = encode(&items, [1, 2, 3, 4]);
        let config = DecoderConfig { max_frame_size: usize::MAX, max_message_size: limit };
        let got = decode_chunked(&wire, &sizes, config);
        if total <= limit {
            prop_assert_eq!(got.unwrap(), expected);
        } else {
            prop_assert_eq!(got.unwrap_err(), ProtocolError::MessageTooLarge);
        }
    }

    #[test]
    fn text_fails_in_the_chunk_with_the_bad_byte(
        prefix in ".{0,20}",
        bad in prop_oneof![Just(0xffu8), Just(0xc0), Just(0x80), Just(0xfe)],
        suffix in ".{0,20}",
        sizes in prop::collection::vec(1usize..8, 1..4),
    ) {
        let mut payload = prefix.clone().into_bytes();
        payload.push(bad);
        payload.extend_from_slice(suffix.as_bytes());
        let mut wire = BytesMut::new();
        masked_into(&mut wire, OpCode::Text, &payload, true, [9, 8, 7, 6]);
        // Header is 6 bytes for payload <= 125 (prefix/suffix are <= 80 bytes each).
        let header = if payload.len() < 126 { 6 } else { 8 };
        let bad_pos = header + prefix.len();
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut pos = 0;
        let mut sizes = sizes.iter().cycle();
        loop {
            let n = (*sizes.next().unwrap()).min(wire.len() - pos);
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            let r = d.decode(&mut buf);
            if pos <= bad_pos {
                prop_assert_eq!(r, Ok(None), "failed before the bad byte arrived");
            } else {
                prop_assert_eq!(r, Err(ProtocolError::InvalidUtf8), "not failed once bad byte arrived");
                break;
            }
        }
    }

    #[test]
    fn apply_mask_matches_naive(
        data in prop::collection::vec(any::<u8>(), 0..200),
        mask in any::<[u8; 4]>(),
        offset in 0usize..16,
    ) {
        let mut fast = data.clone();
        apply_mask(&mut fast, mask, offset);
        let naive: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[(offset + i) % 4]).collect();
        prop_assert_eq!(&fast, &naive);
        // Involution.
        apply_mask(&mut fast, mask, offset);
        prop_assert_eq!(fast, data);
    }
}

#[test]
fn apply_mask_every_length_and_offset() {
    let mut seed = 0x1234_5678u32;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for len in 0..=72usize {
        for offset in 0..4 {
            for _ in 0..8 {
                let mask = rnd().to_le_bytes();
                let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
                let mut fast = data.clone();
                apply_mask(&mut fast, mask, offset);
                for (i, (f, d)) in fast.iter().zip(&data).enumerate() {
                    assert_eq!(
                        *f,
                        d ^ mask[(offset + i) % 4],
                        "len {len} offset {offset} i {i}"
                    );
                }
            }
        }
    }
}
