//! The connection's lifecycle as a sans-IO state machine (RFC 6455 §7).
//!
//! Everything that decides how a connection ends lives here, in one enum
//! and a few set-once facts, so that each rule is a transition with a unit
//! test instead of a combination of flags spread over the engine. The
//! engine feeds in what happened (the application accepted or closed, the
//! peer's close frame arrived, the decoder found a protocol error, the socket
//! ended, a timer fired) and applies the [`Action`]s that come out: send this
//! close frame, give the application its `Close`, finish the socket, abort.
//! Nothing here touches a socket, a clock or a queue.
//!
//! Two rules shape the machine:
//!
//! * **Replies to earlier messages go out first.** A peer close or a
//!   protocol error that arrives while data messages still wait for the
//!   application does not end the connection at once: it waits
//!   ([`State::Draining`]) until the application reaches it (or the close
//!   timeout passes), so answers to the messages before it are sent ahead
//!   of our close frame (Autobahn 3.x/4.x/5.15 check this).
//! * **The code on the wire is the code that was decided.** A failure
//!   decides the close code (1002, 1007, 1009, …, RFC 6455 §7.1.7): when the
//!   application closes while that failure waits behind its queue, the close
//!   frame carries the failure's code, not the application's, so the peer is
//!   told what the logs say.
//!
//! ```text
//!               accept                 app close
//! Connecting ──────────▶ Open ─────────────────────────▶ CloseSent
//!     │ reject / close     │ peer close or error             │ peer close
//!     │                    │   (messages queued)             │ close timeout
//!     │                    ▼                                 │ socket gone
//!     │                Draining ── app reaches it / ──┐      │
//!     │                    │       app close /        │      │
//!     │                    │       drain timeout      ▼      ▼
//!     │                    └─────────────────────▶ Finishing ──io done──▶ Closed
//!     └──────────────────────────────────────────────▲
//!  (Open: a peer close or error with nothing queued, the socket gone,
//!   a keepalive or write timeout, or an abort go to Finishing directly.)
//! ```

/// Why reading stopped before the application closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The peer sent a close frame with this code (if any) and reason.
    PeerClosed(Option<u16>, String),
    /// The peer broke the protocol: we close with this code.
    Failed(u16, String),
}

impl Ending {
    /// The code and reason the application sees for this ending.
    pub fn seen(&self) -> (u16, String) {
        match self {
            Ending::PeerClosed(code, reason) => (code.unwrap_or(1005), reason.clone()),
            Ending::Failed(code, reason) => (*code, reason.clone()),
        }
    }
}

/// Where the connection is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// The upgrade request arrived; the application has not answered it.
    Connecting,
    /// Accepted: messages flow both ways.
    Open,
    /// A peer close or a failure waits behind messages the application has
    /// not received yet; we still send, but read no more.
    Draining(Ending),
    /// Our close frame is queued; we wait for the peer's.
    CloseSent,
    /// The close exchange is over, failed, or the handshake was refused: the
    /// writer flushes and shuts the socket down, the reader lingers for FIN.
    Finishing,
    /// The socket is closed.
    Closed,
}

/// What the engine must do after an input, in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Queue a close frame behind everything already sent.
    SendClose(Option<u16>, String),
    /// Queue the application's `Close` message (given once per connection).
    Deliver(u16, String),
    /// Flush what is buffered, then shut the socket down.
    Finish,
    /// Stop reading at once and fail senders that wait for buffer room.
    Abort,
    /// The application closed before answering the handshake: refuse the
    /// upgrade with HTTP 403.
    Refuse,
}

/// The input came in a state that cannot take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// `accept()` or `reject()` after the handshake was answered.
    AlreadyAnswered,
}

/// The lifecycle of one connection. See the module docs.
#[derive(Clone, Debug)]
pub struct Session {
    state: State,
    /// The handshake was accepted (a refused one never delivers `Close`).
    accepted: bool,
    /// The code and reason the connection ended with, as the application
    /// sees it: the first that was decided.
    outcome: Option<(u16, String)>,
    /// The application's `Close` message has been queued.
    delivered: bool,
    /// The engine gave up on the connection: no lingering.
    aborted: bool,
    /// The HTTP status the application refused the upgrade with.
    refused: Option<u16>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A connection whose upgrade request has just been read.
    pub fn new() -> Session {
        Session {
            state: State::Connecting,
            accepted: false,
            outcome: None,
            delivered: false,
            aborted: false,
            refused: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the handshake was accepted.
    pub fn accepted(&self) -> bool {
        self.accepted
    }

    /// The code and reason the connection ended with, once decided.
    pub fn outcome(&self) -> Option<&(u16, String)> {
        self.outcome.as_ref()
    }

    /// Whether the application's `Close` message has been queued.
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// Whether the engine gave up on the connection.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// The HTTP status the application refused the upgrade with (`reject`,
    /// or `close` before `accept`), if it did.
    pub fn refused(&self) -> Option<u16> {
        self.refused
    }

    /// Data messages may be sent: open, or draining toward a close.
    pub fn can_send(&self) -> bool {
        matches!(self.state, State::Open | State::Draining(_))
    }

    /// Data frames from the peer are still wanted (none after our close,
    /// RFC 6455 §5.5.1).
    pub fn accepts_data(&self) -> bool {
        matches!(self.state, State::Open | State::Draining(_))
    }

    /// Our close frame is out or the connection is finishing: the reader
    /// starts the close timeout, a drain is over.
    pub fn closing_started(&self) -> bool {
        matches!(
            self.state,
            State::CloseSent | State::Finishing | State::Closed
        )
    }

    /// The socket is being (or has been) shut down.
    pub fn is_finishing(&self) -> bool {
        matches!(self.state, State::Finishing | State::Closed)
    }

    fn decide(&mut self, code: u16, reason: &str) {
        if self.outcome.is_none() {
            self.outcome = Some((code, reason.to_owned()));
        }
    }

    /// Go to `Finishing`, giving the application `seen` unless it already
    /// has its `Close` (or never accepted).
    fn finish(&mut self, out: &mut Vec<Action>, seen: (u16, String)) {
        if !self.is_finishing() {
            if self.accepted && !self.delivered {
                self.delivered = true;
                out.push(Action::Deliver(seen.0, seen.1));
            }
            self.state = State::Finishing;
            out.push(Action::Finish);
        }
    }

    /// Send a close frame unless one was sent already.
    fn send_close(&mut self, out: &mut Vec<Action>, code: Option<u16>, reason: &str) {
        if !self.closing_started() {
            out.push(Action::SendClose(code, reason.to_owned()));
        }
    }

    /// End now, as `ending` says.
    fn end(&mut self, out: &mut Vec<Action>, ending: Ending) {
        let seen = ending.seen();
        match ending {
            // Echo the peer's code (RFC 6455 §5.5.1), or none if it sent none.
            Ending::PeerClosed(code, _) => self.send_close(out, code, ""),
            Ending::Failed(code, _) => self.send_close(out, Some(code), ""),
        }
        self.decide(seen.0, &seen.1);
        self.finish(out, seen);
    }

    /// The application accepted the upgrade.
    pub fn accept(&mut self) -> Result<(), SessionError> {
        if self.state != State::Connecting {
            return Err(SessionError::AlreadyAnswered);
        }
        self.state = State::Open;
        self.accepted = true;
        Ok(())
    }

    /// The application answered the upgrade with HTTP `status`.
    pub fn reject(&mut self, status: u16) -> Result<Vec<Action>, SessionError> {
        if self.state != State::Connecting {
            return Err(SessionError::AlreadyAnswered);
        }
        let mut out = Vec::new();
        self.refused = Some(status);
        self.decide(1006, &format!("handshake rejected with HTTP {status}"));
        self.finish(&mut out, (1006, String::new()));
        Ok(out)
    }

    /// The peer's close frame (or a protocol error) arrived; `queued` says
    /// whether data messages still wait for the application.
    pub fn on_ending(&mut self, ending: Ending, queued: bool) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            State::Open if queued => {
                let seen = ending.seen();
                self.decide(seen.0, &seen.1);
                self.delivered = true;
                out.push(Action::Deliver(seen.0, seen.1));
                self.state = State::Draining(ending);
            }
            State::Open | State::CloseSent => self.end(&mut out, ending),
            // A second ending while draining or finishing changes nothing.
            _ => {}
        }
        out
    }

    /// The peer's close frame arrived.
    pub fn on_peer_close(&mut self, code: Option<u16>, reason: &str, queued: bool) -> Vec<Action> {
        self.on_ending(Ending::PeerClosed(code, reason.to_owned()), queued)
    }

    /// The decoder found a protocol error that closes with `code`.
    pub fn on_protocol_error(&mut self, code: u16, reason: &str, queued: bool) -> Vec<Action> {
        self.on_ending(Ending::Failed(code, reason.to_owned()), queued)
    }

    /// The application reached the `Close` that a drain queued.
    pub fn on_close_received(&mut self) -> Vec<Action> {
        self.end_drain()
    }

    /// The close timeout passed while draining: end without the application.
    pub fn on_drain_timeout(&mut self) -> Vec<Action> {
        self.end_drain()
    }

    fn end_drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if let State::Draining(ending) = &self.state {
            let ending = ending.clone();
            self.end(&mut out, ending);
        }
        out
    }

    /// The application closes with `code` and `reason` (already validated).
    pub fn on_app_close(&mut self, code: u16, reason: &str) -> Vec<Action> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Connecting => {
                self.state = State::Connecting;
                out.push(Action::Refuse);
            }
            State::Open => {
                self.state = State::CloseSent;
                self.decide(code, reason);
                out.push(Action::SendClose(Some(code), reason.to_owned()));
            }
            State::Draining(ending) => {
                // The code that was decided goes on the wire: a failure's own
                // code (§7.1.7), or the application's answer to a peer close.
                let (frame_code, frame_reason) = match &ending {
                    Ending::Failed(failed, _) => (*failed, ""),
                    Ending::PeerClosed(..) => (code, reason),
                };
                out.push(Action::SendClose(Some(frame_code), frame_reason.to_owned()));
                self.state = State::CloseSent;
                let seen = ending.seen();
                self.decide(seen.0, &seen.1);
                self.finish(&mut out, seen);
            }
            other => self.state = other,
        }
        out
    }

    /// The socket ended (EOF, error) or the close timeout passed without the
    /// peer's close: the connection ends abnormally (1006).
    pub fn on_socket_gone(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.decide(1006, "");
        self.finish(&mut out, (1006, String::new()));
        out
    }

    /// Give up on the peer: send a close frame with `code` unless one is
    /// out, and stop at once without waiting for a handshake it cannot do
    /// (keepalive ping timeout 1011, a peer that stopped reading 1008).
    pub fn on_give_up(&mut self, code: u16, reason: &str) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.is_finishing() {
            self.send_close(&mut out, Some(code), "");
            self.decide(code, reason);
            self.finish(&mut out, (code, reason.to_owned()));
        }
        self.abort(&mut out);
        out
    }

    /// The engine drops the connection now (shutdown's last resort).
    pub fn on_abort(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.decide(1006, "");
        let seen = self.outcome.clone().unwrap_or((1006, String::new()));
        self.finish(&mut out, seen);
        self.abort(&mut out);
        out
    }

    fn abort(&mut self, out: &mut Vec<Action>) {
        if !self.aborted {
            self.aborted = true;
            out.push(Action::Abort);
        }
    }

    /// Both I/O tasks are done and the socket is closed.
    pub fn on_io_done(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.decide(1006, "");
        let seen = self.outcome.clone().unwrap_or((1006, String::new()));
        self.finish(&mut out, seen);
        self.state = State::Closed;
        out
    }
}
