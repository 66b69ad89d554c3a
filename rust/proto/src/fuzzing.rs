//! Fuzz target bodies, shared by `rust/fuzz` (libFuzzer, nightly) and by the
//! bounded property tests in `tests/fuzz_bodies.rs` (stable `cargo test`), so
//! CI exercises the exact code the fuzzer runs. Each body checks invariants
//! with `assert!`: any panic is a finding.

use bytes::BytesMut;

use crate::frame::{Decoder, DecoderConfig, Event};
use crate::handshake::{parse_request, HttpLimits, ParsedRequest};

/// Feed `data[1..]` to a decoder in chunks of `data[0]` bytes (at least 1),
/// with small limits so size errors are reachable. Never panics on any input.
pub fn decode_frames(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = Decoder::new(DecoderConfig {
        max_frame_size: 4096,
        max_message_size: 8192,
    });
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(event)) => {
                    assert!(buf.len() < before, "an event must consume bytes");
                    match event {
                        Event::Text(t) => {
                            assert!(std::str::from_utf8(&t).is_ok());
                            assert!(t.len() <= 8192);
                        }
                        Event::Binary(b) => assert!(b.len() <= 8192),
                        Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
                        Event::Close(Some(c)) => {
                            assert!(crate::close::is_valid_close_code(c.code));
                            assert!(c.reason.len() <= 123);
                        }
                        Event::Close(None) => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                    // Sticky error.
                    assert_eq!(decoder.decode(&mut buf), Err(e));
                    return;
                }
            }
        }
    }
}

/// Parse `data` as a request head with default and tiny limits; check that
/// `consumed` is in range, that results are stable under extra trailing
/// bytes, and that error responses are well-formed.
pub fn parse_handshake(data: &[u8]) {
    for limits in [
        HttpLimits::default(),
        HttpLimits {
            max_request_line: 32,
            max_headers_size: 64,
            max_headers: 4,
        },
    ] {
        match parse_request(data, &limits) {
            Ok(Some((req, consumed))) => {
                assert!(consumed > 0 && consumed <= data.len());
                // The head alone parses to the same length.
                let again = parse_request(&data[..consumed], &limits);
                assert!(matches!(again, Ok(Some((_, n))) if n == consumed));
                if let ParsedRequest::Upgrade(r) = req {
                    assert_eq!(r.key.len(), 24);
                    let accept = crate::handshake::accept_key(&r.key);
                    assert_eq!(accept.len(), 28);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let resp = e.response();
                assert!(resp.starts_with(format!("HTTP/1.1 {} ", e.status).as_bytes()));
                assert!(matches!(e.status, 400 | 405 | 426 | 431));
            }
        }
    }
}
