//! The byte streams a connection runs on, as the read and write halves the
//! connection's task drives: plain TCP (split without a lock, with the write
//! half shared so a reply can be written from the sending thread), Unix
//! sockets and TLS in both roles (through tokio's I/O traits).
//!
//! The halves are traits of our own rather than tokio's `AsyncRead` and
//! `AsyncWrite` because TCP's read half waits for readiness without a
//! buffer (an idle connection holds none) and its write half writes with
//! `try_write` from a shared `&self`; the other streams get both through
//! the generic [`Io`] wrapper.

use std::future::Future;
use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The read side's half of a stream.
pub(crate) trait ReadHalf: Send + 'static {
    /// Whether [`ReadHalf::wait_readable`] can wait without a buffer, so an
    /// idle connection may hold none (plain TCP; TLS keeps bytes of its own).
    const READINESS: bool = false;
    /// Wait until a read would not block.
    fn wait_readable(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        std::future::ready(Ok(()))
    }
    /// Read what is available into `buf` (0 at EOF).
    fn read_into<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

/// The write side's half of a stream.
pub(crate) trait WriteHalf: Send + 'static {
    /// Write some of `data`, returning how much.
    fn write_some<'a>(
        &'a mut self,
        data: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Write some of `bufs` with one vectored write, returning how much.
    fn write_vectored_some<'a>(
        &'a mut self,
        bufs: &'a [IoSlice<'a>],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Push out anything the stream buffers itself (TLS records).
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// Send FIN.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
}

/// Halves of a stream that implements tokio's I/O traits (TLS, Unix sockets).
pub(crate) struct Io<T>(T);

/// The read half of a TCP socket: readiness without a buffer.
pub(crate) struct TcpRead(OwnedReadHalf);

impl ReadHalf for TcpRead {
    const READINESS: bool = true;
    fn wait_readable(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        self.0.readable()
    }
    fn read_into<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.read_buf(buf)
    }
}

impl<T: AsyncRead + Unpin + Send + 'static> ReadHalf for Io<T> {
    fn read_into<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.read_buf(buf)
    }
}

impl<T: AsyncWrite + Unpin + Send + 'static> WriteHalf for Io<T> {
    fn write_some<'a>(
        &'a mut self,
        data: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.write(data)
    }
    fn write_vectored_some<'a>(
        &'a mut self,
        bufs: &'a [IoSlice<'a>],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        AsyncWriteExt::flush(&mut self.0)
    }
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        AsyncWriteExt::shutdown(&mut self.0)
    }
}

/// The write half of a TCP socket, shared by the write side and [`Conn`].
///
/// TCP is the hot path, so its write half is shared: the write side and
/// `Conn` both use readiness plus `try_write`, which take `&self`. That lets
/// `Conn` write a frame straight to the socket from the sending thread when
/// the writer is idle and nothing is buffered ([`Conn::send`]): the common
/// case of a reply costs one `write` syscall instead of a wake-up of the
/// connection's task. The read half stays tokio's own `OwnedReadHalf`, whose
/// `AsyncRead` knows that a short read drained the socket and so saves the
/// `EAGAIN` read that readiness plus `try_read` would make per message.
pub(crate) struct SharedTcp(Arc<OwnedWriteHalf>);

impl WriteHalf for SharedTcp {
    async fn write_some(&mut self, data: &[u8]) -> io::Result<usize> {
        loop {
            self.0.writable().await?;
            match self.0.try_write(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
    async fn write_vectored_some(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            self.0.writable().await?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    async fn shutdown(&mut self) -> io::Result<()> {
        let stream: &TcpStream = (*self.0).as_ref();
        socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
    }
}

/// A byte stream a connection can run on, split into halves for the reader
/// and write sides, plus the socket `Conn` may write to directly (TCP only).
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    type R: ReadHalf;
    type W: WriteHalf;
    /// Whether the stream is encrypted (wss://).
    const SECURE: bool = false;
    fn halves(self) -> (Self::R, Self::W, Option<Arc<OwnedWriteHalf>>);
}

impl Transport for TcpStream {
    type R = TcpRead;
    type W = SharedTcp;
    fn halves(self) -> (Self::R, Self::W, Option<Arc<OwnedWriteHalf>>) {
        // Frames are written whole and batched already; Nagle only adds latency.
        let _ = self.set_nodelay(true);
        let (rd, wr) = self.into_split();
        let wr = Arc::new(wr);
        (TcpRead(rd), SharedTcp(wr.clone()), Some(wr))
    }
}

impl Transport for tokio::net::UnixStream {
    type R = Io<tokio::net::unix::OwnedReadHalf>;
    type W = Io<tokio::net::unix::OwnedWriteHalf>;
    fn halves(self) -> (Self::R, Self::W, Option<Arc<OwnedWriteHalf>>) {
        let (r, w) = self.into_split();
        (Io(r), Io(w), None)
    }
}

impl Transport for tokio_rustls::client::TlsStream<TcpStream> {
    type R = Io<tokio::io::ReadHalf<Self>>;
    type W = Io<tokio::io::WriteHalf<Self>>;
    const SECURE: bool = true;
    fn halves(self) -> (Self::R, Self::W, Option<Arc<OwnedWriteHalf>>) {
        let _ = self.get_ref().0.set_nodelay(true);
        let (r, w) = tokio::io::split(self);
        (Io(r), Io(w), None)
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    type R = Io<tokio::io::ReadHalf<Self>>;
    type W = Io<tokio::io::WriteHalf<Self>>;
    const SECURE: bool = true;
    fn halves(self) -> (Self::R, Self::W, Option<Arc<OwnedWriteHalf>>) {
        let _ = self.get_ref().0.set_nodelay(true);
        let (r, w) = tokio::io::split(self);
        (Io(r), Io(w), None)
    }
}
