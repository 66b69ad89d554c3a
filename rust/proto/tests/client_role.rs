//! The decoder in the client role: server frames are unmasked, and a masked
//! one fails the connection with 1002 (RFC 6455 §5.1).

use bytes::BytesMut;
use ferrosocket_proto::{
    encode_close_masked, encode_frame, Decoder, DecoderConfig, Event, FrameHeader, MaskKeys,
    OpCode, ProtocolError, Role,
};

fn client_decoder() -> Decoder {
    Decoder::new(DecoderConfig::default()).with_role(Role::Client)
}

#[test]
fn reads_unmasked_frames_in_any_chunking() {
    let mut wire = BytesMut::new();
    encode_frame(&mut wire, FrameHeader::new(OpCode::Text, 5), b"hello");
    let big = vec![7u8; 70_000];
    encode_frame(&mut wire, FrameHeader::new(OpCode::Binary, big.len()), &big);
    encode_frame(&mut wire, FrameHeader::new(OpCode::Ping, 2), b"hi");
    for chunk in [1, 3, 1000, wire.len()] {
        let mut d = client_decoder();
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(e) = d.decode(&mut buf).unwrap() {
                events.push(e);
            }
        }
        assert_eq!(
            events,
            [
                Event::Text("hello".into()),
                Event::Binary(big.clone().into()),
                Event::Ping("hi".into())
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn refuses_masked_frames_and_the_server_refuses_unmasked() {
    let mut masked = BytesMut::new();
    encode_close_masked(
        &mut masked,
        Some(1000),
        "bye",
        Some(MaskKeys::new().next_key()),
    );
    let err = client_decoder().decode(&mut masked.clone()).unwrap_err();
    assert_eq!(
        (err.clone(), err.close_code()),
        (ProtocolError::MaskedFrame, 1002)
    );
    // The same bytes are a valid frame for a server, which gets the close.
    let event = Decoder::default().decode(&mut masked).unwrap().unwrap();
    assert!(matches!(event, Event::Close(Some(f)) if f.code == 1000 && f.reason == "bye"));
    let mut plain = BytesMut::new();
    encode_frame(&mut plain, FrameHeader::new(OpCode::Text, 1), b"x");
    assert_eq!(
        Decoder::default().decode(&mut plain),
        Err(ProtocolError::UnmaskedFrame)
    );
}
