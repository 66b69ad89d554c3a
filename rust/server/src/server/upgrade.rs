//! One accepted socket from its first byte to the application: read the
//! request head within the handshake timeout, apply the server's own checks
//! (shutdown, connection limit, origin), ask the application, and either
//! answer with a response or start the connection's I/O.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ferrosocket_proto::{parse_request, HandshakeError, ParsedRequest};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::routing::{refuse_plain_http, Response, Route};
use super::{ActiveGuard, Refusal};
use crate::config::ServerConfig;
use crate::conn::Conn;
use crate::io::Transport;
use crate::request::Request;

pub(super) async fn serve_stream<T: Transport>(
    guard: ActiveGuard,
    mut stream: T,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) {
    let shared = &guard.0;
    let config = &shared.config;
    // The handshake's futures (reading the head, answering a refusal) are
    // boxed: a task is as large as its largest state, and every connection
    // would otherwise keep their room for its whole life (see `run`).
    let head = match Box::pin(timeout(
        config.handshake_timeout,
        read_head(&mut stream, config),
    ))
    .await
    {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return,
        Err(_) => {
            return shared.refuse(
                peer,
                Refusal::Timeout,
                0,
                "no complete request within the handshake timeout",
            )
        }
        Ok(Err(err)) => {
            shared.refuse(peer, Refusal::BadRequest, err.status, err.reason);
            return respond(stream, &err.response()).await;
        }
    };
    let (parsed, leftover) = head;
    let request = match parsed {
        ParsedRequest::Http(request) => {
            let route = match shared.app.route(&request, false) {
                Route::Upgrade => refuse_plain_http(),
                route => route,
            };
            let response = match route {
                Route::Refuse(refusal, response) => {
                    let detail = match refusal {
                        Refusal::PlainHttp => format!("plain HTTP request for {}", request.path()),
                        _ => format!("nothing at {}", request.path()),
                    };
                    shared.refuse(peer, refusal, response.status, &detail);
                    response
                }
                Route::Respond(page) => page,
                Route::Upgrade => unreachable!("replaced by refuse_plain_http above"),
            };
            return respond(stream, &response.to_bytes()).await;
        }
        ParsedRequest::Upgrade(request) => request,
    };
    let refusal = if *shared.stop.borrow() {
        Some((Refusal::ShuttingDown, 503, "Server shutting down\n"))
    } else if shared.active.load(Ordering::Acquire) > config.max_connections {
        Some((Refusal::Overloaded, 503, "Too many connections\n"))
    } else if !origin_allowed(request.header("origin"), config) {
        Some((Refusal::Origin, 403, "Origin not allowed\n"))
    } else {
        None
    };
    if let Some((refusal, status, body)) = refusal {
        let detail = format!(
            "{} (origin {:?})",
            body.trim_end(),
            request.header("origin").unwrap_or("")
        );
        shared.refuse(peer, refusal, status, &detail);
        return respond(stream, &Response::new(status, body).to_bytes()).await;
    }
    let (refusal, response) = match shared.app.route(&request, true) {
        Route::Upgrade => {
            let conn = Arc::new(Conn::new(
                Request::new(request, peer, local).secure(T::SECURE),
                shared.websocket.clone(),
            ));
            return run(&guard, conn, stream, leftover).await;
        }
        Route::Refuse(refusal, response) => (refusal, response),
        Route::Respond(response) => (Refusal::NotFound, response),
    };
    let detail = format!("no WebSocket route for {}", request.path());
    shared.refuse(peer, refusal, response.status, &detail);
    respond(stream, &response.to_bytes()).await
}

/// Register an upgraded connection, hand it to the application and drive
/// its socket until it is closed.
async fn run<T: Transport>(guard: &ActiveGuard, conn: Arc<Conn>, stream: T, leftover: BytesMut) {
    let shared = &guard.0;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.total.fetch_add(1, Ordering::Relaxed);
    conn.topics.attach(&shared.topics);
    shared.conns().insert(id, conn.clone());
    shared.app.connect(conn.clone());
    crate::io::drive(conn.clone(), stream, leftover).await;
    shared.topics.leave_all(&conn);
    shared.conns().remove(&id);
    if let Some(status) = conn.refused_with() {
        match status {
            // Server::close answers handshakes still waiting for the application.
            503 if *shared.stop.borrow() => shared.refuse(
                conn.request().peer_addr(),
                Refusal::ShuttingDown,
                503,
                "Server shutting down",
            ),
            _ => {
                let detail = format!("by the handler of {}", conn.request().path());
                shared.refuse(
                    conn.request().peer_addr(),
                    Refusal::Handler,
                    status,
                    &detail,
                )
            }
        }
    }
    shared
        .closed_traffic
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add(&conn.stats());
}

/// Whether a browser `Origin` may connect: exact matches (case-insensitive)
/// or `scheme://*.domain[:port]` patterns for any subdomain of `domain`.
pub(crate) fn origin_allowed(origin: Option<&str>, config: &ServerConfig) -> bool {
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
/// Boxed (see `serve_stream`): its read buffer and timers are not kept in
/// every connection's task.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(stream: S, response: &[u8]) {
    Box::pin(respond_now(stream, response)).await
}

async fn respond_now<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &[u8]) {
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
