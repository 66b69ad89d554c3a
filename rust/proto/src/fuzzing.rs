//! Fuzz target bodies, shared by `rust/fuzz` (libFuzzer, nightly) and by the
//! bounded property tests in `tests/fuzz_bodies.rs` (stable `cargo test`), so
//! CI exercises the exact code the fuzzer runs. Each body checks invariants
//! with `assert!`: any panic is a finding.

use bytes::BytesMut;

use crate::deflate::{negotiate, DeflateConfig, Inflater};
use crate::frame::{Decoder, DecoderConfig, Event};
use crate::handshake::{parse_request, HttpLimits, ParsedRequest};

/// Small limits, so that size errors are reachable.
const LIMITS: DecoderConfig = DecoderConfig {
    max_frame_size: 4096,
    max_message_size: 8192,
};

/// Feed `data[1..]` to a decoder in chunks of `data[0]` bytes (at least 1),
/// with small limits so size errors are reachable. Never panics on any input.
pub fn decode_frames(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    feed(Decoder::new(LIMITS), chunk, rest);
}

/// [`decode_frames`] with permessage-deflate agreed: `data[0]` is the chunk
/// size, `data[1]` picks the inflater (client window `8 + (b & 7)` bits, no
/// context takeover if `b & 8`), the rest is the wire. The message limit
/// then applies to inflated bytes, and corrupt compressed data must fail
/// with 1007, never panic.
pub fn decode_frames_deflate(data: &[u8]) {
    let [chunk, params, rest @ ..] = data else {
        return;
    };
    let inflater = Inflater::with_window(8 + (params & 7), params & 8 != 0);
    feed(Decoder::with_deflate(LIMITS, inflater), *chunk, rest);
}

fn feed(mut decoder: Decoder, chunk: u8, wire: &[u8]) {
    let chunk = usize::from(chunk).max(1);
    let max = LIMITS.max_message_size;
    let mut buf = BytesMut::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(event)) => {
                    assert!(buf.len() < before, "an event must consume bytes");
                    match event {
                        Event::Text(t) => {
                            assert!(std::str::from_utf8(&t).is_ok());
                            assert!(t.len() <= max);
                        }
                        Event::Binary(b) => assert!(b.len() <= max),
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
                    assert_eq!(decoder.buffered_capacity(), 0, "released on error");
                    // Sticky error.
                    assert_eq!(decoder.decode(&mut buf), Err(e));
                    return;
                }
            }
        }
    }
}

/// Read `data` as `Sec-WebSocket-Extensions` header values (one per line)
/// and negotiate permessage-deflate under the default and a restrictive
/// configuration. An agreement must respect the configuration, its answer
/// must be a clean header value announcing exactly the agreed parameters
/// (read back as an offer, it agrees on the same), and a disabled
/// configuration never agrees.
pub fn negotiate_deflate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let offers: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let strict = DeflateConfig {
        server_max_window_bits: 10,
        client_max_window_bits: 9,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    for config in [DeflateConfig::default(), strict] {
        let Some((params, response)) = negotiate(&offers, &config) else {
            continue;
        };
        assert!((8..=config.server_max_window_bits).contains(&params.server_max_window_bits));
        let client = params.client_max_window_bits;
        assert!(client == 15 || (8..=config.client_max_window_bits).contains(&client));
        assert!(params.server_no_context_takeover || !config.server_no_context_takeover);
        assert!(params.client_no_context_takeover || !config.client_no_context_takeover);
        assert!(response.starts_with("permessage-deflate"));
        assert!(response.is_ascii() && !response.contains(['\r', '\n']));
        assert_eq!(response, params.response_header());
        let again = negotiate(std::slice::from_ref(&response), &config);
        assert_eq!(again, Some((params, response)));
    }
    let disabled = DeflateConfig {
        enabled: false,
        ..DeflateConfig::default()
    };
    assert_eq!(negotiate(&offers, &disabled), None);
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
