//! The server: accepts connections, reads and checks the upgrade request,
//! routes it, and hands accepted connections to the application.
//!
//! The application is anything that implements [`App`]: the Rust [`Router`]
//! spawns one async handler per connection; the Python binding implements the
//! same trait and passes connections to the asyncio loop. Everything before
//! the application sees a connection (limits, timeouts, refusals with the
//! right HTTP status) happens here, identically for both.
//!
//! By concern: `listener.rs` (sockets, accept loop, TLS), `upgrade.rs` (one
//! socket's request head up to the application), `routing.rs` (what the
//! application answers, and [`Router`]), `pattern.rs` (route patterns and the
//! route table), `refusal.rs` (why a handshake was refused). This file holds the running [`Server`]: its shared state, its
//! counters and its shutdown.

mod listener;
mod pattern;
mod refusal;
mod routing;
mod upgrade;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{watch, Notify};
use tokio::time::timeout;

use crate::config::ServerConfig;
use crate::conn::{Conn, ConnStats, State};
use crate::error::{check_close, WebSocketError};

pub use listener::{bind_unix, Listener};
pub use pattern::{percent_decode, Convertor, Param, Pattern, PatternError, RouteTable};
pub use refusal::Refusal;
pub use routing::{not_found, refuse_plain_http, App, Response, Route, Router};

/// Counters of a server since it started.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Connections upgraded and handed to the application.
    pub connections_total: u64,
    /// Connections open now (upgraded and not yet closed).
    pub connections_open: u64,
    /// Traffic of every connection, open or closed.
    pub traffic: ConnStats,
    /// Handshakes refused, by reason, every reason of [`Refusal::ALL`] in
    /// its order.
    pub refused: Vec<(Refusal, u64)>,
}

struct Shared {
    config: ServerConfig,
    /// `config.websocket`, shared by every connection instead of copied.
    websocket: Arc<crate::config::WebSocketConfig>,
    app: Arc<dyn App>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    active: AtomicUsize,
    idle: Notify,
    stop: watch::Sender<bool>,
    total: AtomicU64,
    closed_traffic: Mutex<ConnStats>,
    refused: [AtomicU64; Refusal::ALL.len()],
    topics: Arc<crate::topics::Topics>,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, peer: Option<SocketAddr>, refusal: Refusal, status: u16, detail: &str) {
        self.refused[refusal.index()].fetch_add(1, Ordering::Relaxed);
        self.app.refused(peer, refusal, status, detail);
    }
}

/// Decrements the active count when a connection's task ends, however it ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A running server: the accept loop and every connection it accepted.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    address: String,
}

impl Server {
    /// Bind `addr` and start serving `app`. Must be called inside a tokio runtime.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: ServerConfig,
        app: Arc<dyn App>,
    ) -> io::Result<Server> {
        config.validate()?;
        let listener = TcpListener::bind(addr).await?;
        Server::start(listener, config, app)
    }

    /// Start serving on a listener the caller bound (or inherited, e.g. a
    /// socket passed by systemd). Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// An invalid `config` ([`ServerConfig::validate`]) is refused with an
    /// `InvalidInput` error carrying the [`crate::ConfigError`].
    pub fn start(
        listener: impl Into<Listener>,
        config: ServerConfig,
        app: Arc<dyn App>,
    ) -> io::Result<Server> {
        config.validate()?;
        let listener = listener.into();
        let local_addr = match &listener {
            Listener::Tcp(l) => l.local_addr()?,
            Listener::Unix(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let address = listener.address()?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            websocket: Arc::new(config.websocket.clone()),
            config,
            app,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            stop,
            total: AtomicU64::new(0),
            closed_traffic: Mutex::new(ConnStats::default()),
            refused: Default::default(),
            topics: Arc::default(),
        });
        tokio::spawn(listener::accept_loop(shared.clone(), listener, stop_rx));
        Ok(Server {
            shared,
            local_addr,
            address,
        })
    }

    /// The server's topic table: `publish` to every subscriber of a topic,
    /// `subscribers`, `stats` (see [`crate::topics`]).
    pub fn topics(&self) -> &Arc<crate::topics::Topics> {
        &self.shared.topics
    }

    /// The TCP address the server listens on (useful after binding port 0);
    /// `0.0.0.0:0` for a Unix socket (see [`Server::address`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port`, or `unix:/path` for a Unix socket.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Open sockets, including those still in the handshake.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Counters since the server started.
    pub fn stats(&self) -> ServerStats {
        let conns: Vec<Arc<Conn>> = self.shared.conns().values().cloned().collect();
        let mut traffic = *self
            .shared
            .closed_traffic
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for conn in &conns {
            traffic.add(&conn.stats());
        }
        ServerStats {
            connections_total: self.shared.total.load(Ordering::Relaxed),
            connections_open: conns.len() as u64,
            traffic,
            refused: Refusal::ALL
                .iter()
                .zip(&self.shared.refused)
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Stop accepting, refuse handshakes in progress with 503, and close every
    /// open connection with `code` (1001 "going away" is usual, 1012 for a
    /// restart). Returns at once; see [`Server::wait_closed`].
    ///
    /// # Errors
    ///
    /// A code that may not be sent or a reason over 123 bytes
    /// ([`WebSocketError::InvalidClose`], [`WebSocketError::CloseReasonTooLong`])
    /// is refused before anything is stopped or closed.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        check_close(code, reason)?;
        self.shared.stop.send_replace(true);
        let conns: Vec<Arc<Conn>> = self.shared.conns().values().cloned().collect();
        for conn in conns {
            // Neither can fail with the arguments checked above: a connection
            // that answered or closed in the meantime makes them no-ops or
            // `AlreadyAccepted`, and it is closing anyway.
            let _ = match conn.state() {
                State::Connecting => conn.reject(503, &[], b"Server shutting down\n"),
                _ => conn.close(code, reason),
            };
        }
        Ok(())
    }

    /// Wait until every connection is closed, or `grace` has passed; then
    /// abandon the stragglers (their sockets are closed) and return how many
    /// there were.
    pub async fn wait_closed(&self, grace: Duration) -> usize {
        let all_done = async {
            loop {
                let notified = self.shared.idle.notified();
                if self.shared.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if timeout(grace, all_done).await.is_ok() {
            return 0;
        }
        let conns: Vec<Arc<Conn>> = self.shared.conns().values().cloned().collect();
        for conn in &conns {
            conn.abort();
        }
        conns.len()
    }
}
