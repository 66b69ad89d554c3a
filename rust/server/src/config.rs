//! Connection and server settings.
//!
//! Every limit that protects the server from a hostile or careless peer lives
//! here with its default, so the Rust API, the Python `WebSocketConfig` and the
//! CLI all describe the same knobs. Defaults follow what the field has settled
//! on: a 16 MiB message limit (uvicorn), a small inbound queue (websockets) and
//! write water marks in the tens of KiB, so a slow reader stalls its producer
//! instead of growing the process.

use std::time::Duration;

use ferrosocket_proto::{DeflateConfig, HttpLimits};

/// Per-connection protocol limits and buffering.
#[derive(Clone, Debug)]
pub struct WebSocketConfig {
    /// Largest message accepted, after reassembling fragments (close 1009 beyond).
    pub max_message_size: usize,
    /// Largest single frame accepted (close 1009 beyond).
    pub max_frame_size: usize,
    /// Messages held for the application before the reader stops reading the
    /// socket (TCP flow control then reaches the client).
    pub max_queue: usize,
    /// Bytes of queued messages at which reading pauses as well.
    pub max_queue_bytes: usize,
    /// Outbound bytes at which `send_*` starts waiting for the writer.
    pub write_high_water: usize,
    /// Outbound bytes at which waiting senders resume.
    pub write_low_water: usize,
    /// How long to wait for the peer's close frame (and its TCP close) after ours.
    pub close_timeout: Duration,
    /// Send a ping after this long without one; `None` disables keepalive.
    pub ping_interval: Option<Duration>,
    /// A ping unanswered for this long means the peer is gone: the
    /// connection closes with 1011.
    pub ping_timeout: Option<Duration>,
    /// Close (1001) a connection that has received no data message for this
    /// long (pings and pongs do not count, so keepalive does not defeat it).
    pub idle_timeout: Option<Duration>,
    /// A peer that accepts no bytes for this long while we have data for it
    /// is dropped (close code 1008 for the application), so a client that
    /// never reads cannot hold buffers forever.
    pub write_timeout: Duration,
    /// permessage-deflate (RFC 7692): offered by browsers on every
    /// connection and accepted by default. Compression runs on the writer
    /// task and decompression on the reader task, never on the
    /// application's thread.
    pub deflate: DeflateConfig,

    // ----- topics (see `crate::topics`) -----
    /// Bytes buffered for one connection beyond which a published message
    /// is not queued for it: dropped (counted), or with
    /// `close_on_backpressure_limit` the connection is closed with 1013.
    /// Default 1 MiB: about 16,000 64-byte messages of slack for a
    /// subscriber that falls behind, and a hard bound on what it can hold.
    /// Only `publish` checks it; a connection's own `send_*` wait at
    /// `write_high_water` instead. A connection with nothing buffered always
    /// takes one message, however large.
    pub backpressure_limit: usize,
    /// Close (1013, try again later) a subscriber that reaches
    /// `backpressure_limit`, instead of dropping messages for it.
    pub close_on_backpressure_limit: bool,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            max_queue: 64,
            max_queue_bytes: 16 << 20,
            write_high_water: 64 << 10,
            write_low_water: 16 << 10,
            close_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Some(Duration::from_secs(20)),
            idle_timeout: None,
            write_timeout: Duration::from_secs(30),
            deflate: DeflateConfig::default(),
            backpressure_limit: 1 << 20,
            close_on_backpressure_limit: false,
        }
    }
}

/// Listener-level settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Settings applied to every accepted connection.
    pub websocket: WebSocketConfig,
    /// Limits on the HTTP upgrade request (431 beyond them).
    pub http: HttpLimits,
    /// A client that has not sent a complete upgrade request by then is dropped.
    pub handshake_timeout: Duration,
    /// Connections beyond this many get HTTP 503 before the upgrade.
    pub max_connections: usize,
    /// Browser origins allowed to connect (`https://app.example.com`,
    /// `https://*.example.com` for any subdomain). `None` allows every
    /// origin; a refused origin gets HTTP 403. Requests without an `Origin`
    /// header (non-browser clients) are allowed unless `require_origin`.
    pub allowed_origins: Option<Vec<String>>,
    /// Refuse requests that carry no `Origin` header when origins are checked.
    pub require_origin: bool,
    /// Serve wss:// with this TLS configuration.
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            websocket: WebSocketConfig::default(),
            http: HttpLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 100_000,
            allowed_origins: None,
            require_origin: false,
            tls: None,
        }
    }
}
