//! The opening handshake through the public API: the RFC 6455 §1.3 accept
//! vector, every refusal status, limits, and the responses.

use ferrosocket_proto::{
    accept_key, build_accept_response, build_response, parse_request, HandshakeRequest, HttpLimits,
    ParsedRequest,
};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(lines: &[&str]) -> Vec<u8> {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn valid_lines() -> Vec<&'static str> {
    vec![
        "GET /chat?room=1&x=y HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Protocol: v2",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Version: 13",
    ]
}

fn upgrade(buf: &[u8]) -> (HandshakeRequest, usize) {
    match parse_request(buf, &HttpLimits::default()) {
        Ok(Some((ParsedRequest::Upgrade(r), n))) => (r, n),
        other => panic!("expected upgrade, got {other:?}"),
    }
}

fn status(buf: &[u8]) -> u16 {
    match parse_request(buf, &HttpLimits::default()) {
        Err(e) => e.status,
        other => panic!("expected error, got {other:?}"),
    }
}

fn with_replaced(prefix: &str, replacement: Option<&'static str>) -> Vec<u8> {
    let mut lines: Vec<&str> = valid_lines()
        .into_iter()
        .filter(|l| !l.starts_with(prefix))
        .collect();
    if let Some(r) = replacement {
        lines.push(r);
    }
    request(&lines)
}

#[test]
fn rfc_accept_vector() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn valid_request_with_pipelined_frame() {
    let mut buf = request(&valid_lines());
    let head_len = buf.len();
    buf.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4]);
    let (r, n) = upgrade(&buf);
    assert_eq!(n, head_len, "pipelined bytes are not consumed");
    assert_eq!(r.method, "GET");
    assert_eq!(r.path(), "/chat");
    assert_eq!(r.query(), "room=1&x=y");
    assert_eq!(r.key, KEY);
    assert_eq!(r.subprotocols, ["chat", "superchat", "v2"]);
    assert_eq!(r.extensions, ["permessage-deflate; client_max_window_bits"]);
    assert_eq!(r.header("ORIGIN"), Some("http://example.com"));
    assert_eq!(r.header("sec-websocket-protocol"), Some("chat, superchat"));
    assert_eq!(r.headers.len(), 9);
    assert_eq!(r.headers[0].0, "Host", "names as sent");
}

#[test]
fn partial_request_needs_more() {
    let buf = request(&valid_lines());
    for cut in [0, 1, 10, buf.len() / 2, buf.len() - 1] {
        assert!(
            matches!(parse_request(&buf[..cut], &HttpLimits::default()), Ok(None)),
            "cut {cut}"
        );
    }
}

#[test]
fn connection_token_list_and_case() {
    let buf = with_replaced("Connection", Some("connection: keep-alive, Upgrade"));
    upgrade(&buf);
    let buf = with_replaced("Upgrade", Some("upgrade: WebSocket"));
    upgrade(&buf);
    let buf = with_replaced("Connection", Some("Connection: keep-alive"));
    assert_eq!(status(&buf), 400);
    let buf = with_replaced("Connection", None);
    assert_eq!(status(&buf), 400);
}

#[test]
fn key_rules() {
    assert_eq!(status(&with_replaced("Sec-WebSocket-Key", None)), 400);
    let mut lines = valid_lines();
    lines.push("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(status(&request(&lines)), 400, "duplicate key");
    // 15 bytes, not base64, 17 bytes.
    for bad in [
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA",
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==",
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=",
        "Sec-WebSocket-Key: ",
    ] {
        let e = parse_request(
            &with_replaced("Sec-WebSocket-Key", Some(bad)),
            &HttpLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.status, 400, "{bad}");
    }
}

#[test]
fn version_8_is_426_with_header() {
    let buf = with_replaced("Sec-WebSocket-Version", Some("Sec-WebSocket-Version: 8"));
    let e = parse_request(&buf, &HttpLimits::default()).unwrap_err();
    assert_eq!(e.status, 426);
    let resp = String::from_utf8(e.response()).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{resp}"
    );
    assert!(resp.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{resp}");
    assert!(resp.contains("\r\nConnection: close\r\n"), "{resp}");
    assert_eq!(status(&with_replaced("Sec-WebSocket-Version", None)), 426);
}

#[test]
fn post_is_405() {
    let mut lines = valid_lines();
    lines[0] = "POST /chat HTTP/1.1";
    let e = parse_request(&request(&lines), &HttpLimits::default()).unwrap_err();
    assert_eq!(e.status, 405);
    let resp = String::from_utf8(e.response()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(resp.contains("\r\nAllow: GET\r\n"));
}

#[test]
fn http10_and_missing_host_are_400() {
    let mut lines = valid_lines();
    lines[0] = "GET /chat HTTP/1.0";
    assert_eq!(status(&request(&lines)), 400);
    assert_eq!(status(&with_replaced("Host", None)), 400);
}

#[test]
fn smuggling_is_400() {
    let mut lines = valid_lines();
    lines.push("Transfer-Encoding: chunked");
    assert_eq!(status(&request(&lines)), 400);
    let mut lines = valid_lines();
    lines.push("Content-Length: 5");
    assert_eq!(status(&request(&lines)), 400);
    let mut lines = valid_lines();
    lines.push("Content-Length: 0");
    upgrade(&request(&lines));
    lines.push("Content-Length: 0");
    assert_eq!(status(&request(&lines)), 400, "duplicate Content-Length");
}

#[test]
fn oversize_is_431() {
    let limits = HttpLimits {
        max_request_line: 64,
        max_headers_size: 256,
        max_headers: 8,
    };
    // Request line too long, even incomplete.
    let long = format!("GET /{} HTTP/1.1", "a".repeat(100));
    let e = parse_request(long.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.status, 431);
    // Header block too large while still incomplete.
    let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
    buf.extend(format!("X-Big: {}\r\n", "b".repeat(300)).bytes());
    assert_eq!(parse_request(&buf, &limits).unwrap_err().status, 431);
    // Too many headers.
    let mut lines = vec!["GET / HTTP/1.1"];
    lines.extend(std::iter::repeat_n("X: y", 9));
    assert_eq!(
        parse_request(&request(&lines), &limits).unwrap_err().status,
        431
    );
    // Just within limits: fine.
    let mut lines = vec!["GET / HTTP/1.1"];
    lines.extend(std::iter::repeat_n("X: y", 8));
    assert!(parse_request(&request(&lines), &limits).unwrap().is_some());
    let resp = String::from_utf8(e.response()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

#[test]
fn plain_get_is_http() {
    let buf = request(&["GET /index.html?a=b HTTP/1.1", "Host: x"]);
    match parse_request(&buf, &HttpLimits::default()) {
        Ok(Some((ParsedRequest::Http(r), n))) => {
            assert_eq!(n, buf.len());
            assert_eq!(r.path(), "/index.html");
            assert_eq!(r.query(), "a=b");
            assert!(r.key.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_is_400() {
    assert_eq!(status(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
    assert_eq!(status(b"\x01\x02 garbage\r\n\r\n"), 400);
}

#[test]
fn path_forms() {
    let mut r = HandshakeRequest {
        method: "GET".into(),
        target: "http://h:80/a/b?q=1".into(),
        headers: vec![],
        key: String::new(),
        subprotocols: vec![],
        extensions: vec![],
    };
    assert_eq!((r.path(), r.query()), ("/a/b", "q=1"));
    r.target = "/".into();
    assert_eq!((r.path(), r.query()), ("/", ""));
    r.target = "/p?".into();
    assert_eq!((r.path(), r.query()), ("/p", ""));
}

#[test]
fn accept_response_shape() {
    let extra = vec![
        ("X-A".to_owned(), "1".to_owned()),
        ("X-Evil".to_owned(), "a\r\nSet-Cookie: x".to_owned()),
    ];
    let r = String::from_utf8(build_accept_response(
        KEY,
        Some("chat"),
        Some("permessage-deflate"),
        &extra,
    ))
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(r.contains("\r\nUpgrade: websocket\r\n"));
    assert!(r.contains("\r\nConnection: Upgrade\r\n"));
    assert!(r.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(r.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    assert!(r.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
    assert!(r.contains("\r\nX-A: 1\r\n"));
    assert!(!r.contains("Set-Cookie"), "CRLF injection dropped");
    assert!(r.ends_with("\r\n\r\n"));
    let bare = String::from_utf8(build_accept_response(KEY, None, None, &[])).unwrap();
    assert!(!bare.contains("Sec-WebSocket-Protocol") && !bare.contains("Extensions"));
}

#[test]
fn build_response_statuses() {
    for (code, phrase) in [
        (101, "Switching Protocols"),
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (426, "Upgrade Required"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
    ] {
        let r = build_response(code, &[], b"");
        assert!(
            r.starts_with(format!("HTTP/1.1 {code} {phrase}\r\n").as_bytes()),
            "{code}"
        );
    }
    let r = String::from_utf8(build_response(404, &[], b"nope")).unwrap();
    assert_eq!(
        r,
        "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    );
    let r = String::from_utf8(build_response(
        200,
        &[("connection".into(), "keep-alive".into())],
        b"",
    ))
    .unwrap();
    assert!(!r.contains("close") && r.contains("connection: keep-alive\r\n"));
}
