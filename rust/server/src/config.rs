//! Connection and server settings.
//!
//! Every limit that protects the server from a hostile or careless peer lives
//! here with its default, so the Rust API, the Python `WebSocketConfig` and the
//! CLI all describe the same knobs. Defaults follow what the field has settled
//! on: a 16 MiB message limit (uvicorn), a small inbound queue (websockets) and
//! write water marks in the tens of KiB, so a slow reader stalls its producer
//! instead of growing the process.
//!
//! This is the one place the defaults are written: the Python
//! `WebSocketConfig` and the CLI read theirs from [`Default`] through the
//! binding, and every value, from whichever language, is checked by
//! [`WebSocketConfig::validate`] / [`ServerConfig::validate`] before a server
//! serves with it ([`crate::Server::start`] refuses an invalid one).

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use ferrosocket_proto::{DeflateConfig, HttpLimits};

/// Per-connection protocol limits and buffering.
#[derive(Clone, Debug)]
pub struct WebSocketConfig {
    /// Largest message accepted, after reassembling fragments (close 1009 beyond).
    pub max_message_size: usize,
    /// Largest single frame accepted (close 1009 beyond). A frame is never
    /// allowed past `max_message_size` either, whatever this says.
    pub max_frame_size: usize,
    /// Messages held for the application before the reader stops reading the
    /// socket (TCP flow control then reaches the client). At least 1.
    pub max_queue: usize,
    /// Bytes of queued messages at which reading pauses as well.
    pub max_queue_bytes: usize,
    /// Outbound bytes at which `send_*` starts waiting for the writer.
    pub write_high_water: usize,
    /// Outbound bytes at which waiting senders resume; at most
    /// `write_high_water`.
    pub write_low_water: usize,
    /// How long to wait for the peer's close frame (and its TCP close) after ours.
    pub close_timeout: Duration,
    /// Send a ping after this long without one; `None` disables keepalive
    /// (zero is refused: it would ping without pause).
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
    /// connection and accepted by default. Compression runs on the write side
    /// of the connection's task and decompression on its read side, never on the
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

/// The window sizes (log2 of the LZ77 window) a configuration may set for
/// permessage-deflate: 8 to 15, the range RFC 7692 §7.1.2 defines, for both
/// directions.
///
/// 8 is included although zlib cannot open a raw deflate stream with a
/// 256-byte window: what the parameter promises the peer is that no
/// back-reference reaches further than 2^bits bytes, and the proto crate
/// keeps that promise for 8 by compressing with a 9-bit window, whose longest
/// distance is 250 bytes (see "Window bits 8" in `ferrosocket_proto::deflate`
/// and its test `window_8_deflater_never_reaches_past_256_bytes`). That is
/// the same path a client asking for 8 takes, so configuring 8 sends
/// nothing the negotiation would not already send. Inbound, 8 inflates with
/// a 9-bit window, a superset. Outside 8–15 the value cannot be put in a
/// handshake at all.
pub const WINDOW_BITS: RangeInclusive<u8> = 8..=15;

/// zlib compression levels: 0 (stored) to 9 (smallest).
pub const COMPRESSION_LEVELS: RangeInclusive<u32> = 0..=9;

/// zlib memory levels: 1 (least memory, worst ratio) to 9.
pub const MEM_LEVELS: RangeInclusive<u8> = 1..=9;

/// Why a configuration was refused; the message says which setting and what
/// to use instead. Field names are those of the Python `WebSocketConfig` and
/// the CLI flags (they match the Rust fields except the deflate ones, which
/// are named in both forms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `max_queue` is 0: the reader could never hand over a message.
    MaxQueueZero,
    /// `write_low_water` is above `write_high_water`.
    WaterMarks {
        /// The low-water mark given.
        low: usize,
        /// The high-water mark given.
        high: usize,
    },
    /// A keepalive or idle interval of zero.
    ZeroInterval(&'static str),
    /// A deflate window size outside [`WINDOW_BITS`].
    WindowBits {
        /// `"compression_window_bits"` (server) or `"client_max_window_bits"`.
        setting: &'static str,
        /// The value given.
        value: u8,
    },
    /// A zlib level outside [`COMPRESSION_LEVELS`].
    CompressionLevel(u32),
    /// A zlib memory level outside [`MEM_LEVELS`].
    MemLevel(u8),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MaxQueueZero => f.write_str(
                "max_queue must be at least 1: it is how many received messages wait for the handler",
            ),
            ConfigError::WaterMarks { low, high } => write!(
                f,
                "write_low_water ({low}) must not exceed write_high_water ({high}): \
                 lower write_low_water or raise write_high_water"
            ),
            ConfigError::ZeroInterval(setting) => write!(
                f,
                "{setting} must be more than 0 seconds: use None to turn it off"
            ),
            ConfigError::WindowBits { setting, value } => write!(
                f,
                "{setting} must be {}-{} (permessage-deflate window bits), not {value}",
                WINDOW_BITS.start(),
                WINDOW_BITS.end()
            ),
            ConfigError::CompressionLevel(level) => write!(
                f,
                "compression_level (deflate.level) must be {}-{} (0 stores, 9 compresses most), not {level}",
                COMPRESSION_LEVELS.start(),
                COMPRESSION_LEVELS.end()
            ),
            ConfigError::MemLevel(level) => write!(
                f,
                "compression_mem_level (deflate.mem_level) must be {}-{}, not {level}",
                MEM_LEVELS.start(),
                MEM_LEVELS.end()
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for std::io::Error {
    /// An `InvalidInput` error that carries the [`ConfigError`] (reach it
    /// with `get_ref()` and `downcast_ref`).
    fn from(err: ConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    }
}

impl WebSocketConfig {
    /// Check every setting; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_queue == 0 {
            return Err(ConfigError::MaxQueueZero);
        }
        if self.write_low_water > self.write_high_water {
            return Err(ConfigError::WaterMarks {
                low: self.write_low_water,
                high: self.write_high_water,
            });
        }
        for (setting, value) in [
            ("ping_interval", self.ping_interval),
            ("ping_timeout", self.ping_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::ZeroInterval(setting));
            }
        }
        let deflate = &self.deflate;
        for (setting, value) in [
            ("compression_window_bits", deflate.server_max_window_bits),
            ("client_max_window_bits", deflate.client_max_window_bits),
        ] {
            if !WINDOW_BITS.contains(&value) {
                return Err(ConfigError::WindowBits { setting, value });
            }
        }
        if !COMPRESSION_LEVELS.contains(&deflate.level) {
            return Err(ConfigError::CompressionLevel(deflate.level));
        }
        if !MEM_LEVELS.contains(&deflate.mem_level) {
            return Err(ConfigError::MemLevel(deflate.mem_level));
        }
        Ok(())
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

impl ServerConfig {
    /// Check the settings of every connection ([`WebSocketConfig::validate`]).
    /// The listener-level ones have no invalid values: every count and
    /// timeout is meaningful, if strict, down to zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.websocket.validate()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut WebSocketConfig)) -> Result<(), ConfigError> {
        let mut config = WebSocketConfig::default();
        f(&mut config);
        config.validate()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ServerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: [(Result<(), ConfigError>, &str); 7] = [
            (with(|c| c.max_queue = 0), "max_queue"),
            (
                with(|c| (c.write_low_water, c.write_high_water) = (10, 5)),
                "write_low_water (10) must not exceed write_high_water (5)",
            ),
            (
                with(|c| c.ping_interval = Some(Duration::ZERO)),
                "ping_interval",
            ),
            (
                with(|c| c.deflate.server_max_window_bits = 16),
                "compression_window_bits must be 8-15",
            ),
            (
                with(|c| c.deflate.client_max_window_bits = 7),
                "client_max_window_bits must be 8-15",
            ),
            (with(|c| c.deflate.level = 10), "compression_level"),
            (with(|c| c.deflate.mem_level = 0), "compression_mem_level"),
        ];
        for (result, expected) in cases {
            let message = result.expect_err(expected).to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn window_bits_bounds_are_accepted() {
        for bits in [8, 9, 15] {
            assert_eq!(with(|c| c.deflate.server_max_window_bits = bits), Ok(()));
            assert_eq!(with(|c| c.deflate.client_max_window_bits = bits), Ok(()));
        }
    }
}
