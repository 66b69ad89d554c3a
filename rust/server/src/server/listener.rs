//! Listening sockets and the accept loop.
//!
//! TCP and Unix listeners behind one type, so the rest of the server never
//! cares which it got; TLS is set up here, per accepted connection, before
//! the HTTP upgrade is read (see `upgrade.rs`).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::upgrade::serve_stream;
use super::{ActiveGuard, Refusal, Shared};

/// Bind a non-blocking Unix domain socket at `path`, for the server's
/// `--uds` and for the broker's local bus alike.
///
/// A socket file left by a previous run (nobody accepts on it) is removed
/// first, so a restarted service can bind again; a live socket or any other
/// file is left alone and the bind reports it.
pub fn bind_unix(path: &str) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket && std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
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

pub(super) enum Accepted {
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

    pub(super) fn address(&self) -> io::Result<String> {
        Ok(match self {
            Listener::Tcp(l) => l.local_addr()?.to_string(),
            Listener::Unix(l) => match l.local_addr()?.as_pathname() {
                Some(p) => format!("unix:{}", p.display()),
                None => "unix:(unnamed)".to_owned(),
            },
        })
    }
}

pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    listener: Listener,
    mut stop: watch::Receiver<bool>,
) {
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
                // Boxed: a TLS session is kilobytes, and a plain connection's
                // task would otherwise keep room for one its whole life.
                Some(tls) => Box::pin(serve_tls(guard, tcp, peer, local, tls)).await,
            }
        }
        Accepted::Unix(stream) => serve_stream(guard, stream, None, None).await,
    }
}

async fn serve_tls(
    guard: ActiveGuard,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) {
    let handshake = TlsAcceptor::from(tls).accept(tcp);
    match timeout(guard.0.config.handshake_timeout, handshake).await {
        Ok(Ok(stream)) => serve_stream(guard, stream, Some(peer), local).await,
        Ok(Err(err)) => guard.0.refuse(
            Some(peer),
            Refusal::Tls,
            0,
            &format!("TLS handshake failed: {err}"),
        ),
        Err(_) => guard
            .0
            .refuse(Some(peer), Refusal::Timeout, 0, "TLS handshake timed out"),
    }
}
