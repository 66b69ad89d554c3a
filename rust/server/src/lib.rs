//! ferrosocket: a WebSocket server (and client: [`connect`]) engine on tokio.
//!
//! The crate has two audiences. Rust users get [`WebSocket`], an async API
//! with FastAPI/Starlette semantics (`accept`, `receive`, `send_text`,
//! `close`, …), and [`Router`], which serves it by path. The ferrosocket
//! Python package gets the same engine through [`Conn`] and [`App`]: the
//! state a connection's tokio tasks share is plain Rust, reachable without a
//! tokio task per call, so asyncio can drive it from its own thread.
//!
//! The wire protocol itself (frames, handshake, UTF-8, close rules) lives in
//! the sans-IO crate `ferrosocket-proto`; this crate owns sockets, tasks,
//! timers and limits.
//!
//! ```no_run
//! use ferrosocket::{Message, Router, WebSocket};
//!
//! async fn echo(mut ws: WebSocket) {
//!     ws.accept(None).await.unwrap();
//!     while let Ok(Message::Text(text)) = ws.receive().await {
//!         ws.send_text(&text).await.unwrap();
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     Router::new().route("/echo", echo).serve("127.0.0.1:8765").await
//! }
//! ```

pub mod client;
mod config;
mod conn;
mod error;
mod io;
mod message;
mod request;
mod server;
pub mod tls;
pub mod topics;
mod websocket;

pub use bytes::Bytes;
pub use client::{connect, connect_unix, ClientConfig, ClientTls, ConnectError, Handshake};
pub use config::{
    ConfigError, ServerConfig, WebSocketConfig, COMPRESSION_LEVELS, MEM_LEVELS, WINDOW_BITS,
};
pub use conn::{Conn, ConnStats, Incoming, State, LARGE_MESSAGE};
pub use error::{check_refusal_status, WebSocketError, MAX_CLOSE_REASON};
pub use ferrosocket_proto as proto;
pub use message::{CloseCode, Message, SharedMessage};
pub use request::Request;
pub use server::{
    bind_unix, not_found, percent_decode, refuse_plain_http, App, Convertor, Listener, Param,
    Pattern, PatternError, Refusal, Response, Route, RouteTable, Router, Server, ServerStats,
};
pub use topics::{Published, TopicStats, Topics};
pub use websocket::WebSocket;
