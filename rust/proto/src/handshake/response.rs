//! HTTP responses: the 101 that accepts an upgrade, and complete responses
//! for refusals and plain HTTP. Header pairs containing CR or LF are never
//! written (they would split the response).

use super::accept::accept_key;

/// A refused handshake: the HTTP status and a short human reason (the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    /// The HTTP status to answer with (400, 405, 426, 431, …).
    pub status: u16,
    /// A short human reason, sent as the body.
    pub reason: &'static str,
}

impl HandshakeError {
    pub(crate) const fn new(status: u16, reason: &'static str) -> Self {
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
/// are dropped (they would split the response); the server refuses them
/// earlier, with an error, so this is the last line of defence.
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
fn reason_phrase(status: u16) -> &'static str {
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
