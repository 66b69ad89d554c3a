//! The listener: accepts TCP connections, reads and checks the upgrade
//! request, routes it, and hands accepted connections to the application.
//!
//! The application is anything that implements [`App`]: the Rust [`Router`]
//! spawns one async handler per connection; the Python binding implements the
//! same trait and passes connections to the asyncio loop. Everything before
//! the application sees a connection (limits, timeouts, refusals with the
//! right HTTP status) happens here, identically for both.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use ferrosocket_proto::{
    build_response, parse_request, HandshakeError, HandshakeRequest, ParsedRequest,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs, UnixListener, UnixStream};
use tokio::sync::{watch, Notify};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::config::ServerConfig;
use crate::conn::{Conn, ConnStats, State};
use crate::io::Transport;
use crate::request::Request;
use crate::websocket::WebSocket;

/// What to do with a request head.
pub enum Route {
    /// Upgrade it and hand the connection to [`App::connect`].
    Upgrade,
    /// Answer with this complete HTTP response and close.
    Respond(Vec<u8>),
}

/// An application served by [`Server`].
pub trait App: Send + Sync + 'static {
    /// Decide about a complete request head. `upgrade` is false for plain
    /// HTTP requests, which an application may answer (a page) or refuse;
    /// [`refuse_plain_http`] is the usual answer.
    fn route(&self, request: &HandshakeRequest, upgrade: bool) -> Route;

    /// A new connection in state `CONNECTING`: the application answers it with
    /// `accept`, `reject` or `close`.
    fn connect(&self, conn: Arc<Conn>);

    /// A connection was refused before reaching the application (`status`
    /// 0: dropped without a response). For logging; the default ignores it.
    fn refused(&self, peer: Option<SocketAddr>, status: u16, reason: &str) {
        let _ = (peer, status, reason);
    }
}

/// `426 Upgrade Required` with `Sec-WebSocket-Version: 13`, the answer to a
/// plain HTTP request at a WebSocket endpoint.
pub fn refuse_plain_http() -> Route {
    Route::Respond(build_response(
        426,
        &[
            ("Upgrade".into(), "websocket".into()),
            ("Sec-WebSocket-Version".into(), "13".into()),
        ],
        b"This endpoint speaks WebSocket only.\n",
    ))
}

/// `404 Not Found`, for an upgrade to a path nobody serves.
pub fn not_found() -> Route {
    Route::Respond(build_response(404, &[], b"Not Found\n"))
}

/// A listening socket: TCP, or a Unix domain socket.
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain socket listener.
    Unix(UnixListener),
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Self {
        Listener::Unix(l)
    }
}

enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

impl Listener {
    async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }

    fn address(&self) -> io::Result<String> {
        Ok(match self {
            Listener::Tcp(l) => l.local_addr()?.to_string(),
            Listener::Unix(l) => match l.local_addr()?.as_pathname() {
                Some(p) => format!("unix:{}", p.display()),
                None => "unix:(unnamed)".to_owned(),
            },
        })
    }
}

/// Why handshakes were refused, counted by [`Server::stats`].
pub const REFUSAL_REASONS: [&str; 8] = [
    "bad_request",
    "timeout",
    "not_found",
    "origin",
    "overloaded",
    "tls",
    "plain_http",
    "shutting_down",
];

/// Counters of a server since it started.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Connections upgraded and handed to the application.
    pub connections_total: u64,
    /// Connections open now (upgraded and not yet closed).
    pub connections_open: u64,
    /// Traffic of every connection, open or closed.
    pub traffic: ConnStats,
    /// Handshakes refused, by reason (see [`REFUSAL_REASONS`]).
    pub refused: Vec<(&'static str, u64)>,
}

struct Shared {
    config: ServerConfig,
    app: Arc<dyn App>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    active: AtomicUsize,
    idle: Notify,
    stop: watch::Sender<bool>,
    total: AtomicU64,
    closed_traffic: Mutex<ConnStats>,
    refused: [AtomicU64; REFUSAL_REASONS.len()],
    topics: Arc<crate::topics::Topics>,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, peer: Option<SocketAddr>, reason: &'static str, status: u16, detail: &str) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
        self.app.refused(peer, status, detail);
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
        let listener = TcpListener::bind(addr).await?;
        Server::start(listener, config, app)
    }

    /// Start serving on a listener the caller bound (or inherited, e.g. a
    /// socket passed by systemd). Must be called inside a tokio runtime.
    pub fn start(
        listener: impl Into<Listener>,
        config: ServerConfig,
        app: Arc<dyn App>,
    ) -> io::Result<Server> {
        let listener = listener.into();
        let local_addr = match &listener {
            Listener::Tcp(l) => l.local_addr()?,
            Listener::Unix(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let address = listener.address()?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
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
        tokio::spawn(accept_loop(shared.clone(), listener, stop_rx));
        Ok(Server {
            shared,
            local_addr,
            address,
        })
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
            refused: REFUSAL_REASONS
                .iter()
                .zip(&self.shared.refused)
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// The server's topic table: `publish` to every subscriber of a topic,
    /// `subscribers`, `stats` (see [`crate::topics`]).
    pub fn topics(&self) -> &Arc<crate::topics::Topics> {
        &self.shared.topics
    }

    /// Stop accepting, refuse handshakes in progress with 503, and close every
    /// open connection with `code` (1001 "going away" is usual, 1012 for a
    /// restart). Returns at once; see [`Server::wait_closed`].
    pub fn close(&self, code: u16, reason: &str) {
        self.shared.stop.send_replace(true);
        let conns: Vec<Arc<Conn>> = self.shared.conns().values().cloned().collect();
        for conn in conns {
            match conn.state() {
                State::Connecting => {
                    let _ = conn.reject(503, &[], b"Server shutting down\n");
                }
                _ => {
                    let _ = conn.close(code, reason);
                }
            }
        }
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

async fn accept_loop(shared: Arc<Shared>, listener: Listener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    shared.active.fetch_add(1, Ordering::AcqRel);
                    let guard = ActiveGuard(shared.clone());
                    tokio::spawn(handle(guard, accepted));
                }
                // Out of file descriptors or a connection reset before accept:
                // back off briefly instead of spinning, and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stop.changed() => break,
        }
    }
}

async fn handle(guard: ActiveGuard, accepted: Accepted) {
    match accepted {
        Accepted::Tcp(tcp, peer) => {
            let local = tcp.local_addr().ok();
            match guard.0.config.tls.clone() {
                None => serve_stream(guard, tcp, Some(peer), local).await,
                Some(tls) => {
                    let handshake = TlsAcceptor::from(tls).accept(tcp);
                    match timeout(guard.0.config.handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => serve_stream(guard, stream, Some(peer), local).await,
                        Ok(Err(err)) => guard.0.refuse(
                            Some(peer),
                            "tls",
                            0,
                            &format!("TLS handshake failed: {err}"),
                        ),
                        Err(_) => {
                            guard
                                .0
                                .refuse(Some(peer), "timeout", 0, "TLS handshake timed out")
                        }
                    }
                }
            }
        }
        Accepted::Unix(stream) => serve_stream(guard, stream, None, None).await,
    }
}

async fn serve_stream<T: Transport>(
    guard: ActiveGuard,
    mut stream: T,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) {
    let shared = &guard.0;
    let config = &shared.config;
    let head = match timeout(config.handshake_timeout, read_head(&mut stream, config)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return,
        Err(_) => {
            return shared.refuse(
                peer,
                "timeout",
                0,
                "no complete request within the handshake timeout",
            )
        }
        Ok(Err(err)) => {
            shared.refuse(peer, "bad_request", err.status, err.reason);
            return respond(stream, &err.response()).await;
        }
    };
    let (parsed, leftover) = head;
    let request = match parsed {
        ParsedRequest::Http(request) => {
            let response = match shared.app.route(&request, false) {
                Route::Respond(response) => response,
                Route::Upgrade => match refuse_plain_http() {
                    Route::Respond(response) => response,
                    Route::Upgrade => unreachable!("refuse_plain_http always responds"),
                },
            };
            let path = request.path();
            match status_of(&response) {
                426 => shared.refuse(
                    peer,
                    "plain_http",
                    426,
                    &format!("plain HTTP request for {path}"),
                ),
                404 => shared.refuse(peer, "not_found", 404, &format!("nothing at {path}")),
                _ => {}
            }
            return respond(stream, &response).await;
        }
        ParsedRequest::Upgrade(request) => request,
    };
    let refusal = if *shared.stop.borrow() {
        Some(("shutting_down", 503, "Server shutting down\n"))
    } else if shared.active.load(Ordering::Acquire) > config.max_connections {
        Some(("overloaded", 503, "Too many connections\n"))
    } else if !origin_allowed(request.header("origin"), config) {
        Some(("origin", 403, "Origin not allowed\n"))
    } else {
        None
    };
    if let Some((reason, status, body)) = refusal {
        let detail = format!(
            "{} (origin {:?})",
            body.trim_end(),
            request.header("origin").unwrap_or("")
        );
        shared.refuse(peer, reason, status, &detail);
        return respond(stream, &build_response(status, &[], body.as_bytes())).await;
    }
    if let Route::Respond(response) = shared.app.route(&request, true) {
        shared.refuse(
            peer,
            "not_found",
            status_of(&response),
            &format!("no WebSocket route for {}", request.path()),
        );
        return respond(stream, &response).await;
    }
    let conn = Arc::new(Conn::new(
        Request::new(request, peer, local).secure(T::SECURE),
        config.websocket.clone(),
    ));
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.total.fetch_add(1, Ordering::Relaxed);
    conn.topics.attach(&shared.topics);
    shared.conns().insert(id, conn.clone());
    shared.app.connect(conn.clone());
    crate::io::drive(conn.clone(), stream, leftover).await;
    shared.topics.leave_all(&conn);
    shared.conns().remove(&id);
    shared
        .closed_traffic
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add(&conn.stats());
}

/// The status code of a response built by [`build_response`].
fn status_of(response: &[u8]) -> u16 {
    response
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Whether a browser `Origin` may connect: exact matches (case-insensitive)
/// or `scheme://*.domain[:port]` patterns for any subdomain of `domain`.
pub fn origin_allowed(origin: Option<&str>, config: &ServerConfig) -> bool {
    let Some(patterns) = &config.allowed_origins else {
        return true;
    };
    let Some(origin) = origin else {
        return !config.require_origin;
    };
    let origin = origin.trim().to_ascii_lowercase();
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim().to_ascii_lowercase();
        if pattern == "*" || pattern == origin {
            return true;
        }
        let (Some((p_scheme, p_host)), Some((o_scheme, o_host))) =
            (pattern.split_once("://"), origin.split_once("://"))
        else {
            return false;
        };
        match p_host.strip_prefix("*.") {
            Some(suffix) => {
                p_scheme == o_scheme
                    && o_host.len() > suffix.len() + 1
                    && o_host.ends_with(suffix)
                    && o_host.as_bytes()[o_host.len() - suffix.len() - 1] == b'.'
            }
            None => false,
        }
    })
}

type Head = (ParsedRequest, BytesMut);

/// Read until a complete request head; `Ok(None)` if the peer left first,
/// `Err` for a request refused before routing.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    config: &ServerConfig,
) -> Result<Option<Head>, HandshakeError> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some((parsed, consumed)) = parse_request(&buf, &config.http)? {
            let _ = buf.split_to(consumed);
            return Ok(Some((parsed, buf)));
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Write a complete HTTP response, then close without resetting the socket.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &[u8]) {
    if stream.write_all(response).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let linger = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_secs(2), linger).await;
}

type Handler = Arc<dyn Fn(WebSocket) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Routes upgrade requests by path to async handlers, one task per connection.
///
/// ```no_run
/// use ferrosocket::{Message, Router, WebSocket};
///
/// async fn echo(mut ws: WebSocket) {
///     if ws.accept(None).await.is_err() {
///         return;
///     }
///     while let Ok(msg) = ws.receive().await {
///         let sent = match msg {
///             Message::Text(text) => ws.send_text(&text).await,
///             Message::Binary(data) => ws.send_bytes(&data).await,
///             _ => break,
///         };
///         if sent.is_err() {
///             break;
///         }
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// Router::new().fallback(echo).serve("127.0.0.1:9001").await
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<String, Handler>,
    fallback: Option<Handler>,
    config: ServerConfig,
}

fn boxed<F, Fut>(handler: F) -> Handler
where
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |ws| Box::pin(handler(ws)))
}

impl Router {
    /// An empty router: every path gets 404.
    pub fn new() -> Self {
        Router::default()
    }

    /// Serve upgrades to `path` (exact match, query ignored) with `handler`.
    pub fn route<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.routes.insert(path.to_owned(), boxed(handler));
        self
    }

    /// Serve upgrades to every path no route matches.
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fallback = Some(boxed(handler));
        self
    }

    /// Use these settings instead of the defaults.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    fn handler(&self, path: &str) -> Option<&Handler> {
        self.routes.get(path).or(self.fallback.as_ref())
    }

    /// Bind and start serving; returns the running [`Server`].
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let config = self.config.clone();
        Server::bind(addr, config, Arc::new(self)).await
    }

    /// Bind and serve until the process ends.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let _server = self.bind(addr).await?;
        std::future::pending::<()>().await;
        Ok(())
    }
}

impl App for Router {
    fn route(&self, request: &HandshakeRequest, upgrade: bool) -> Route {
        if !upgrade {
            return refuse_plain_http();
        }
        match self.handler(request.path()) {
            Some(_) => Route::Upgrade,
            None => not_found(),
        }
    }

    fn connect(&self, conn: Arc<Conn>) {
        let path = conn.request().path().to_owned();
        if let Some(handler) = self.handler(&path) {
            tokio::spawn(handler(WebSocket::from_conn(conn)));
        } else {
            let _ = conn.reject(404, &[], b"Not Found\n");
        }
    }
}
