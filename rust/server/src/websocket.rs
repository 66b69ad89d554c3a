//! The Rust API of a connection, with FastAPI/Starlette semantics.
//!
//! `WebSocket` is a thin async façade over [`Conn`]: every method is a lock,
//! a buffer operation and, at most, one wait on a [`std::task::Waker`]. The
//! Python binding drives the same `Conn` from the asyncio thread, so both
//! languages get the same engine and the same behaviour.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{OpCode, ProtocolError};
use tokio::net::TcpStream;

use crate::config::WebSocketConfig;
use crate::conn::{Conn, Incoming, State};
use crate::error::WebSocketError;
use crate::message::{CloseCode, Message, SharedMessage};
use crate::request::Request;

/// A WebSocket connection.
///
/// One upgraded connection (over TCP, TLS or a Unix socket), driven by the
/// engine's tasks; this is the application's handle on it. Provides a
/// high-level API matching FastAPI/Starlette semantics.
///
/// # Lifecycle
///
/// 1. Created by the server after detecting an upgrade request
/// 2. Handler calls [`accept()`](WebSocket::accept) to complete the handshake
/// 3. Handler sends/receives messages
/// 4. Handler calls [`close()`](WebSocket::close) or the peer closes
///
/// Dropping a `WebSocket` that was never accepted refuses the upgrade with
/// HTTP 403; dropping an open one closes it with 1000, or with 1011 when the
/// handler is unwinding from a panic.
///
/// # Example
///
/// ```no_run
/// use ferrosocket::{CloseCode, Message, WebSocket};
///
/// async fn chat(mut ws: WebSocket) {
///     ws.accept(None).await.unwrap();
///     while let Ok(msg) = ws.receive().await {
///         match msg {
///             Message::Text(text) => {
///                 ws.send_text(&format!("echo: {text}")).await.unwrap();
///             }
///             Message::Binary(_data) => {}
///             // receive() auto-replies to ping and does not surface pong.
///             Message::Ping(_) | Message::Pong(_) => unreachable!(),
///             Message::Close(_, _) => break,
///         }
///     }
///     ws.close(CloseCode::Normal, None).await.ok();
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// ferrosocket::Router::new()
///     .route("/chat", chat)
///     .serve("127.0.0.1:8765")
///     .await
/// # }
/// ```
pub struct WebSocket {
    conn: Arc<Conn>,
}

impl WebSocket {
    /// Create a new WebSocket from an upgraded TCP stream.
    ///
    /// The `client_key` is the `Sec-WebSocket-Key` header value from the upgrade
    /// request, which the caller has already read from `stream`. The
    /// connection's task starts at once, so this must be called inside a tokio
    /// runtime (it panics otherwise, like `tokio::spawn`).
    pub fn new(stream: TcpStream, client_key: String) -> Self {
        Self::with_config(stream, client_key, WebSocketConfig::default())
    }

    /// Create a new WebSocket with custom configuration. The server checks
    /// its configuration before serving; a stream upgraded elsewhere is not
    /// behind a server, so check yours with [`WebSocketConfig::validate`].
    pub fn with_config(stream: TcpStream, client_key: String, config: WebSocketConfig) -> Self {
        let peer = stream.peer_addr().ok();
        let conn = Arc::new(Conn::new(Request::from_key(client_key, peer), config));
        tokio::spawn(crate::io::drive(conn.clone(), stream, BytesMut::new()));
        WebSocket { conn }
    }

    pub(crate) fn from_conn(conn: Arc<Conn>) -> Self {
        WebSocket { conn }
    }

    /// The upgrade request: path, query, headers, peer address, subprotocols.
    pub fn request(&self) -> &Request {
        self.conn.request()
    }

    /// Complete the WebSocket handshake by sending the 101 response.
    ///
    /// Optionally specify a subprotocol to include in the response.
    ///
    /// # Errors
    ///
    /// Returns an error if the handshake has already been completed or if
    /// writing the response fails.
    pub async fn accept(&mut self, subprotocol: Option<&str>) -> Result<(), WebSocketError> {
        self.conn.accept(subprotocol, &[])
    }

    /// [`accept`](WebSocket::accept) with extra response headers.
    ///
    /// A header name that is not an HTTP token, or a value with CR, LF or
    /// NUL, is refused with [`WebSocketError::InvalidArgument`] (nothing is
    /// sent; the connection can still be answered).
    pub async fn accept_with_headers(
        &mut self,
        subprotocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(), WebSocketError> {
        self.conn.accept(subprotocol, headers)
    }

    /// Refuse the upgrade with an HTTP response instead of accepting it.
    ///
    /// # Errors
    ///
    /// [`WebSocketError::InvalidStatus`] for a status that is not a final
    /// response (see [`crate::check_refusal_status`]); the handshake is then
    /// still unanswered.
    pub async fn reject(&mut self, status: u16, body: &[u8]) -> Result<(), WebSocketError> {
        self.conn.reject(status, &[], body)
    }

    /// Receive the next message from the client.
    ///
    /// Automatically responds to ping frames with pong. Returns text, binary,
    /// and close messages to the caller; the close message comes once, after
    /// which every call fails with [`WebSocketError::ConnectionClosed`].
    ///
    /// # Errors
    ///
    /// Returns an error if the connection is closed or a protocol violation
    /// occurs.
    pub async fn receive(&mut self) -> Result<Message, WebSocketError> {
        let incoming = poll_fn(|cx| self.conn.poll_recv(cx.waker())).await?;
        Ok(match incoming {
            Incoming::Text(b) => Message::Text(
                String::from_utf8(b.to_vec())
                    .map_err(|_| WebSocketError::Protocol(ProtocolError::InvalidUtf8))?,
            ),
            Incoming::Binary(b) => Message::Binary(b.to_vec()),
            Incoming::Close(code, reason) => Message::Close(CloseCode::from(code), reason),
        })
    }

    /// [`receive`](WebSocket::receive) without copying the payload: the
    /// message's bytes are shared with the engine's read buffer, which is
    /// reused for a later frame once every handle on it is dropped. Hand a
    /// binary message back with [`send_binary`](WebSocket::send_binary) and
    /// an echo copies nothing.
    ///
    /// # Errors
    ///
    /// As [`receive`](WebSocket::receive).
    pub async fn receive_shared(&mut self) -> Result<SharedMessage, WebSocketError> {
        let incoming = poll_fn(|cx| self.conn.poll_recv(cx.waker())).await?;
        Ok(match incoming {
            Incoming::Text(b) => SharedMessage::Text(b),
            Incoming::Binary(b) => SharedMessage::Binary(b),
            Incoming::Close(code, reason) => SharedMessage::Close(CloseCode::from(code), reason),
        })
    }

    /// Send a binary message the caller hands over: a large one that the
    /// socket does not take at once waits in the outbound queue by
    /// reference instead of as a copy ([`send_bytes`](WebSocket::send_bytes)
    /// copies what it cannot write at once).
    pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), WebSocketError> {
        if self.conn.send_owned(OpCode::Binary, data.into(), true)? {
            poll_fn(|cx| self.conn.poll_send_ready(cx.waker())).await?;
        }
        Ok(())
    }

    /// Send a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), WebSocketError> {
        self.send(OpCode::Text, text.as_bytes()).await
    }

    /// Send a binary message.
    pub async fn send_bytes(&mut self, data: &[u8]) -> Result<(), WebSocketError> {
        self.send(OpCode::Binary, data).await
    }

    async fn send(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), WebSocketError> {
        if self.conn.send(opcode, payload)? {
            poll_fn(|cx| self.conn.poll_send_ready(cx.waker())).await?;
        }
        Ok(())
    }

    /// Receive a text message.
    ///
    /// Skips pong messages, auto-responds to pings. Returns an error if a
    /// binary or close message is received.
    pub async fn receive_text(&mut self) -> Result<String, WebSocketError> {
        match self.receive().await? {
            Message::Text(text) => Ok(text),
            other => Err(unexpected("text", &other)),
        }
    }

    /// Receive a binary message.
    ///
    /// Skips pong messages, auto-responds to pings. Returns an error if a text
    /// or close message is received.
    pub async fn receive_bytes(&mut self) -> Result<Vec<u8>, WebSocketError> {
        match self.receive().await? {
            Message::Binary(data) => Ok(data),
            other => Err(unexpected("binary", &other)),
        }
    }

    /// Send a ping frame with optional payload (at most 125 bytes).
    pub async fn ping(&mut self, data: &[u8]) -> Result<(), WebSocketError> {
        self.send(OpCode::Ping, data).await
    }

    /// Send a pong frame with optional payload (at most 125 bytes).
    pub async fn pong(&mut self, data: &[u8]) -> Result<(), WebSocketError> {
        self.send(OpCode::Pong, data).await
    }

    /// Initiate a close handshake.
    ///
    /// Sends a close frame and transitions to `CLOSING`. The peer should
    /// respond with its own close frame; [`receive`](WebSocket::receive) then
    /// returns it and [`wait_closed`](WebSocket::wait_closed) resolves once the
    /// socket is closed. Before `accept()`, this refuses the upgrade with HTTP
    /// 403. Calling it again is a no-op.
    pub async fn close(
        &mut self,
        code: CloseCode,
        reason: Option<&str>,
    ) -> Result<(), WebSocketError> {
        self.conn.close(code.as_u16(), reason.unwrap_or(""))
    }

    /// Wait until the connection is closed and its socket released.
    ///
    /// Waiting means no more replies: a peer close queued behind messages
    /// that have all been received is answered now, as if the `Close` had
    /// been received (it still is, by a later [`receive`](WebSocket::receive)).
    pub async fn wait_closed(&self) {
        poll_fn(|cx| self.conn.poll_wait_closed(cx.waker())).await
    }

    /// The code and reason the connection closed with, once it has.
    pub fn close_reason(&self) -> Option<(CloseCode, String)> {
        self.conn.close_info().map(|(c, r)| (CloseCode::from(c), r))
    }

    /// Subscribe to `topic` (see [`crate::topics`]); `Ok(false)` if already
    /// subscribed or closed. Subscriptions end when the connection closes.
    pub fn subscribe(&self, topic: &str) -> Result<bool, WebSocketError> {
        self.conn.subscribe(topic)
    }

    /// Unsubscribe from `topic`; `false` if not subscribed.
    pub fn unsubscribe(&self, topic: &str) -> bool {
        self.conn.unsubscribe(topic)
    }

    /// Queue `msg` on every subscriber of `topic` but this connection;
    /// returns how many it was queued for. Never waits.
    pub fn publish(&self, topic: &str, msg: &crate::topics::Published) -> usize {
        self.conn.publish(topic, msg)
    }

    /// Returns true if the connection is open and can send/receive messages.
    pub fn is_open(&self) -> bool {
        self.conn.state() == State::Open
    }

    /// Returns the current connection state:
    /// `"CONNECTING" | "OPEN" | "CLOSING" | "CLOSED"`.
    pub fn state(&self) -> &'static str {
        self.conn.state().as_str()
    }
}

fn unexpected(expected: &'static str, got: &Message) -> WebSocketError {
    match got {
        Message::Close(code, reason) => WebSocketError::ConnectionClosed(*code, reason.clone()),
        Message::Text(_) => WebSocketError::UnexpectedMessage {
            expected,
            got: "text",
        },
        Message::Binary(_) => WebSocketError::UnexpectedMessage {
            expected,
            got: "binary",
        },
        Message::Ping(_) => WebSocketError::UnexpectedMessage {
            expected,
            got: "ping",
        },
        Message::Pong(_) => WebSocketError::UnexpectedMessage {
            expected,
            got: "pong",
        },
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        match self.conn.state() {
            State::Connecting => {
                let _ = self.conn.reject(403, &[], b"Forbidden");
            }
            // A handler that panicked ends with 1011, like one that raised in Python.
            State::Open if std::thread::panicking() => {
                let _ = self.conn.close(1011, "");
            }
            State::Open => {
                let _ = self.conn.close(1000, "");
            }
            State::Closing | State::Closed => {}
        }
    }
}
