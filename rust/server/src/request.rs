//! What the server knows about a connection's upgrade request.

use std::net::SocketAddr;

use ferrosocket_proto::HandshakeRequest;

/// The HTTP upgrade request of a connection, kept for the application
/// (Starlette's `path`, `query_params`, `headers`, `client`, `subprotocols`).
#[derive(Clone, Debug)]
pub struct Request {
    head: HandshakeRequest,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    secure: bool,
}

impl Request {
    pub(crate) fn new(
        head: HandshakeRequest,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Self {
        Request {
            head,
            peer,
            local,
            secure: false,
        }
    }

    pub(crate) fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Whether the connection came over TLS (wss://).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// A request for a stream upgraded elsewhere ([`crate::WebSocket::new`]):
    /// only the key is known.
    pub(crate) fn from_key(key: String, peer: Option<SocketAddr>) -> Self {
        let head = HandshakeRequest {
            method: "GET".into(),
            target: "/".into(),
            headers: Vec::new(),
            key,
            subprotocols: Vec::new(),
            extensions: Vec::new(),
        };
        Request {
            head,
            peer,
            local: None,
            secure: false,
        }
    }

    /// The parsed request head.
    pub fn head(&self) -> &HandshakeRequest {
        &self.head
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The raw query string (without `?`), empty if none.
    pub fn query(&self) -> &str {
        self.head.query()
    }

    /// The request target as sent (path and query).
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// Header names and values in the order they were sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.head.headers
    }

    /// The first value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Subprotocols the client offered, in its order of preference.
    pub fn subprotocols(&self) -> &[String] {
        &self.head.subprotocols
    }

    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &str {
        &self.head.key
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The server address the client connected to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }
}
