//! The state one connection's task and its application share.
//!
//! A connection is driven by three parties: the read side and the write side
//! of its task on tokio (see `crate::io`), and the application, which is either a Rust future or Python code on
//! the asyncio thread. They meet here, in plain Rust state behind one short
//! mutex, and never block on each other. The state is split by concern, each
//! part in its own file with the `Conn` methods that use it:
//!
//! - [`inbound`]: the bounded queue of messages for the application; when it
//!   is full the reader stops reading, so TCP flow control reaches the client;
//! - [`outbound`]: one buffer of encoded frames with high/low water marks; the
//!   writer takes it whole, producers wake it only on the idle → scheduled
//!   transition, and an idle writer lets the sending thread write directly;
//! - [`closing`]: the lifecycle, decided by proto's sans-IO
//!   [`Session`](ferrosocket_proto::session::Session); `Conn` only applies the
//!   actions it returns (queue a close frame, deliver `Close`, finish, abort);
//! - [`keepalive`]: pings, their pongs, and the measured latency;
//! - [`handshake`]: the application's answer to the upgrade request;
//! - [`client`]: the same state in the client role (masked frames, no
//!   upgrade to answer).
//!
//! Every wait is a plain [`std::task::Waker`], which is what lets Python use
//! the same engine: its wakers signal the asyncio loop through one file
//! descriptor instead of running tokio code, and no Python object ever lives
//! in this state. Wakers are collected under the lock and woken after it is
//! released.

mod client;
mod closing;
mod handshake;
mod inbound;
mod keepalive;
mod outbound;
mod publish;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use ferrosocket_proto::session::{self, Session};
use ferrosocket_proto::Role;
use tokio::net::tcp::OwnedWriteHalf;

use crate::config::WebSocketConfig;
use crate::request::Request;

pub(crate) use handshake::Decision;
use inbound::Inbound;
use keepalive::Keepalive;
use outbound::OutBuf;
pub use outbound::LARGE_MESSAGE;
pub(crate) use outbound::{frame, OutItem, Outbound};
pub(crate) use publish::Delivery;
pub use publish::BACKPRESSURE_CLOSE_CODE;

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

    /// The state the application sees for a lifecycle state.
    fn of(session: &Session) -> State {
        match session.state() {
            session::State::Connecting => State::Connecting,
            session::State::Open | session::State::Draining(_) => State::Open,
            session::State::CloseSent => State::Closing,
            session::State::Finishing | session::State::Closed => State::Closed,
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

struct Inner {
    session: Session,
    inbound: Inbound,
    out: OutBuf,
    keepalive: Keepalive,
    /// When the application's close frame was queued (the close timeout runs
    /// from here).
    close_sent_at: Option<Instant>,
    closed_wakers: Vec<Waker>,
    stats: ConnStats,
}

/// Shared state of one connection. See the module docs.
pub struct Conn {
    request: Request,
    /// Shared with the server's other connections.
    config: Arc<WebSocketConfig>,
    /// [`State`], readable without the lock.
    state: AtomicU8,
    inner: Mutex<Inner>,
    /// The TCP socket, for writes straight from the sending thread.
    direct: OnceLock<Arc<OwnedWriteHalf>>,
    /// Its topic subscriptions (see `crate::topics`).
    pub(crate) topics: crate::topics::Membership,
    /// Server (accepted) or client (`connect`): decides masking and who
    /// closes TCP first.
    role: Role,
}

impl Conn {
    pub(crate) fn new(request: Request, config: impl Into<Arc<WebSocketConfig>>) -> Conn {
        Conn {
            request,
            config: config.into(),
            state: AtomicU8::new(State::Connecting as u8),
            direct: OnceLock::new(),
            topics: crate::topics::Membership::default(),
            role: Role::Server,
            inner: Mutex::new(Inner {
                session: Session::new(),
                inbound: Inbound::default(),
                out: OutBuf::default(),
                keepalive: Keepalive::default(),
                close_sent_at: None,
                closed_wakers: Vec::new(),
                stats: ConnStats::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves no half-updated invariant
        // worth refusing service for, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The upgrade request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Which end of the connection this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The connection's settings.
    pub fn config(&self) -> &WebSocketConfig {
        &self.config
    }

    /// The current state (lock-free).
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Traffic counters so far.
    pub fn stats(&self) -> ConnStats {
        self.lock().stats
    }
}
