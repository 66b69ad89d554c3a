//! The outbound buffer: encoded frames waiting for the socket.
//!
//! Sends encode frames straight into one buffer; the writer (the write side
//! of the connection's task, see `crate::io`) takes the
//! whole buffer and writes it with one syscall, and producers wake it only on
//! the idle → scheduled transition, so a burst of sends costs one wake-up.
//! When the writer is idle and nothing is in flight, the sending thread writes
//! to the socket itself ([`Conn::flush`]). Above the high-water mark a sender
//! waits until the writer has drained the buffer below the low-water mark.
//! On a compressed connection data messages wait as [`OutItem`]s so the
//! writer deflates them, off the application's thread.
//!
//! Published messages ([`crate::topics`]) are framed once and shared by every
//! subscriber, so they are queued by reference: `chunks` holds shared frames
//! (and the connection's own bytes frozen ahead of them), always in front of
//! `raw`, and the writer sends chunks and `raw` with one vectored write. A
//! connection that never receives a published message never has a chunk, so
//! a plain send keeps its single-buffer path (and the direct write).
//!
//! A large uncompressed message (at least [`LARGE_MESSAGE`] bytes, server
//! role) is not copied into `raw`: copying megabytes into one growing buffer
//! costs a copy per message plus the copies of every reallocation. When the
//! socket is free its header and payload go out with one vectored write
//! straight from the caller's bytes, and only what the socket did not take
//! is kept; otherwise the header goes into `raw` and the payload is queued
//! as a chunk of its own, written where it is by the writer's `writev`.
//! That chunk is a copy when the caller only lent the payload
//! ([`Conn::send_with`]); a caller that hands it over ([`Conn::send_owned`]:
//! the Python binding with a `bytes` object, [`crate::WebSocket::send_binary`])
//! has it queued by reference, so a large message is never copied on the
//! way out.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use ferrosocket_proto::{
    encode_close_masked, encode_frame, DeflateParams, FrameHeader, MaskKeys, OpCode,
};
use tokio::net::tcp::OwnedWriteHalf;

use super::{Conn, Inner, Wakes};
use crate::error::WebSocketError;

/// Encode one final, uncompressed frame, masked with `mask` in the client
/// role: every kind of frame apart from compressed data messages.
pub(crate) fn frame(dst: &mut BytesMut, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        mask,
        ..FrameHeader::new(opcode, payload.len())
    };
    encode_frame(dst, header, payload);
}

/// Payload size from which an uncompressed message is written next to its
/// header (vectored) instead of being copied into the outbound buffer.
pub const LARGE_MESSAGE: usize = 16 << 10;

/// A message's payload as a sender hands it over: borrowed (copied if it has
/// to wait) or owned (queued by reference).
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Bytes),
}

impl Payload<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(b) => b,
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Payload::Borrowed(b) => Bytes::copy_from_slice(b),
            Payload::Owned(b) => b,
        }
    }
}

/// A frame waiting for the writer on a compressed connection.
#[derive(Debug)]
pub(crate) enum OutItem {
    /// A data message; `compress` says whether to deflate it.
    Message {
        opcode: OpCode,
        payload: Bytes,
        compress: bool,
    },
    /// An already encoded frame (the close frame).
    Raw(BytesMut),
    /// An already encoded frame shared with other connections (a published
    /// message, plain or compressed once for its group).
    Shared(Bytes),
}

/// What the writer takes in one go: shared chunks, then encoded bytes, then
/// queued items.
pub(crate) struct Outbound {
    pub(crate) chunks: VecDeque<Bytes>,
    pub(crate) raw: BytesMut,
    pub(crate) items: Vec<OutItem>,
}

pub(super) struct OutBuf {
    /// Encoded frames queued by reference, all of them ahead of `raw`.
    chunks: VecDeque<Bytes>,
    chunk_bytes: usize,
    /// Encoded bytes.
    pub(super) raw: BytesMut,
    /// Where the payloads of large messages are copied when the socket
    /// cannot take them at once: kept, so the allocation is reused.
    large: BytesMut,
    /// With permessage-deflate, data messages (and the close frame, which
    /// must follow them) wait here for the writer to compress them.
    queue: Vec<OutItem>,
    queued_bytes: usize,
    pub(super) deflate: Option<DeflateParams>,
    /// Bytes the writer took and has not finished writing.
    in_flight: usize,
    /// The latest ping's answer, kept while the peer does not read.
    owed_pong: Option<Bytes>,
    writer_waker: Option<Waker>,
    writer_idle: bool,
    pub(super) send_wakers: Vec<Waker>,
    /// Client role: every frame encoded here is masked with the next key.
    /// Boxed: the key pool is only needed in the client role.
    pub(super) masks: Option<Box<MaskKeys>>,
}

impl Default for OutBuf {
    fn default() -> Self {
        OutBuf {
            chunks: VecDeque::new(),
            chunk_bytes: 0,
            raw: BytesMut::new(),
            large: BytesMut::new(),
            queue: Vec::new(),
            queued_bytes: 0,
            deflate: None,
            in_flight: 0,
            owed_pong: None,
            writer_waker: None,
            writer_idle: true,
            send_wakers: Vec::new(),
            masks: None,
        }
    }
}

impl OutBuf {
    pub(super) fn buffered(&self) -> usize {
        self.raw.len() + self.chunk_bytes + self.queued_bytes + self.in_flight
    }

    /// Queue a shared, already encoded frame behind everything queued so
    /// far: by reference on a plain connection (the bytes of `raw` move into
    /// `chunks` first, without a copy), as an item on a compressed one.
    pub(super) fn push_shared(&mut self, frame: Bytes) {
        if self.deflate.is_some() {
            self.queued_bytes += frame.len();
            self.queue.push(OutItem::Shared(frame));
            return;
        }
        self.push_chunk(frame);
    }

    /// Queue encoded bytes by reference behind everything queued so far
    /// (plain connections only).
    fn push_chunk(&mut self, frame: Bytes) {
        if !self.raw.is_empty() {
            let own = self.raw.split().freeze();
            self.chunk_bytes += own.len();
            self.chunks.push_back(own);
        }
        self.chunk_bytes += frame.len();
        self.chunks.push_back(frame);
    }

    /// Queue a data message for the writer to deflate (compressed
    /// connections only); `payload` may be shared with other connections.
    pub(super) fn push_deflate(&mut self, opcode: OpCode, payload: Bytes) {
        self.queued_bytes += payload.len();
        self.queue.push(OutItem::Message {
            opcode,
            payload,
            compress: true,
        });
    }

    /// Whether the writer is idle and nothing but `raw` is queued, so the
    /// sending thread may write `raw` to the socket itself.
    fn socket_free_but_raw(&self) -> bool {
        self.writer_idle && self.in_flight == 0 && self.queue.is_empty() && self.chunks.is_empty()
    }

    /// Whether nothing at all is queued or being written.
    fn socket_free(&self) -> bool {
        self.raw.is_empty() && self.socket_free_but_raw()
    }

    /// Send a large unmasked frame without copying it into `raw` (see the
    /// module docs): written now with one vectored write when the socket is
    /// free, the rest queued as a chunk of its own: by reference when the
    /// caller handed over an owned payload, else copied out of `large`.
    fn push_large(
        &mut self,
        socket: Option<&OwnedWriteHalf>,
        opcode: OpCode,
        payload: Payload<'_>,
    ) {
        let bytes = payload.as_slice();
        let (header, n) = FrameHeader::new(opcode, bytes.len()).to_bytes();
        let header = &header[..n];
        let mut written = 0;
        if let Some(socket) = socket.filter(|_| self.socket_free()) {
            let parts = [IoSlice::new(header), IoSlice::new(bytes)];
            written = socket.try_write_vectored(&parts).unwrap_or(0);
        }
        if written < header.len() {
            self.raw.extend_from_slice(&header[written..]);
            written = header.len();
        }
        let start = written - header.len();
        if start == bytes.len() {
            return;
        }
        let chunk = match payload {
            Payload::Owned(owned) => owned.slice(start..),
            Payload::Borrowed(bytes) => {
                // Copied out of `large`, whose allocation comes back here once
                // the writer has dropped the chunk (the next reserve reclaims it).
                let rest = &bytes[start..];
                self.large.reserve(rest.len());
                self.large.extend_from_slice(rest);
                self.large.split().freeze()
            }
        };
        self.push_chunk(chunk);
    }

    /// The masking key for the next frame: `None` in the server role.
    pub(super) fn mask(&mut self) -> Option<[u8; 4]> {
        self.masks.as_deref_mut().map(MaskKeys::next_key)
    }

    /// Queue a close frame behind every data message already sent.
    pub(super) fn push_close(&mut self, code: Option<u16>, reason: &str) {
        let mask = self.mask();
        if self.deflate.is_some() {
            let mut frame = BytesMut::new();
            encode_close_masked(&mut frame, code, reason, mask);
            self.queue.push(OutItem::Raw(frame));
        } else {
            encode_close_masked(&mut self.raw, code, reason, mask);
        }
    }

    /// Queue a pong, or keep only the latest while the writer is stuck on
    /// the socket or the buffer is above `high_water`, as RFC 6455 §5.5.3
    /// allows, so a ping flood cannot grow the buffer. A kept pong costs no
    /// latency: the writer takes it with its next batch, which is the
    /// earliest it could go out anyway.
    pub(super) fn push_pong(&mut self, payload: Bytes, high_water: usize) {
        if self.in_flight > 0 || self.buffered() > high_water {
            self.owed_pong = Some(payload);
        } else {
            let mask = self.mask();
            frame(&mut self.raw, OpCode::Pong, &payload, mask);
        }
    }

    pub(super) fn schedule_writer(&mut self) -> Option<Waker> {
        if self.writer_idle {
            self.writer_idle = false;
            self.writer_waker.take()
        } else {
            None
        }
    }
}

impl Conn {
    pub(crate) fn set_direct(&self, socket: Arc<OwnedWriteHalf>) {
        let _ = self.direct.set(socket);
    }

    /// Get freshly buffered bytes on their way. When the writer is idle
    /// and nothing is in flight, write them to the socket right here, on the
    /// sending thread: a non-blocking `write` is cheaper than waking the
    /// connection's task (and, for Python, than a thread hop), and ordering is
    /// safe because the writer only takes the buffer under this same lock.
    /// Whatever the socket does not take now is left to the writer.
    pub(super) fn flush(&self, inner: &mut Inner) -> Option<Waker> {
        let out = &mut inner.out;
        if out.socket_free_but_raw() {
            if let Some(socket) = self.direct.get() {
                if !out.raw.is_empty() {
                    if let Ok(n) = socket.try_write(&out.raw) {
                        out.raw.advance(n);
                    }
                }
                if out.raw.is_empty() && !inner.session.is_finishing() && out.owed_pong.is_none() {
                    return None;
                }
            }
        }
        out.schedule_writer()
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.lock().out.deflate
    }

    fn check_sendable(&self, inner: &Inner) -> Result<(), WebSocketError> {
        if inner.session.can_send() {
            Ok(())
        } else if *inner.session.state() == ferrosocket_proto::session::State::Connecting {
            Err(WebSocketError::NotAccepted)
        } else {
            Err(self.closed_error(inner))
        }
    }

    /// Encode one unfragmented frame into the outbound buffer. Returns `true`
    /// when the buffer is now above the high-water mark, so the caller should
    /// wait with [`Conn::poll_send_ready`] before sending more.
    pub fn send(&self, opcode: OpCode, payload: &[u8]) -> Result<bool, WebSocketError> {
        self.send_with(opcode, payload, true)
    }

    /// [`Conn::send`], choosing per message whether a data frame may be
    /// compressed (only matters when permessage-deflate was agreed).
    pub fn send_with(
        &self,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> Result<bool, WebSocketError> {
        self.send_payload(opcode, Payload::Borrowed(payload), compress)
    }

    /// [`Conn::send_with`] for a payload the caller hands over: a large
    /// message the socket does not take at once is queued by reference
    /// (and so is every message of a compressed connection) instead of being
    /// copied. The `Bytes` is dropped once written, on whichever thread
    /// wrote it.
    pub fn send_owned(
        &self,
        opcode: OpCode,
        payload: Bytes,
        compress: bool,
    ) -> Result<bool, WebSocketError> {
        self.send_payload(opcode, Payload::Owned(payload), compress)
    }

    fn send_payload(
        &self,
        opcode: OpCode,
        payload: Payload<'_>,
        compress: bool,
    ) -> Result<bool, WebSocketError> {
        let len = payload.as_slice().len();
        if matches!(opcode, OpCode::Ping | OpCode::Pong) && len > 125 {
            return Err(WebSocketError::InvalidArgument(
                "ping and pong payloads are limited to 125 bytes".into(),
            ));
        }
        let waker;
        let above;
        {
            let mut inner = self.lock();
            self.check_sendable(&inner)?;
            let data = matches!(opcode, OpCode::Text | OpCode::Binary);
            let out = &mut inner.out;
            if data && out.deflate.is_some() {
                let compress = compress && self.config.deflate.should_compress(len);
                out.queue.push(OutItem::Message {
                    opcode,
                    payload: payload.into_bytes(),
                    compress,
                });
                out.queued_bytes += len;
            } else if data && len >= LARGE_MESSAGE && out.masks.is_none() {
                out.push_large(self.direct.get().map(|s| &**s), opcode, payload);
            } else {
                let mask = out.mask();
                frame(&mut out.raw, opcode, payload.as_slice(), mask);
            }
            above = out.buffered() > self.config.write_high_water;
            if data {
                inner.stats.messages_out += 1;
                inner.stats.bytes_out += len as u64;
            }
            waker = self.flush(&mut inner);
        }
        if let Some(w) = waker {
            w.wake();
        }
        Ok(above)
    }

    /// Ready once the outbound buffer is at or below the low-water mark (or the
    /// connection is gone, which is reported as an error).
    pub fn poll_send_ready(&self, waker: &Waker) -> Poll<Result<(), WebSocketError>> {
        let mut inner = self.lock();
        let gone = inner.session.aborted()
            || *inner.session.state() == ferrosocket_proto::session::State::Closed;
        if gone {
            if inner.out.buffered() > 0 {
                return Poll::Ready(Err(self.closed_error(&inner)));
            }
            return Poll::Ready(Ok(()));
        }
        if inner.out.buffered() <= self.config.write_low_water {
            return Poll::Ready(Ok(()));
        }
        if !inner.out.send_wakers.iter().any(|w| w.will_wake(waker)) {
            inner.out.send_wakers.push(waker.clone());
        }
        Poll::Pending
    }

    /// Bytes waiting to be written.
    pub fn buffered_amount(&self) -> usize {
        self.lock().out.buffered()
    }

    // ----- the writer's side -----------------------------------------------------

    /// Take everything buffered, or `None` once the connection is finished and
    /// flushed (the writer then shuts the socket down).
    pub(crate) fn poll_take_outbound(&self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let mut inner = self.lock();
        let finishing = inner.session.is_finishing();
        let out = &mut inner.out;
        if let Some(pong) = out.owed_pong.take() {
            let mask = out.mask();
            frame(&mut out.raw, OpCode::Pong, &pong, mask);
        }
        if !out.raw.is_empty() || !out.queue.is_empty() || !out.chunks.is_empty() {
            let raw = out.raw.split();
            let items = std::mem::take(&mut out.queue);
            let chunks = std::mem::take(&mut out.chunks);
            out.in_flight = raw.len() + out.queued_bytes + out.chunk_bytes;
            out.queued_bytes = 0;
            out.chunk_bytes = 0;
            return Poll::Ready(Some(Outbound { chunks, raw, items }));
        }
        out.in_flight = 0;
        if finishing {
            return Poll::Ready(None);
        }
        out.writer_idle = true;
        // The write side is polled on every wake-up of the connection's
        // task, mostly with the same waker: keep it rather than clone it.
        if !out
            .writer_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            out.writer_waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The writer finished writing (and dropped) what it took, `len` bytes.
    pub(crate) fn wrote(&self, len: usize) {
        let mut wakes = Wakes::default();
        {
            let want = len.min(64 << 10);
            let mut inner = self.lock();
            let out = &mut inner.out;
            out.in_flight = 0;
            // The chunk was split off `raw`'s allocation; now that it is
            // dropped, reserving reclaims that allocation instead of growing.
            if out.raw.is_empty() {
                out.raw.reserve(want);
            }
            if out.buffered() <= self.config.write_low_water {
                wakes.add_all(&mut out.send_wakers);
            }
        }
        wakes.wake();
    }
}
