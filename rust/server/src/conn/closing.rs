//! The connection's end: the application's close, the peer's close, protocol
//! failures, timeouts and aborts.
//!
//! Every decision is made by proto's sans-IO
//! [`Session`](ferrosocket_proto::session::Session), which has a unit test per
//! transition; this file only feeds it inputs under the lock and applies the
//! actions it returns ([`Conn::apply`]). See the session's module docs for
//! the states and why a close can wait behind queued messages.

use std::task::{Poll, Waker};
use std::time::Instant;

use ferrosocket_proto::session::{Action, Ending, State as Lifecycle};

use super::{Conn, Incoming, Inner, State, Wakes};
use crate::error::WebSocketError;
use crate::message::CloseCode;

impl Conn {
    /// Carry out the session's `actions`, publish the new state, and collect
    /// the wakers of every party that may have to look again.
    pub(super) fn apply(&self, inner: &mut Inner, wakes: &mut Wakes, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendClose(code, reason) => inner.out.push_close(code, &reason),
                Action::Deliver(code, reason) => inner.inbound.push(Incoming::Close(code, reason)),
                Action::Abort => wakes.add_all(&mut inner.out.send_wakers),
                // Finishing is read from the session by the writer and the
                // reader; a refusal is answered by `close` itself.
                Action::Finish | Action::Refuse => {}
            }
        }
        let state = State::of(&inner.session);
        self.state
            .store(state as u8, std::sync::atomic::Ordering::Release);
        if *inner.session.state() == Lifecycle::Closed {
            wakes.add_all(&mut inner.out.send_wakers);
            wakes.add_all(&mut inner.closed_wakers);
        }
        inner.inbound.wakers(wakes);
        wakes.add(self.flush(inner));
    }

    /// Run one session input under the lock and apply its actions.
    fn step(&self, input: impl FnOnce(&mut Inner) -> Vec<Action>) {
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            let actions = input(&mut inner);
            self.apply(&mut inner, &mut wakes, actions);
        }
        wakes.wake();
    }

    /// The error a closed connection answers with: the code and reason it
    /// closed with.
    pub(super) fn closed_error(&self, inner: &Inner) -> WebSocketError {
        let (code, reason) = inner
            .session
            .outcome()
            .cloned()
            .unwrap_or((1006, String::new()));
        WebSocketError::ConnectionClosed(CloseCode::from(code), reason)
    }

    /// The code and reason the connection closed with, once it has.
    pub fn close_info(&self) -> Option<(u16, String)> {
        self.lock().session.outcome().cloned()
    }

    /// Send a close frame (the application's `close()`). Idempotent; before the
    /// handshake is answered it refuses the upgrade with HTTP 403 instead.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        crate::error::check_close(code, reason)?;
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            let actions = inner.session.on_app_close(code, reason);
            if actions.contains(&Action::Refuse) {
                drop(inner);
                return self.reject(403, &[], b"Forbidden");
            }
            if actions.iter().any(|a| matches!(a, Action::SendClose(..))) {
                inner.close_sent_at = Some(Instant::now());
            }
            self.apply(&mut inner, &mut wakes, actions);
        }
        wakes.wake();
        Ok(())
    }

    /// When the close handshake we started must be over.
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        let inner = self.lock();
        inner.close_sent_at.map(|t| t + self.config.close_timeout)
    }

    /// The peer's close frame or a protocol error. With no message queued the
    /// connection ends now; otherwise the ending waits behind the queued
    /// messages (the application meets it as their successor, an
    /// [`Incoming::Close`]). Returns `true` when it waits: the reader then
    /// stops reading and gives the application the close timeout to get
    /// there before calling [`Conn::drain_timed_out`].
    pub(crate) fn on_ending(&self, ending: Ending) -> bool {
        let mut draining = false;
        self.step(|inner| {
            let queued = !inner.inbound.is_empty();
            let actions = inner.session.on_ending(ending, queued);
            draining = matches!(inner.session.state(), Lifecycle::Draining(_));
            actions
        });
        draining
    }

    /// The application did not reach a waiting close in time: end it now.
    pub(crate) fn drain_timed_out(&self) {
        self.step(|inner| inner.session.on_drain_timeout());
    }

    /// The socket ended (EOF, error, or close timeout) without a close handshake.
    pub(crate) fn on_abnormal(&self) {
        self.step(|inner| inner.session.on_socket_gone());
    }

    /// The peer stopped answering pings (or stopped reading): close with
    /// `code` at once, without waiting for a close handshake it cannot do.
    /// The reader stops at once (no lingering for a FIN that will not come)
    /// and senders waiting for buffer room learn it now, not at socket close.
    pub(crate) fn abandon(&self, code: u16, reason: &str) {
        self.step(|inner| inner.session.on_give_up(code, reason));
    }

    /// Drop the connection now: stop reading (even while lingering or
    /// waiting for the peer's close) and let the writer shut the socket.
    pub(crate) fn abort(&self) {
        self.step(|inner| inner.session.on_abort());
    }

    /// The connection's task panicked: drop the connection as
    /// [`Conn::abort`] does, and shut down the TCP socket that the sending
    /// side shares (the task's own halves went with the unwinding), so the
    /// peer sees the end now rather than when the handler lets go.
    pub(crate) fn abort_after_panic(&self) {
        self.abort();
        if let Some(socket) = self.direct.get() {
            let stream: &tokio::net::TcpStream = (**socket).as_ref();
            let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
        }
    }

    /// Both sides of the connection's task are done and the socket is closed.
    pub(crate) fn on_io_done(&self) {
        self.step(|inner| inner.session.on_io_done());
    }

    /// Ready once a close frame has been sent or the connection is finishing,
    /// so a reader blocked on the socket can start the close timeout.
    pub(crate) fn poll_closing(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.session.closing_started() {
            return Poll::Ready(());
        }
        inner.inbound.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ready once [`Conn::abort`] was called.
    pub(crate) fn poll_aborted(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.session.aborted() {
            return Poll::Ready(());
        }
        inner.inbound.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The application waits for the end ([`crate::WebSocket::wait_closed`]):
    /// it will send no more replies, so a peer close that waits for it
    /// behind messages it has all received goes ahead now, as when it
    /// receives the `Close` (which stays queued for a later receive).
    /// Without this, a client that read the server's last message and then
    /// only waited sat out the close timeout before its close answer.
    pub fn poll_wait_closed(&self, waker: &Waker) -> Poll<()> {
        // Checked first: a step with nothing to do would still wake the
        // receiver and the reader. The session ignores a second reach.
        if self.lock().inbound.close_is_next() {
            self.step(|inner| inner.session.on_close_received());
        }
        self.poll_closed(waker)
    }

    /// Ready once the connection is closed and its socket released.
    pub fn poll_closed(&self, waker: &Waker) -> Poll<()> {
        let mut inner = self.lock();
        if *inner.session.state() == Lifecycle::Closed {
            return Poll::Ready(());
        }
        if !inner.closed_wakers.iter().any(|w| w.will_wake(waker)) {
            inner.closed_wakers.push(waker.clone());
        }
        Poll::Pending
    }

    pub(crate) fn is_finishing(&self) -> bool {
        self.lock().session.is_finishing()
    }
}
