//! The client: `connect` over TCP, TLS or a Unix socket, onto the same
//! connection machinery as the server ([`Conn`] in the client role, the
//! connection task of `io.rs`), so a client [`WebSocket`] has exactly
//! the server's API and behaviour: same queues, limits, keepalive, close
//! handshake and compression.
//!
//! Only the opening handshake is client-specific, and it is done here before
//! the task starts: write the request (proto's [`build_request`]), read and
//! check the response ([`parse_response`], [`check_response`], permessage-deflate's
//! [`accept_response`]), and for a refusal read its body so the caller can
//! report status, headers and body. The whole of it (connect, TLS, request,
//! response) is bounded by `open_timeout`.

mod handshake;
pub mod tls;
pub mod uri;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrosocket_proto::{ClientHandshakeError, HandshakeResponse};
use tokio::net::{TcpStream, UnixStream};

use crate::config::WebSocketConfig;
use crate::conn::Conn;
use crate::websocket::WebSocket;

pub use tls::ClientTls;
pub use uri::WsUri;

use ferrosocket_proto::{accept_response, check_response, parse_response};

/// Settings of one client connection.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers (`Origin`, `Authorization`, `Cookie`, …).
    pub headers: Vec<(String, String)>,
    /// Offer permessage-deflate with `websocket.deflate` (read from the
    /// client's side, see `ferrosocket_proto::deflate::client`). Default `true`.
    pub compression: bool,
    /// Bound on connecting, TLS and the HTTP exchange. Default 10 s.
    pub open_timeout: Duration,
    /// Limits, keepalive, timeouts and compression settings of the connection.
    pub websocket: WebSocketConfig,
    /// TLS settings for `wss://`.
    pub tls: ClientTls,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            subprotocols: Vec::new(),
            headers: Vec::new(),
            compression: true,
            open_timeout: Duration::from_secs(10),
            websocket: WebSocketConfig {
                deflate: ferrosocket_proto::DeflateConfig::client(),
                ..WebSocketConfig::default()
            },
            tls: ClientTls::default(),
        }
    }
}

/// What the server's 101 agreed to.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The negotiated extensions as the server wrote them, e.g.
    /// `["permessage-deflate; server_max_window_bits=12"]`.
    pub extensions: Vec<String>,
    /// The whole response head.
    pub response: HandshakeResponse,
}

/// Why `connect` failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The URI is not a usable `ws://` or `wss://` URI.
    InvalidUri(String),
    /// Resolving, connecting or reading failed, or the server closed early.
    Io(io::Error),
    /// `open_timeout` passed.
    Timeout,
    /// TLS setup or the TLS handshake failed (certificate, name, protocol).
    Tls(String),
    /// The server answered with a status other than 101.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, String)>,
        /// The response body (at most 64 KiB of it).
        body: Vec<u8>,
    },
    /// The 101 broke RFC 6455 (accept key, subprotocol, extensions) or the
    /// request could not be built.
    Handshake(String),
    /// The settings are invalid (see [`WebSocketConfig::validate`]).
    Config(crate::config::ConfigError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidUri(why) => write!(f, "invalid WebSocket URI {why}"),
            ConnectError::Io(e) => write!(f, "connection failed: {e}"),
            ConnectError::Timeout => f.write_str("timed out during the opening handshake"),
            ConnectError::Tls(why) => write!(f, "TLS failed: {why}"),
            ConnectError::Refused { status, .. } => {
                write!(f, "server rejected WebSocket connection: HTTP {status}")
            }
            ConnectError::Handshake(why) => write!(f, "invalid handshake: {why}"),
            ConnectError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        ConnectError::Io(e)
    }
}

impl From<ClientHandshakeError> for ConnectError {
    fn from(e: ClientHandshakeError) -> Self {
        ConnectError::Handshake(e.to_string())
    }
}

/// Connect to a `ws://` or `wss://` URI; must run inside a tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut ws, _handshake) =
///     ferrosocket::connect("ws://127.0.0.1:8765/echo", &Default::default()).await?;
/// ws.send_text("hello").await?;
/// println!("{:?}", ws.receive().await?);
/// # Ok(()) }
/// ```
pub async fn connect(
    uri: &str,
    config: &ClientConfig,
) -> Result<(WebSocket, Handshake), ConnectError> {
    let (conn, handshake) = connect_conn(uri, None, config).await?;
    Ok((WebSocket::from_conn(conn), handshake))
}

/// [`connect`] through the Unix socket at `path`; `uri` still gives the
/// `Host` header and the request target (`ws://localhost/path`).
pub async fn connect_unix(
    path: impl AsRef<Path>,
    uri: &str,
    config: &ClientConfig,
) -> Result<(WebSocket, Handshake), ConnectError> {
    let (conn, handshake) = connect_conn(uri, Some(path.as_ref()), config).await?;
    Ok((WebSocket::from_conn(conn), handshake))
}

/// [`connect`] returning the shared connection state (for the Python binding).
pub async fn connect_conn(
    uri: &str,
    unix: Option<&Path>,
    config: &ClientConfig,
) -> Result<(Arc<Conn>, Handshake), ConnectError> {
    config.websocket.validate().map_err(ConnectError::Config)?;
    let uri = WsUri::parse(uri)?;
    let deadline = tokio::time::Instant::now() + config.open_timeout;
    let opening = async {
        if let Some(path) = unix {
            let stream = UnixStream::connect(path).await?;
            return handshake::run(stream, &uri, config, None).await;
        }
        let tcp = TcpStream::connect((uri.host.as_str(), uri.port)).await?;
        let peer = tcp.peer_addr().ok();
        if uri.secure {
            let (tls, name) = tls::client_config(&config.tls, &uri.host)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| match e.get_ref() {
                    Some(inner) => ConnectError::Tls(inner.to_string()),
                    None => ConnectError::Io(e),
                })?;
            handshake::run(stream, &uri, config, peer).await
        } else {
            handshake::run(tcp, &uri, config, peer).await
        }
    };
    tokio::time::timeout_at(deadline, opening)
        .await
        .map_err(|_| ConnectError::Timeout)?
}

/// Check the 101 and the extensions it agreed to.
fn agree(
    response: HandshakeResponse,
    key: &str,
    config: &ClientConfig,
) -> Result<(Handshake, Option<ferrosocket_proto::DeflateParams>), ConnectError> {
    let accepted = check_response(&response, key, &config.subprotocols)?;
    let deflate = if config.compression {
        accept_response(&accepted.extensions, &config.websocket.deflate)
            .map_err(|e| ConnectError::Handshake(e.to_owned()))?
    } else if accepted.extensions.iter().any(|e| !e.trim().is_empty()) {
        return Err(ConnectError::Handshake(
            "server accepted an extension that was not offered".into(),
        ));
    } else {
        None
    };
    let handshake = Handshake {
        subprotocol: accepted.subprotocol,
        extensions: accepted.extensions,
        response,
    };
    Ok((handshake, deflate))
}

fn parse(buf: &[u8]) -> Result<Option<(HandshakeResponse, usize)>, ConnectError> {
    Ok(parse_response(
        buf,
        &ferrosocket_proto::HttpLimits::default(),
    )?)
}
