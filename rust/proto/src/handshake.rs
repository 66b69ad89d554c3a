//! The HTTP/1.1 opening handshake (RFC 6455 §4.2), server side.
//!
//! [`parse_request`] takes the bytes read so far and either asks for more,
//! refuses the request with an HTTP status ([`HandshakeError`], whose
//! `response()` is ready to write), or returns the parsed head and how many
//! bytes it used. Bytes after the head (a client may pipeline its first frames
//! right behind the request) are left for the frame decoder.
//!
//! Decisions, with reasons:
//! * A request without `Upgrade: websocket` is returned as
//!   [`ParsedRequest::Http`], not refused, so the server can serve a page on
//!   the same port or answer 426 itself.
//! * Once `Upgrade: websocket` is present, every RFC 6455 §4.2.1 rule is
//!   checked here: a non-GET method is 405 (with `Allow: GET`), a missing
//!   `Host`, `Connection` without the `upgrade` token, or a bad key is 400,
//!   and a version other than 13 (or none) is 426 with
//!   `Sec-WebSocket-Version: 13`.
//! * Request smuggling: an upgrade carries no body, so any `Transfer-Encoding`
//!   or a `Content-Length` other than 0 is 400; two `Content-Length` headers
//!   are 400 on any request.
//! * Oversize input is 431 in every case (request line, header block, header
//!   count), even for a long request line where 414 would also fit: one status
//!   for "your request head is too big" keeps the server and tests simple.
//!   The limits are checked on incomplete input too, so a slow client cannot
//!   make us buffer without bound.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Limits on the request head.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Longest request line (method, target, version), without CRLF.
    pub max_request_line: usize,
    /// Largest header block (everything after the request line, up to and
    /// including the blank line).
    pub max_headers_size: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_request_line: 8 * 1024,
            max_headers_size: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// A parsed request head.
#[derive(Clone, Debug)]
pub struct HandshakeRequest {
    pub method: String,
    /// Raw request target, `path?query`.
    pub target: String,
    /// Header names as sent; values as lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Key` (validated); empty for [`ParsedRequest::Http`].
    pub key: String,
    /// From all `Sec-WebSocket-Protocol` headers, comma-split and trimmed.
    pub subprotocols: Vec<String>,
    /// Raw `Sec-WebSocket-Extensions` header values.
    pub extensions: Vec<String>,
}

impl HandshakeRequest {
    /// The target's path (before `?`). An absolute-form target
    /// (`http://host/p?q`) yields `/p`.
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let rest = &t[i + 3..];
                match rest.find(['/', '?']) {
                    Some(j) => &rest[j..],
                    None => "/",
                }
            }
            _ => t,
        };
        let p = t.split_once('?').map_or(t, |(p, _)| p);
        if p.is_empty() {
            "/"
        } else {
            p
        }
    }

    /// The query string after `?`, or `""`.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any `name` header's comma-separated list holds `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Result of parsing a complete request head.
#[derive(Clone, Debug)]
pub enum ParsedRequest {
    /// A valid WebSocket upgrade request.
    Upgrade(HandshakeRequest),
    /// A complete HTTP request that is not a WebSocket upgrade (no
    /// `Upgrade: websocket`): the server may answer it (static page) or refuse
    /// with 426.
    Http(HandshakeRequest),
}

/// A refused handshake: the HTTP status and a short human reason (the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    pub status: u16,
    pub reason: &'static str,
}

impl HandshakeError {
    const fn new(status: u16, reason: &'static str) -> Self {
        HandshakeError { status, reason }
    }

    /// The full HTTP response to send before closing the connection.
    pub fn response(&self) -> Vec<u8> {
        let mut headers = vec![(
            "Content-Type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        )];
        match self.status {
            426 => headers.push(("Sec-WebSocket-Version".into(), "13".into())),
            405 => headers.push(("Allow".into(), "GET".into())),
            _ => {}
        }
        build_response(self.status, &headers, self.reason.as_bytes())
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.reason
        )
    }
}

impl std::error::Error for HandshakeError {}

const TOO_LARGE: HandshakeError = HandshakeError::new(431, "request head too large");

/// Parse a request head from `buf`.
///
/// `Ok(None)`: incomplete, read more (but if `buf` already exceeds the limits
/// this is `Err` 431). `Ok(Some((req, consumed)))`: a complete head of
/// `consumed` bytes; anything after it belongs to the next layer.
pub fn parse_request(
    buf: &[u8],
    limits: &HttpLimits,
) -> Result<Option<(ParsedRequest, usize)>, HandshakeError> {
    // Request line length, checked before httparse so an endless line is refused.
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line_len = match line_end {
        Some(i) => i + 1,
        None if buf.len() > limits.max_request_line + 2 => return Err(TOO_LARGE),
        None => buf.len(),
    };
    if line_len > limits.max_request_line + 2 {
        return Err(TOO_LARGE);
    }
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len().saturating_sub(line_len) > limits.max_headers_size {
                return Err(TOO_LARGE);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(TOO_LARGE),
        Err(_) => return Err(HandshakeError::new(400, "malformed HTTP request")),
    };
    if consumed - line_len > limits.max_headers_size {
        return Err(TOO_LARGE);
    }
    let version = req.version.unwrap_or(0);
    let mut request = HandshakeRequest {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        key: String::new(),
        subprotocols: Vec::new(),
        extensions: Vec::new(),
    };

    let content_lengths: Vec<&str> = request.headers_named("content-length").collect();
    if content_lengths.len() > 1 {
        return Err(HandshakeError::new(400, "duplicate Content-Length"));
    }

    if !request.has_token("upgrade", "websocket") {
        return Ok(Some((ParsedRequest::Http(request), consumed)));
    }

    if request.method != "GET" {
        return Err(HandshakeError::new(405, "WebSocket upgrade requires GET"));
    }
    if version < 1 {
        return Err(HandshakeError::new(
            400,
            "WebSocket upgrade requires HTTP/1.1",
        ));
    }
    if request.headers_named("host").next().is_none() {
        return Err(HandshakeError::new(400, "missing Host header"));
    }
    if !request.has_token("connection", "upgrade") {
        return Err(HandshakeError::new(
            400,
            "Connection header must contain upgrade",
        ));
    }
    if request.headers_named("transfer-encoding").next().is_some()
        || content_lengths.iter().any(|v| v.trim() != "0")
    {
        return Err(HandshakeError::new(
            400,
            "WebSocket upgrade must not have a body",
        ));
    }
    let versions: Vec<&str> = request.headers_named("sec-websocket-version").collect();
    if versions.len() != 1 || versions[0].trim() != "13" {
        return Err(HandshakeError::new(
            426,
            "unsupported WebSocket version, use 13",
        ));
    }
    let keys: Vec<&str> = request.headers_named("sec-websocket-key").collect();
    let key = match keys.as_slice() {
        [] => return Err(HandshakeError::new(400, "missing Sec-WebSocket-Key")),
        [k] => k.trim(),
        _ => return Err(HandshakeError::new(400, "duplicate Sec-WebSocket-Key")),
    };
    if !valid_key(key) {
        return Err(HandshakeError::new(400, "invalid Sec-WebSocket-Key"));
    }
    request.key = key.to_owned();
    request.subprotocols = request
        .headers_named("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    request.extensions = request
        .headers_named("sec-websocket-extensions")
        .map(str::to_owned)
        .collect();
    Ok(Some((ParsedRequest::Upgrade(request), consumed)))
}

/// A key is the base64 encoding of exactly 16 bytes (24 characters).
fn valid_key(key: &str) -> bool {
    key.len() == 24 && BASE64.decode(key).is_ok_and(|k| k.len() == 16)
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §1.3).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    BASE64.encode(h.finalize())
}

/// Header text must not contain CR or LF (response splitting).
fn clean(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n')
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    if clean(name) && clean(value) && !name.is_empty() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The 101 response accepting the upgrade. Header pairs containing CR or LF
/// are dropped (they would split the response).
pub fn build_accept_response(
    key: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    push_header(&mut out, "Sec-WebSocket-Accept", &accept_key(key));
    if let Some(p) = subprotocol {
        push_header(&mut out, "Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        push_header(&mut out, "Sec-WebSocket-Extensions", e);
    }
    for (n, v) in extra_headers {
        push_header(&mut out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// A complete HTTP/1.1 response: status line with reason phrase, the
/// caller's headers (pairs with CR/LF dropped), `Content-Length` (unless
/// given, or the status forbids a body) and `Connection: close` unless the
/// caller provided a `Connection` header.
pub fn build_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for (n, v) in headers {
        push_header(&mut out, n, v);
    }
    let bodyless = status < 200 || status == 204 || status == 304;
    if !bodyless && !given("content-length") {
        push_header(&mut out, "Content-Length", &body.len().to_string());
    }
    if !given("connection") {
        push_header(&mut out, "Connection", "close");
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let resp = String::from_utf8(TOO_LARGE.response()).unwrap();
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
}
