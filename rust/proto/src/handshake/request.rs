//! Parsing and checking the request head (RFC 6455 §4.2.1); the decisions
//! are listed in the [module docs](super).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::response::HandshakeError;

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
    /// The request method (`GET` for an upgrade).
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
