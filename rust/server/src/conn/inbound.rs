//! The inbound queue: messages the reader decoded and the application has
//! not received yet, bounded in count and bytes.
//!
//! The application pops without waiting when a message is queued
//! ([`Conn::try_recv`]) and otherwise leaves a waker. When the queue is full
//! the reader stops reading the socket ([`Conn::poll_reader_resume`]), so
//! TCP flow control slows the client instead of our memory growing.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use super::{Conn, Incoming, Inner, Wakes};
use crate::error::WebSocketError;
use crate::message::CloseCode;

#[derive(Default)]
pub(super) struct Inbound {
    queue: VecDeque<Incoming>,
    /// Payload bytes queued.
    bytes: usize,
    /// The application has received its `Close`: receives fail from now on.
    close_taken: bool,
    recv_waker: Option<Waker>,
    /// The read side, waiting for room, for the handshake answer, or for
    /// the close to start.
    pub(super) reader_waker: Option<Waker>,
}

impl Inbound {
    pub(super) fn push(&mut self, msg: Incoming) {
        self.bytes += msg.weight();
        self.queue.push_back(msg);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Every data message has been received and the `Close` is next.
    pub(super) fn close_is_next(&self) -> bool {
        matches!(self.queue.front(), Some(Incoming::Close(..)))
    }

    /// The waiting receiver and reader, to be woken after a lifecycle change.
    pub(super) fn wakers(&mut self, wakes: &mut Wakes) {
        wakes.add(self.recv_waker.take());
        wakes.add(self.reader_waker.take());
    }
}

impl Conn {
    fn queue_full(&self, inbound: &Inbound) -> bool {
        inbound.queue.len() >= self.config.max_queue || inbound.bytes >= self.config.max_queue_bytes
    }

    fn pop(
        &self,
        inner: &mut Inner,
        wakes: &mut Wakes,
    ) -> Result<Option<Incoming>, WebSocketError> {
        // Only a reader paused on a full queue waits for room; its waker slot
        // also serves the close and abort waits, which a pop does not concern.
        // Waking it on every pop cost a wake-up per message (from the loop
        // thread: an eventfd write and an extra reactor turn).
        let was_full = self.queue_full(&inner.inbound);
        match inner.inbound.queue.pop_front() {
            Some(msg) => {
                inner.inbound.bytes -= msg.weight();
                if matches!(msg, Incoming::Close(..)) {
                    inner.inbound.close_taken = true;
                    let actions = inner.session.on_close_received();
                    self.apply(inner, wakes, actions);
                }
                if was_full
                    && inner.inbound.reader_waker.is_some()
                    && !self.queue_full(&inner.inbound)
                {
                    wakes.add(inner.inbound.reader_waker.take());
                }
                Ok(Some(msg))
            }
            None if inner.inbound.close_taken => Err(self.closed_error(inner)),
            None if !inner.session.accepted() => match inner.session.state() {
                ferrosocket_proto::session::State::Connecting => Err(WebSocketError::NotAccepted),
                _ => Err(WebSocketError::ConnectionClosed(
                    CloseCode::Abnormal,
                    String::new(),
                )),
            },
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
                    Self::leave_recv_waker(&mut inner.inbound, waker);
                    Poll::Pending
                }
            }
        };
        wakes.wake();
        r
    }

    fn leave_recv_waker(inbound: &mut Inbound, waker: &Waker) {
        match &inbound.recv_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inbound.recv_waker = Some(waker.clone()),
        }
    }

    /// Leave `waker` to be woken when [`Conn::try_recv`] has something to
    /// return, without taking it. Returns `true` (and leaves nothing) when
    /// `try_recv` would already return a message or an error: the caller
    /// should call it instead of waiting.
    pub fn register_recv(&self, waker: &Waker) -> bool {
        let mut inner = self.lock();
        if !inner.inbound.queue.is_empty() || inner.inbound.close_taken || !inner.session.accepted()
        {
            return true;
        }
        Self::leave_recv_waker(&mut inner.inbound, waker);
        false
    }

    /// Forget a waker left by [`Conn::poll_recv`] (the wait was cancelled).
    pub fn clear_recv_waker(&self) {
        self.lock().inbound.recv_waker = None;
    }

    /// Queue a data message. Returns `true` when the queue is full and the
    /// reader should wait with [`Conn::poll_reader_resume`].
    pub(crate) fn on_message(&self, msg: Incoming) -> bool {
        let waker;
        let full;
        {
            let mut inner = self.lock();
            if !inner.session.accepts_data() {
                // After our close, data frames are discarded (RFC 6455 §5.5.1).
                return false;
            }
            inner.stats.messages_in += 1;
            inner.stats.bytes_in += msg.weight() as u64;
            inner.inbound.push(msg);
            full = self.queue_full(&inner.inbound);
            waker = inner.inbound.recv_waker.take();
        }
        if let Some(w) = waker {
            w.wake();
        }
        full
    }

    pub(crate) fn poll_reader_resume(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if !self.queue_full(&inner.inbound) || inner.session.closing_started() {
            return Poll::Ready(());
        }
        inner.inbound.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
