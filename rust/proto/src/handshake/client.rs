//! The opening handshake from the client's side (RFC 6455 §4.1): the request
//! ([`build_request`], with a key from the OS CSPRNG), and the server's
//! response ([`parse_response`], then [`check_response`]).
//!
//! Decisions, with reasons:
//! * A header value with CR or LF is refused ([`ClientHandshakeError::InvalidHeader`]),
//!   never dropped: silently sending a request without the caller's
//!   `Authorization` would be worse than failing.
//! * Any status other than 101 is [`ClientHandshakeError::Refused`]: the
//!   caller reads the body (its length is in the returned headers) and
//!   reports status, headers and body to the application.
//! * A 101 is checked completely (§4.1, "the client MUST fail the connection"):
//!   `Upgrade: websocket`, `Connection: upgrade`, the exact
//!   `Sec-WebSocket-Accept`, a subprotocol only from those offered (and none
//!   when none was offered). Extensions are checked by the extension's own
//!   negotiation ([`crate::deflate::accept_response`]), since only it knows
//!   what was offered.
//! * The response head has the same size limits as a request head.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::accept::accept_key;
use super::request::HttpLimits;

/// Why a handshake failed on the client's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// A request header name or value contains CR or LF, or a name is empty.
    InvalidHeader(String),
    /// The response head is not valid HTTP/1.1.
    Malformed(&'static str),
    /// The response head exceeds the limits.
    TooLarge,
    /// The server answered with this status instead of 101.
    Refused(u16),
    /// A 101 that breaks RFC 6455 §4.1 (what is wrong, for the error message).
    Invalid(String),
}

impl std::fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientHandshakeError::InvalidHeader(h) => {
                write!(f, "invalid request header {h:?} (CR, LF or empty name)")
            }
            ClientHandshakeError::Malformed(why) => write!(f, "malformed HTTP response: {why}"),
            ClientHandshakeError::TooLarge => f.write_str("HTTP response head too large"),
            ClientHandshakeError::Refused(status) => {
                write!(f, "server rejected WebSocket connection: HTTP {status}")
            }
            ClientHandshakeError::Invalid(why) => write!(f, "invalid handshake response: {why}"),
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

/// What a client asks for in its upgrade request.
#[derive(Clone, Debug, Default)]
pub struct ClientRequest {
    /// The `Host` header: `host`, or `host:port` for a non-default port.
    pub host: String,
    /// The request target, `/path?query`.
    pub target: String,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` offer, if any.
    pub extensions: Option<String>,
    /// More headers (`Origin`, `Authorization`, cookies, …), sent as given.
    pub headers: Vec<(String, String)>,
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes from the OS CSPRNG, base64 (§4.1).
///
/// # Panics
///
/// If the OS has no entropy source (see [`crate::mask::MaskKeys::next_key`]).
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce).expect("the OS CSPRNG is unavailable");
    BASE64.encode(nonce)
}

fn clean(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// The request head for `req` with `key` (see [`generate_key`]).
pub fn build_request(req: &ClientRequest, key: &str) -> Result<Vec<u8>, ClientHandshakeError> {
    let mut out = Vec::with_capacity(256);
    if !clean(&req.target) || req.target.contains(' ') || !clean(&req.host) {
        return Err(ClientHandshakeError::InvalidHeader(req.target.clone()));
    }
    let target = if req.target.is_empty() {
        "/"
    } else {
        &req.target
    };
    out.extend_from_slice(format!("GET {target} HTTP/1.1\r\nHost: {}\r\n", req.host).as_bytes());
    out.extend_from_slice(
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
    );
    out.extend_from_slice(format!("Sec-WebSocket-Key: {key}\r\n").as_bytes());
    let mut push = |name: &str, value: &str| {
        if name.is_empty() || !clean(name) || !clean(value) || name.contains(':') {
            return Err(ClientHandshakeError::InvalidHeader(name.to_owned()));
        }
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        Ok(())
    };
    if !req.subprotocols.is_empty() {
        push("Sec-WebSocket-Protocol", &req.subprotocols.join(", "))?;
    }
    if let Some(ext) = &req.extensions {
        push("Sec-WebSocket-Extensions", ext)?;
    }
    for (name, value) in &req.headers {
        push(name, value)?;
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// A parsed response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// The HTTP status.
    pub status: u16,
    /// The reason phrase as sent.
    pub reason: String,
    /// Header names as sent; values as lossy UTF-8.
    pub headers: Vec<(String, String)>,
}

impl HandshakeResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name` (case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The declared body length (`Content-Length`), if any and valid.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.trim().parse().ok()
    }
}

/// Parse a response head from `buf`: `Ok(None)` when incomplete, else the
/// head and how many bytes it used (frames or a body may follow).
pub fn parse_response(
    buf: &[u8],
    limits: &HttpLimits,
) -> Result<Option<(HandshakeResponse, usize)>, ClientHandshakeError> {
    let max = limits.max_request_line + limits.max_headers_size + 2;
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut resp = httparse::Response::new(&mut storage);
    let consumed = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > max => return Err(ClientHandshakeError::TooLarge),
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max => {
            return Err(ClientHandshakeError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ClientHandshakeError::TooLarge),
        Err(_) => return Err(ClientHandshakeError::Malformed("not an HTTP/1.1 response")),
    };
    let head = HandshakeResponse {
        status: resp.code.unwrap_or(0),
        reason: resp.reason.unwrap_or("").to_owned(),
        headers: resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    };
    Ok(Some((head, consumed)))
}

/// What a valid 101 agreed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// Raw `Sec-WebSocket-Extensions` values of the response (check them
    /// with the extension's negotiation).
    pub extensions: Vec<String>,
}

/// Check a response head against the request that was sent with `key`
/// offering `subprotocols`.
pub fn check_response(
    resp: &HandshakeResponse,
    key: &str,
    subprotocols: &[String],
) -> Result<Accepted, ClientHandshakeError> {
    let invalid = |why: &str| Err(ClientHandshakeError::Invalid(why.to_owned()));
    if resp.status != 101 {
        return Err(ClientHandshakeError::Refused(resp.status));
    }
    let has_token = |name: &str, token: &str| {
        resp.headers_named(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token("upgrade", "websocket") {
        return invalid("missing Upgrade: websocket");
    }
    if !has_token("connection", "upgrade") {
        return invalid("missing Connection: upgrade");
    }
    let accepts: Vec<&str> = resp.headers_named("sec-websocket-accept").collect();
    match accepts.as_slice() {
        [a] if a.trim() == accept_key(key) => {}
        [_] => return invalid("wrong Sec-WebSocket-Accept"),
        [] => return invalid("missing Sec-WebSocket-Accept"),
        _ => return invalid("more than one Sec-WebSocket-Accept"),
    }
    let protocols: Vec<&str> = resp
        .headers_named("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let subprotocol = match protocols.as_slice() {
        [] => None,
        [p] if subprotocols.iter().any(|o| o == p) => Some((*p).to_owned()),
        [p] => {
            return Err(ClientHandshakeError::Invalid(format!(
                "server chose subprotocol {p:?}, which was not offered"
            )))
        }
        _ => return invalid("more than one subprotocol"),
    };
    Ok(Accepted {
        subprotocol,
        extensions: resp
            .headers_named("sec-websocket-extensions")
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(extra: &str, key: &str) -> HandshakeResponse {
        let raw = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\nrest",
            accept_key(key)
        );
        let (head, n) = parse_response(raw.as_bytes(), &HttpLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(&raw.as_bytes()[n..], b"rest");
        head
    }

    #[test]
    fn request_round_trips_through_the_server_parser() {
        let key = generate_key();
        assert_ne!(key, generate_key());
        let req = ClientRequest {
            host: "example.com:8080".into(),
            target: "/chat?x=1".into(),
            subprotocols: vec!["a".into(), "b".into()],
            extensions: Some("permessage-deflate".into()),
            headers: vec![("Origin".into(), "http://example.com".into())],
        };
        let bytes = build_request(&req, &key).unwrap();
        let parsed = crate::parse_request(&bytes, &HttpLimits::default())
            .unwrap()
            .unwrap();
        let crate::ParsedRequest::Upgrade(r) = parsed.0 else {
            panic!("not an upgrade")
        };
        assert_eq!(
            (r.key.as_str(), r.target.as_str()),
            (key.as_str(), "/chat?x=1")
        );
        assert_eq!(r.subprotocols, ["a", "b"]);
        assert_eq!(r.header("origin"), Some("http://example.com"));
        let bad = ClientRequest {
            headers: vec![("X".into(), "a\r\nEvil: 1".into())],
            ..req
        };
        assert!(matches!(
            build_request(&bad, &key),
            Err(ClientHandshakeError::InvalidHeader(_))
        ));
    }

    #[test]
    fn checks_accept_and_subprotocol() {
        let key = generate_key();
        let ok = check_response(&response("", &key), &key, &[]).unwrap();
        assert_eq!(ok.subprotocol, None);
        let other = generate_key();
        assert!(check_response(&response("", &other), &key, &[]).is_err());
        let chosen = response("Sec-WebSocket-Protocol: b\r\n", &key);
        let offered = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            check_response(&chosen, &key, &offered)
                .unwrap()
                .subprotocol
                .as_deref(),
            Some("b")
        );
        assert!(check_response(&chosen, &key, &offered[..1]).is_err());
        assert!(check_response(&chosen, &key, &[]).is_err());
    }

    #[test]
    fn refusal_keeps_status_and_body_length() {
        let raw = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope";
        let (head, n) = parse_response(raw, &HttpLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.status, head.content_length(), &raw[n..]),
            (403, Some(4), &b"nope"[..])
        );
        assert_eq!(
            check_response(&head, "k", &[]),
            Err(ClientHandshakeError::Refused(403))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 101", &HttpLimits::default()),
            Ok(None)
        );
        assert!(parse_response(b"garbage\r\n\r\n", &HttpLimits::default()).is_err());
    }
}
