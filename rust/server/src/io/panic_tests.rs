//! A panic on either side of a connection's task (a bug of ours, injected
//! here through a stream whose read or write panics) ends that connection:
//! the task returns instead of unwinding, the application sees the
//! connection closed (1006), and the peer sees the stream end.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::time::timeout;

use super::{drive, ReadHalf, Transport, WriteHalf};
use crate::config::WebSocketConfig;
use crate::conn::Conn;
use crate::message::CloseCode;
use crate::request::Request;
use crate::websocket::WebSocket;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Read,
    Write,
}

/// One end of an in-memory stream that panics on its first read or write.
struct Faulty(DuplexStream, Fault);

struct FaultyRead(tokio::io::ReadHalf<DuplexStream>, Fault);
struct FaultyWrite(tokio::io::WriteHalf<DuplexStream>, Fault);

impl ReadHalf for FaultyRead {
    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        assert!(self.1 != Fault::Read, "injected read-side panic");
        self.0.read_buf(buf).await
    }
}

impl WriteHalf for FaultyWrite {
    async fn write_some(&mut self, data: &[u8]) -> io::Result<usize> {
        assert!(self.1 != Fault::Write, "injected write-side panic");
        self.0.write(data).await
    }
    async fn write_vectored_some(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        assert!(self.1 != Fault::Write, "injected write-side panic");
        self.0.write_vectored(bufs).await
    }
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        AsyncWriteExt::flush(&mut self.0)
    }
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        AsyncWriteExt::shutdown(&mut self.0)
    }
}

impl AsyncRead for Faulty {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Faulty {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Transport for Faulty {
    type R = FaultyRead;
    type W = FaultyWrite;
    fn halves(
        self,
    ) -> (
        Self::R,
        Self::W,
        Option<Arc<tokio::net::tcp::OwnedWriteHalf>>,
    ) {
        let (r, w) = tokio::io::split(self.0);
        (FaultyRead(r, self.1), FaultyWrite(w, self.1), None)
    }
}

/// Run a connection on a stream with `fault` and accept it; returns what
/// the peer read before the stream ended.
async fn run_with(fault: Fault) -> Vec<u8> {
    let (ours, mut peer) = tokio::io::duplex(64 << 10);
    let request = Request::from_key("dGhlIHNhbXBsZSBub25jZQ==".into(), None);
    let conn = Arc::new(Conn::new(request, WebSocketConfig::default()));
    let task = tokio::spawn(drive(conn.clone(), Faulty(ours, fault), BytesMut::new()));
    let mut ws = WebSocket::from_conn(conn);
    // A write-side fault may close the connection before the answer is out.
    let _ = ws.accept(None).await;
    let joined = timeout(WAIT, task).await.expect("the task did not end");
    assert!(joined.is_ok(), "the panic escaped the connection's task");
    timeout(WAIT, ws.wait_closed())
        .await
        .expect("wait_closed did not resolve");
    assert_eq!(
        ws.close_reason().map(|(code, _)| code),
        Some(CloseCode::Abnormal)
    );
    let mut seen = Vec::new();
    timeout(WAIT, peer.read_to_end(&mut seen))
        .await
        .expect("the peer's stream did not end")
        .expect("the peer's read failed");
    seen
}

#[tokio::test]
async fn a_read_side_panic_closes_the_connection_after_the_handshake_answer() {
    let seen = run_with(Fault::Read).await;
    assert!(seen.starts_with(b"HTTP/1.1 101"), "peer read {seen:?}");
}

#[tokio::test]
async fn a_write_side_panic_closes_the_connection() {
    let seen = run_with(Fault::Write).await;
    assert!(seen.is_empty(), "peer read {seen:?}");
}
