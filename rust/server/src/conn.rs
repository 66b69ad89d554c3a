//! The state one connection's tasks and its application share.
//!
//! A connection is driven by three parties: a reader task and a writer task on
//! tokio, and the application, which is either a Rust future or Python code on
//! the asyncio thread. They meet here, in plain Rust state behind one short
//! mutex, and never block on each other:
//!
//! - the reader decodes frames, answers pings, echoes the peer's close, and
//!   pushes data messages onto a bounded inbound queue; when the queue is full
//!   it stops reading, so TCP flow control reaches the client;
//! - the application pops messages without waiting when one is queued
//!   ([`Conn::try_recv`]) and otherwise leaves a [`Waker`];
//! - sends encode frames straight into one outbound buffer; the writer takes
//!   the whole buffer and writes it with one syscall, and producers wake it only
//!   on the idle → scheduled transition, so a burst of sends costs one wake-up;
//! - above the high-water mark a sender waits until the writer has drained the
//!   buffer below the low-water mark.
//!
//! Every wait is a plain [`std::task::Waker`], which is what lets Python use
//! the same engine: its wakers signal the asyncio loop through one file
//! descriptor instead of running tokio code, and no Python object ever lives
//! in this state. Wakers are woken after the lock is released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use ferrosocket_proto::{
    build_accept_response, build_response, encode_close, encode_frame, negotiate, DeflateParams,
    OpCode,
};
use tokio::net::tcp::OwnedWriteHalf;

use crate::config::WebSocketConfig;
use crate::error::WebSocketError;
use crate::message::CloseCode;
use crate::request::Request;

/// Connection states, as `WebSocket::state()` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// The upgrade request arrived; the application has not answered it.
    Connecting = 0,
    /// Accepted: messages flow both ways.
    Open = 1,
    /// We sent a close frame and wait for the peer's.
    Closing = 2,
    /// The close handshake is over, failed, or the socket is gone.
    Closed = 3,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Connecting,
            1 => State::Open,
            2 => State::Closing,
            _ => State::Closed,
        }
    }

    /// `"CONNECTING" | "OPEN" | "CLOSING" | "CLOSED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "CONNECTING",
            State::Open => "OPEN",
            State::Closing => "CLOSING",
            State::Closed => "CLOSED",
        }
    }
}

/// A message waiting for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message; the bytes are valid UTF-8 (checked by the decoder).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The connection closed with this code and reason; the last item ever queued.
    Close(u16, String),
}

impl Incoming {
    fn weight(&self) -> usize {
        match self {
            Incoming::Text(b) | Incoming::Binary(b) => b.len(),
            Incoming::Close(..) => 0,
        }
    }
}

/// A frame waiting for the writer task on a compressed connection.
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
}

/// What the writer takes in one go: encoded bytes first, then queued items.
pub(crate) struct Outbound {
    pub(crate) raw: BytesMut,
    pub(crate) items: Vec<OutItem>,
}

/// How a connection ends once reading stops.
#[derive(Clone, Debug)]
pub(crate) enum Ending {
    /// The peer sent a close frame with this code (if any) and reason.
    PeerClosed(Option<u16>, String),
    /// The peer broke the protocol: we close with this code.
    Failed(u16, String),
}

impl Ending {
    /// The code and reason the application sees.
    fn seen(&self) -> (u16, String) {
        match self {
            Ending::PeerClosed(code, reason) => (code.unwrap_or(1005), reason.clone()),
            Ending::Failed(code, reason) => (*code, reason.clone()),
        }
    }
}

/// How the application answered the upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Pending,
    Accepted,
    Rejected,
}

struct Inner {
    // Inbound side.
    inbound: VecDeque<Incoming>,
    inbound_bytes: usize,
    close_delivered: bool,
    recv_waker: Option<Waker>,
    reader_waker: Option<Waker>,
    decision: Decision,
    // Outbound side.
    out: BytesMut,
    /// With permessage-deflate, data messages (and the close frame, which
    /// must follow them) wait here for the writer task to compress them.
    queue: Vec<OutItem>,
    queued_bytes: usize,
    deflate: Option<DeflateParams>,
    in_flight: usize,
    owed_pong: Option<Bytes>,
    writer_waker: Option<Waker>,
    writer_idle: bool,
    send_wakers: Vec<Waker>,
    // Closing.
    close_sent: bool,
    close_received: bool,
    close_sent_at: Option<Instant>,
    /// The writer shuts the socket down once `out` is flushed.
    finish: bool,
    /// The code and reason the connection ended with, as the application sees it.
    closed: Option<(u16, String)>,
    /// A close (the peer's, or ours after a protocol error) that arrived while
    /// earlier messages were still queued: it takes effect when the
    /// application reaches it, so replies to those messages go out before
    /// our close frame.
    deferred: Option<Ending>,
    /// An [`Incoming::Close`] has been queued (it is queued once).
    close_queued: bool,
    io_done: bool,
    closed_wakers: Vec<Waker>,
    /// The server gave up on this connection: the reader stops at once.
    abort: bool,
    // Keepalive.
    ping_sent: Option<(u32, Instant)>,
    pings: u32,
    latency: Option<Duration>,
    // Counters.
    stats: ConnStats,
}

/// Traffic counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Data messages received.
    pub messages_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Payload bytes of the messages received.
    pub bytes_in: u64,
    /// Payload bytes of the messages sent.
    pub bytes_out: u64,
}

impl ConnStats {
    /// Field-wise sum.
    pub fn add(&mut self, other: &ConnStats) {
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }
}

/// Wakers collected under the lock and woken after it is released.
#[derive(Default)]
struct Wakes(Vec<Waker>);

impl Wakes {
    fn add(&mut self, waker: Option<Waker>) {
        if let Some(w) = waker {
            self.0.push(w);
        }
    }
    fn add_all(&mut self, wakers: &mut Vec<Waker>) {
        self.0.append(wakers);
    }
    fn wake(self) {
        for w in self.0 {
            w.wake();
        }
    }
}

/// Shared state of one connection. See the module docs.
pub struct Conn {
    request: Request,
    config: WebSocketConfig,
    state: AtomicU8,
    inner: Mutex<Inner>,
    /// The TCP socket, for writes straight from the sending thread.
    direct: OnceLock<Arc<OwnedWriteHalf>>,
}

impl Conn {
    pub(crate) fn new(request: Request, config: WebSocketConfig) -> Conn {
        Conn {
            request,
            config,
            state: AtomicU8::new(State::Connecting as u8),
            direct: OnceLock::new(),
            inner: Mutex::new(Inner {
                inbound: VecDeque::new(),
                inbound_bytes: 0,
                close_delivered: false,
                recv_waker: None,
                reader_waker: None,
                decision: Decision::Pending,
                out: BytesMut::new(),
                queue: Vec::new(),
                queued_bytes: 0,
                deflate: None,
                in_flight: 0,
                owed_pong: None,
                writer_waker: None,
                writer_idle: true,
                send_wakers: Vec::new(),
                close_sent: false,
                close_received: false,
                close_sent_at: None,
                finish: false,
                closed: None,
                deferred: None,
                close_queued: false,
                io_done: false,
                closed_wakers: Vec::new(),
                abort: false,
                ping_sent: None,
                pings: 0,
                latency: None,
                stats: ConnStats::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves no half-updated invariant
        // worth refusing service for, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// The upgrade request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The connection's settings.
    pub fn config(&self) -> &WebSocketConfig {
        &self.config
    }

    /// The current state (lock-free).
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// The code and reason the connection closed with, once it has.
    pub fn close_info(&self) -> Option<(u16, String)> {
        self.lock().closed.clone()
    }

    // ----- the handshake answer -------------------------------------------------

    /// Queue the 101 response; frames may be sent right after.
    pub fn accept(
        &self,
        subprotocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(), WebSocketError> {
        if let Some(p) = subprotocol {
            if p.is_empty() || p.bytes().any(|b| !(0x21..0x7f).contains(&b) || b == b',') {
                return Err(WebSocketError::InvalidArgument(format!(
                    "invalid subprotocol token {p:?}"
                )));
            }
        }
        let agreed = if self.config.deflate.enabled {
            negotiate(&self.request.head().extensions, &self.config.deflate)
        } else {
            None
        };
        let extension = agreed.as_ref().map(|(_, header)| header.as_str());
        let response = build_accept_response(self.request.key(), subprotocol, extension, headers);
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            if inner.decision != Decision::Pending {
                return Err(WebSocketError::AlreadyAccepted);
            }
            inner.decision = Decision::Accepted;
            inner.out.extend_from_slice(&response);
            inner.deflate = agreed.map(|(params, _)| params);
            self.set_state(State::Open);
            wakes.add(inner.reader_waker.take());
            wakes.add(self.flush(&mut inner));
        }
        wakes.wake();
        Ok(())
    }

    /// Answer the upgrade request with a plain HTTP response and close.
    pub fn reject(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), WebSocketError> {
        crate::error::check_refusal_status(status)?;
        let response = build_response(status, headers, body);
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            if inner.decision != Decision::Pending {
                return Err(WebSocketError::AlreadyAccepted);
            }
            inner.decision = Decision::Rejected;
            inner.out.extend_from_slice(&response);
            inner.finish = true;
            inner.closed = Some((1006, format!("handshake rejected with HTTP {status}")));
            self.set_state(State::Closed);
            wakes.add(inner.reader_waker.take());
            wakes.add(self.flush(&mut inner));
            wakes.add_all(&mut inner.send_wakers);
        }
        wakes.wake();
        Ok(())
    }

    pub(crate) fn poll_decision(&self, cx: &mut Context<'_>) -> Poll<Decision> {
        let mut inner = self.lock();
        match inner.decision {
            Decision::Pending => {
                inner.reader_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            d => Poll::Ready(d),
        }
    }

    // ----- receiving -------------------------------------------------------------

    fn pop(
        &self,
        inner: &mut Inner,
        wakes: &mut Wakes,
    ) -> Result<Option<Incoming>, WebSocketError> {
        match inner.inbound.pop_front() {
            Some(msg) => {
                inner.inbound_bytes -= msg.weight();
                if matches!(msg, Incoming::Close(..)) {
                    inner.close_delivered = true;
                    if let Some(ending) = inner.deferred.take() {
                        self.end_locked(inner, wakes, ending);
                    }
                }
                if inner.reader_waker.is_some() && !self.queue_full(inner) {
                    wakes.add(inner.reader_waker.take());
                }
                Ok(Some(msg))
            }
            None if inner.close_delivered => {
                let (code, reason) = inner.closed.clone().unwrap_or((1006, String::new()));
                Err(WebSocketError::ConnectionClosed(
                    CloseCode::from(code),
                    reason,
                ))
            }
            None if inner.decision == Decision::Pending => Err(WebSocketError::NotAccepted),
            None if inner.decision == Decision::Rejected => Err(WebSocketError::ConnectionClosed(
                CloseCode::Abnormal,
                String::new(),
            )),
            None => Ok(None),
        }
    }

    /// The next queued message without waiting: `Ok(None)` when none is queued.
    /// After the [`Incoming::Close`] item has been returned once, every call
    /// fails with [`WebSocketError::ConnectionClosed`].
    pub fn try_recv(&self) -> Result<Option<Incoming>, WebSocketError> {
        let mut wakes = Wakes::default();
        let r = {
            let mut inner = self.lock();
            self.pop(&mut inner, &mut wakes)
        };
        wakes.wake();
        r
    }

    /// Like [`Conn::try_recv`], but leaves `waker` to be woken when a message
    /// arrives if none is queued. Only one receiver waits at a time: a second
    /// waker replaces the first.
    pub fn poll_recv(&self, waker: &Waker) -> Poll<Result<Incoming, WebSocketError>> {
        let mut wakes = Wakes::default();
        let r = {
            let mut inner = self.lock();
            match self.pop(&mut inner, &mut wakes) {
                Ok(Some(msg)) => Poll::Ready(Ok(msg)),
                Err(e) => Poll::Ready(Err(e)),
                Ok(None) => {
                    match &inner.recv_waker {
                        Some(w) if w.will_wake(waker) => {}
                        _ => inner.recv_waker = Some(waker.clone()),
                    }
                    Poll::Pending
                }
            }
        };
        wakes.wake();
        r
    }

    /// Leave `waker` to be woken when [`Conn::try_recv`] has something to
    /// return, without taking it. Returns `true` (and leaves nothing) when
    /// `try_recv` would already return a message or an error: the caller
    /// should call it instead of waiting.
    pub fn register_recv(&self, waker: &Waker) -> bool {
        let mut inner = self.lock();
        if !inner.inbound.is_empty()
            || inner.close_delivered
            || inner.decision != Decision::Accepted
        {
            return true;
        }
        match &inner.recv_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inner.recv_waker = Some(waker.clone()),
        }
        false
    }

    /// Forget a waker left by [`Conn::poll_recv`] (the wait was cancelled).
    pub fn clear_recv_waker(&self) {
        self.lock().recv_waker = None;
    }

    fn queue_full(&self, inner: &Inner) -> bool {
        inner.inbound.len() >= self.config.max_queue
            || inner.inbound_bytes >= self.config.max_queue_bytes
    }

    // ----- sending ---------------------------------------------------------------

    pub(crate) fn set_direct(&self, socket: Arc<OwnedWriteHalf>) {
        let _ = self.direct.set(socket);
    }

    /// Get freshly buffered bytes on their way. When the writer task is idle
    /// and nothing is in flight, write them to the socket right here, on the
    /// sending thread: a non-blocking `write` is cheaper than waking the
    /// writer task (and, for Python, than a thread hop), and ordering is
    /// safe because the writer only takes the buffer under this same lock.
    /// Whatever the socket does not take now is left to the writer.
    fn flush(&self, inner: &mut Inner) -> Option<Waker> {
        if inner.writer_idle
            && inner.in_flight == 0
            && !inner.out.is_empty()
            && inner.queue.is_empty()
        {
            if let Some(socket) = self.direct.get() {
                if let Ok(n) = socket.try_write(&inner.out) {
                    inner.out.advance(n);
                }
                if inner.out.is_empty() && !inner.finish && inner.owed_pong.is_none() {
                    return None;
                }
            }
        }
        Self::schedule_writer(inner)
    }

    fn schedule_writer(inner: &mut Inner) -> Option<Waker> {
        if inner.writer_idle {
            inner.writer_idle = false;
            inner.writer_waker.take()
        } else {
            None
        }
    }

    fn buffered(inner: &Inner) -> usize {
        inner.out.len() + inner.queued_bytes + inner.in_flight
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.lock().deflate
    }

    /// Queue a close frame behind every data message already sent.
    fn push_close(inner: &mut Inner, code: Option<u16>, reason: &str) {
        if inner.deflate.is_some() {
            let mut frame = BytesMut::new();
            encode_close(&mut frame, code, reason);
            inner.queue.push(OutItem::Raw(frame));
        } else {
            encode_close(&mut inner.out, code, reason);
        }
    }

    fn check_sendable(&self, inner: &Inner) -> Result<(), WebSocketError> {
        if inner.decision == Decision::Pending {
            return Err(WebSocketError::NotAccepted);
        }
        if inner.close_sent || inner.finish {
            let (code, reason) = inner.closed.clone().unwrap_or((1006, String::new()));
            return Err(WebSocketError::ConnectionClosed(
                CloseCode::from(code),
                reason,
            ));
        }
        Ok(())
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
        if matches!(opcode, OpCode::Ping | OpCode::Pong) && payload.len() > 125 {
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
            if data && inner.deflate.is_some() {
                let compress = compress && self.config.deflate.should_compress(payload.len());
                inner.queue.push(OutItem::Message {
                    opcode,
                    payload: Bytes::copy_from_slice(payload),
                    compress,
                });
                inner.queued_bytes += payload.len();
            } else {
                encode_frame(&mut inner.out, opcode, payload, true);
            }
            if data {
                inner.stats.messages_out += 1;
                inner.stats.bytes_out += payload.len() as u64;
            }
            above = Self::buffered(&inner) > self.config.write_high_water;
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
        if inner.io_done || inner.abort {
            let (code, reason) = inner.closed.clone().unwrap_or((1006, String::new()));
            if Self::buffered(&inner) > 0 {
                return Poll::Ready(Err(WebSocketError::ConnectionClosed(
                    CloseCode::from(code),
                    reason,
                )));
            }
            return Poll::Ready(Ok(()));
        }
        if Self::buffered(&inner) <= self.config.write_low_water {
            return Poll::Ready(Ok(()));
        }
        if !inner.send_wakers.iter().any(|w| w.will_wake(waker)) {
            inner.send_wakers.push(waker.clone());
        }
        Poll::Pending
    }

    /// Bytes waiting to be written.
    pub fn buffered_amount(&self) -> usize {
        Self::buffered(&self.lock())
    }

    /// Send a close frame (the application's `close()`). Idempotent; before the
    /// handshake is answered it refuses the upgrade with HTTP 403 instead.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        crate::error::check_close(code, reason)?;
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            match inner.decision {
                Decision::Pending => {
                    drop(inner);
                    return self.reject(403, &[], b"Forbidden");
                }
                Decision::Rejected => return Ok(()),
                Decision::Accepted => {}
            }
            if inner.close_sent || inner.finish {
                return Ok(());
            }
            Self::push_close(&mut inner, Some(code), reason);
            inner.close_sent = true;
            inner.close_sent_at = Some(Instant::now());
            if inner.closed.is_none() {
                inner.closed = Some((code, reason.to_owned()));
            }
            // A peer close (or a failure) waiting behind queued messages ends
            // the connection as soon as our close frame is out.
            if inner.close_received || inner.deferred.take().is_some() {
                inner.close_received = true;
                let seen = inner.closed.clone().unwrap_or((code, reason.to_owned()));
                self.finish_locked(&mut inner, &mut wakes, seen);
            } else {
                self.set_state(State::Closing);
            }
            // Kick the reader so it starts the close timeout.
            wakes.add(inner.reader_waker.take());
            wakes.add(self.flush(&mut inner));
        }
        wakes.wake();
        Ok(())
    }

    /// When the close handshake we started must be over.
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        let inner = self.lock();
        inner.close_sent_at.map(|t| t + self.config.close_timeout)
    }

    // ----- the reader's side -----------------------------------------------------

    /// Queue a data message. Returns `true` when the queue is full and the
    /// reader should wait with [`Conn::poll_reader_resume`].
    pub(crate) fn on_message(&self, msg: Incoming) -> bool {
        let waker;
        let full;
        {
            let mut inner = self.lock();
            if inner.close_sent || inner.finish {
                // After our close, data frames are discarded (RFC 6455 §5.5.1).
                return false;
            }
            inner.inbound_bytes += msg.weight();
            inner.stats.messages_in += 1;
            inner.stats.bytes_in += msg.weight() as u64;
            inner.inbound.push_back(msg);
            full = self.queue_full(&inner);
            waker = inner.recv_waker.take();
        }
        if let Some(w) = waker {
            w.wake();
        }
        full
    }

    pub(crate) fn poll_reader_resume(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if !self.queue_full(&inner) || inner.finish || inner.close_sent {
            return Poll::Ready(());
        }
        inner.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ready once a close frame has been sent or the connection is finishing,
    /// so a reader blocked on the socket can start the close timeout.
    pub(crate) fn poll_closing(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.close_sent || inner.finish {
            return Poll::Ready(());
        }
        inner.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Answer a ping. While the peer is not reading (buffer above the
    /// high-water mark) only the latest pong is kept, as RFC 6455 §5.5.3 allows,
    /// so a ping flood cannot grow the buffer.
    pub(crate) fn on_ping(&self, payload: Bytes) {
        let waker;
        {
            let mut inner = self.lock();
            if inner.close_sent || inner.finish {
                return;
            }
            if Self::buffered(&inner) > self.config.write_high_water {
                inner.owed_pong = Some(payload);
            } else {
                encode_frame(&mut inner.out, OpCode::Pong, &payload, true);
            }
            waker = self.flush(&mut inner);
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// How the connection ends after the peer's close frame or a protocol
    /// error. With no message queued it ends now; otherwise the ending waits
    /// behind the queued messages (the application meets it as their
    /// successor, an [`Incoming::Close`]), so the answers to messages that
    /// arrived before it are not lost. Returns `true` when it was deferred:
    /// the reader then stops reading and gives the application the close
    /// timeout to get there before calling [`Conn::end`].
    pub(crate) fn end_after_queue(&self, ending: Ending) -> bool {
        let mut wakes = Wakes::default();
        let deferred = {
            let mut inner = self.lock();
            let busy = !inner.inbound.is_empty() && !inner.close_sent && !inner.finish;
            if busy {
                let (code, reason) = ending.seen();
                inner
                    .inbound
                    .push_back(Incoming::Close(code, reason.clone()));
                inner.close_queued = true;
                if inner.closed.is_none() {
                    inner.closed = Some((code, reason));
                }
                inner.deferred = Some(ending);
                wakes.add(inner.recv_waker.take());
            } else {
                self.end_locked(&mut inner, &mut wakes, ending);
            }
            busy
        };
        wakes.wake();
        deferred
    }

    /// End the connection now (a deferred ending whose time ran out).
    pub(crate) fn end(&self, ending: Ending) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            self.end_locked(&mut inner, &mut wakes, ending);
        }
        wakes.wake();
    }

    fn end_locked(&self, inner: &mut Inner, wakes: &mut Wakes, ending: Ending) {
        match ending {
            Ending::PeerClosed(code, reason) => {
                inner.close_received = true;
                inner.deferred = None;
                if !inner.close_sent && !inner.finish {
                    // Echo the peer's code (RFC 6455 §5.5.1), or none if it sent none.
                    Self::push_close(inner, code, "");
                    inner.close_sent = true;
                }
                let seen = (code.unwrap_or(1005), reason);
                if inner.closed.is_none() {
                    inner.closed = Some(seen.clone());
                }
                self.finish_locked(inner, wakes, seen);
            }
            Ending::Failed(code, reason) => self.fail_locked(inner, wakes, code, &reason),
        }
    }

    /// Fail the connection (RFC 6455 §7.1.7): send a close frame with `code`
    /// unless one was sent, and stop.
    fn fail_locked(&self, inner: &mut Inner, wakes: &mut Wakes, code: u16, reason: &str) {
        inner.deferred = None;
        if !inner.close_sent && !inner.finish {
            Self::push_close(inner, Some(code), "");
            inner.close_sent = true;
        }
        if inner.closed.is_none() {
            inner.closed = Some((code, reason.to_owned()));
        }
        self.finish_locked(inner, wakes, (code, reason.to_owned()));
    }

    /// The socket ended (EOF, error, or close timeout) without a close handshake.
    pub(crate) fn on_abnormal(&self) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            if inner.closed.is_none() {
                inner.closed = Some((1006, String::new()));
            }
            self.finish_locked(&mut inner, &mut wakes, (1006, String::new()));
        }
        wakes.wake();
    }

    fn finish_locked(&self, inner: &mut Inner, wakes: &mut Wakes, seen: (u16, String)) {
        if !inner.finish {
            inner.finish = true;
            if inner.decision == Decision::Accepted && !inner.close_queued {
                inner.inbound.push_back(Incoming::Close(seen.0, seen.1));
                inner.close_queued = true;
            }
        }
        if inner.decision == Decision::Pending {
            inner.decision = Decision::Rejected;
        }
        self.set_state(State::Closed);
        wakes.add(inner.recv_waker.take());
        wakes.add(inner.reader_waker.take());
        wakes.add(self.flush(inner));
    }

    // ----- keepalive ---------------------------------------------------------------

    /// Send a keepalive ping unless one is outstanding. Returns when it was sent.
    pub(crate) fn send_keepalive_ping(&self) -> Option<Instant> {
        let waker;
        let now = Instant::now();
        {
            let mut inner = self.lock();
            if inner.ping_sent.is_some() || inner.close_sent || inner.finish {
                return inner.ping_sent.map(|(_, at)| at);
            }
            inner.pings = inner.pings.wrapping_add(1);
            let id = inner.pings;
            encode_frame(&mut inner.out, OpCode::Ping, &id.to_be_bytes(), true);
            inner.ping_sent = Some((id, now));
            waker = self.flush(&mut inner);
        }
        if let Some(w) = waker {
            w.wake();
        }
        Some(now)
    }

    /// When the outstanding keepalive ping was sent, if one is.
    pub(crate) fn ping_outstanding(&self) -> Option<Instant> {
        self.lock().ping_sent.map(|(_, at)| at)
    }

    /// A pong arrived: if it answers our keepalive ping, record the latency.
    /// Unsolicited pongs are ignored (RFC 6455 §5.5.3).
    pub(crate) fn on_pong(&self, payload: &[u8]) {
        let mut inner = self.lock();
        if let Some((id, at)) = inner.ping_sent {
            if payload == id.to_be_bytes() {
                inner.latency = Some(at.elapsed());
                inner.ping_sent = None;
            }
        }
    }

    /// Round-trip time of the last answered keepalive ping.
    pub fn latency(&self) -> Option<Duration> {
        self.lock().latency
    }

    /// Traffic counters so far.
    pub fn stats(&self) -> ConnStats {
        self.lock().stats
    }

    /// The peer stopped answering pings (or stopped reading): close with
    /// `code` at once, without waiting for a close handshake it cannot do.
    /// The reader stops at once (no lingering for a FIN that will not come)
    /// and senders waiting for buffer room learn it now, not at socket close.
    pub(crate) fn abandon(&self, code: u16, reason: &str) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            self.fail_locked(&mut inner, &mut wakes, code, reason);
            Self::abort_locked(&mut inner, &mut wakes);
        }
        wakes.wake();
    }

    // ----- the writer's side -----------------------------------------------------

    /// Take everything buffered, or `None` once the connection is finished and
    /// flushed (the writer then shuts the socket down).
    pub(crate) fn poll_take_outbound(&self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(pong) = inner.owed_pong.take() {
            encode_frame(&mut inner.out, OpCode::Pong, &pong, true);
        }
        if !inner.out.is_empty() || !inner.queue.is_empty() {
            let raw = inner.out.split();
            let items = std::mem::take(&mut inner.queue);
            inner.in_flight = raw.len() + inner.queued_bytes;
            inner.queued_bytes = 0;
            return Poll::Ready(Some(Outbound { raw, items }));
        }
        inner.in_flight = 0;
        if inner.finish {
            return Poll::Ready(None);
        }
        inner.writer_idle = true;
        inner.writer_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The writer finished writing `chunk`.
    pub(crate) fn wrote(&self, chunk: BytesMut) {
        let mut wakes = Wakes::default();
        {
            let want = chunk.len().min(64 << 10);
            drop(chunk);
            let mut inner = self.lock();
            inner.in_flight = 0;
            // The chunk was split off `out`'s allocation; now that it is
            // dropped, reserving reclaims that allocation instead of growing.
            if inner.out.is_empty() {
                inner.out.reserve(want);
            }
            if Self::buffered(&inner) <= self.config.write_low_water {
                wakes.add_all(&mut inner.send_wakers);
            }
        }
        wakes.wake();
    }

    /// Both tasks are done and the socket is closed.
    pub(crate) fn on_io_done(&self) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            inner.io_done = true;
            if inner.closed.is_none() {
                inner.closed = Some((1006, String::new()));
            }
            let seen = inner.closed.clone().unwrap_or((1006, String::new()));
            self.finish_locked(&mut inner, &mut wakes, seen);
            wakes.add_all(&mut inner.send_wakers);
            wakes.add_all(&mut inner.closed_wakers);
        }
        wakes.wake();
    }

    /// Drop the connection now: stop reading (even while lingering or
    /// waiting for the peer's close) and let the writer shut the socket.
    pub(crate) fn abort(&self) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            let seen = inner
                .closed
                .get_or_insert_with(|| (1006, String::new()))
                .clone();
            self.finish_locked(&mut inner, &mut wakes, seen);
            Self::abort_locked(&mut inner, &mut wakes);
        }
        wakes.wake();
    }

    /// The reader stops at once and senders waiting for room learn it now.
    fn abort_locked(inner: &mut Inner, wakes: &mut Wakes) {
        inner.abort = true;
        wakes.add_all(&mut inner.send_wakers);
    }

    /// Ready once [`Conn::abort`] was called.
    pub(crate) fn poll_aborted(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.abort {
            return Poll::Ready(());
        }
        inner.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ready once the connection is closed and its socket released.
    pub fn poll_closed(&self, waker: &Waker) -> Poll<()> {
        let mut inner = self.lock();
        if inner.io_done {
            return Poll::Ready(());
        }
        if !inner.closed_wakers.iter().any(|w| w.will_wake(waker)) {
            inner.closed_wakers.push(waker.clone());
        }
        Poll::Pending
    }

    pub(crate) fn is_finishing(&self) -> bool {
        self.lock().finish
    }
}
