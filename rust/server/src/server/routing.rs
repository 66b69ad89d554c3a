//! What the server asks the application about a request, and the Rust
//! application: [`Router`].
//!
//! The answer is typed — [`Route`] with a [`Response`] value and, for a
//! refusal, its [`Refusal`] — so the server counts and logs refusals from
//! what the application said, never by parsing the bytes it will write.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use ferrosocket_proto::{build_response, HandshakeRequest};
use tokio::net::ToSocketAddrs;

use super::{Refusal, Server};
use crate::config::ServerConfig;
use crate::conn::Conn;
use crate::websocket::WebSocket;

/// A complete HTTP response: what the server writes before closing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values; `Content-Length` and `Connection: close` are
    /// added unless given.
    pub headers: Vec<(String, String)>,
    /// The body (not sent for 1xx, 204 and 304).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no extra headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The bytes on the wire (header values with CR/LF are refused by
    /// [`build_response`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        build_response(self.status, &self.headers, &self.body)
    }
}

/// What to do with a request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Upgrade it and hand the connection to [`App::connect`].
    Upgrade,
    /// Answer with this response and close (a page for a plain GET). For an
    /// upgrade request it counts as [`Refusal::NotFound`].
    Respond(Response),
    /// Refuse with this response, counted and logged under the reason.
    Refuse(Refusal, Response),
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

    /// A connection was refused before reaching the application, with HTTP
    /// `status` (0: dropped without a response); `detail` says what was
    /// wrong. For logging; the default ignores it.
    fn refused(&self, peer: Option<SocketAddr>, refusal: Refusal, status: u16, detail: &str) {
        let _ = (peer, refusal, status, detail);
    }
}

/// `426 Upgrade Required` with `Sec-WebSocket-Version: 13`, the answer to a
/// plain HTTP request at a WebSocket endpoint.
pub fn refuse_plain_http() -> Route {
    Route::Refuse(
        Refusal::PlainHttp,
        Response::new(426, &b"This endpoint speaks WebSocket only.\n"[..])
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13"),
    )
}

/// `404 Not Found`, for a path nobody serves.
pub fn not_found() -> Route {
    Route::Refuse(Refusal::NotFound, Response::new(404, &b"Not Found\n"[..]))
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

    /// Use these settings instead of the defaults (checked when the server
    /// starts: see [`ServerConfig::validate`]).
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
