//! Keepalive: our pings, the peer's pings, and the latency they measure.
//!
//! One keepalive ping is outstanding at a time, carrying a counter so a pong
//! that answers an older or an application ping is not taken for it. The
//! reader task owns the timers; a peer that does not answer in time is
//! given up on through the session (1011).

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrosocket_proto::OpCode;

use super::outbound::frame;
use super::Conn;

#[derive(Default)]
pub(super) struct Keepalive {
    /// The outstanding ping's id and when it was sent.
    sent: Option<(u32, Instant)>,
    /// Pings sent so far (the next id).
    count: u32,
    /// Round-trip time of the last answered ping.
    latency: Option<Duration>,
}

impl Conn {
    /// Answer a ping (see [`super::outbound::OutBuf::push_pong`]).
    pub(crate) fn on_ping(&self, payload: Bytes) {
        let waker;
        {
            let mut inner = self.lock();
            if inner.session.closing_started() {
                return;
            }
            inner.out.push_pong(payload, self.config.write_high_water);
            waker = self.flush(&mut inner);
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Send a keepalive ping unless one is outstanding. Returns when it was sent.
    pub(crate) fn send_keepalive_ping(&self) -> Option<Instant> {
        let waker;
        let now = Instant::now();
        {
            let mut inner = self.lock();
            if inner.keepalive.sent.is_some() || inner.session.closing_started() {
                return inner.keepalive.sent.map(|(_, at)| at);
            }
            let ka = &mut inner.keepalive;
            ka.count = ka.count.wrapping_add(1);
            ka.sent = Some((ka.count, now));
            let id = ka.count;
            let mask = inner.out.mask();
            frame(&mut inner.out.raw, OpCode::Ping, &id.to_be_bytes(), mask);
            waker = self.flush(&mut inner);
        }
        if let Some(w) = waker {
            w.wake();
        }
        Some(now)
    }

    /// When the outstanding keepalive ping was sent, if one is.
    pub(crate) fn ping_outstanding(&self) -> Option<Instant> {
        self.lock().keepalive.sent.map(|(_, at)| at)
    }

    /// A pong arrived: if it answers our keepalive ping, record the latency.
    /// Unsolicited pongs are ignored (RFC 6455 §5.5.3).
    pub(crate) fn on_pong(&self, payload: &[u8]) {
        let mut inner = self.lock();
        let ka = &mut inner.keepalive;
        if let Some((id, at)) = ka.sent {
            if payload == id.to_be_bytes() {
                ka.latency = Some(at.elapsed());
                ka.sent = None;
            }
        }
    }

    /// Round-trip time of the last answered keepalive ping.
    pub fn latency(&self) -> Option<Duration> {
        self.lock().keepalive.latency
    }
}
