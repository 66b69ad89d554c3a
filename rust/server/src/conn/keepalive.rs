//! Keepalive: our pings, the peer's pings, and the latency they measure.
//!
//! One keepalive ping is outstanding at a time, carrying a counter so a pong
//! that answers an older or an application ping is not taken for it. The
//! read side owns the timers; a peer that does not answer in time is
//! given up on through the session (1011).
//!
//! The application's own pings are tracked too, so that a caller can wait
//! for the pong that answers one (Python's `await ws.ping()` waiter): as in
//! the websockets library, a pong answers the oldest outstanding ping with
//! its payload and every ping sent before that one.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrosocket_proto::OpCode;

use super::outbound::frame;
use super::Conn;
use crate::error::WebSocketError;

#[derive(Default)]
pub(super) struct Keepalive {
    /// The outstanding ping's id and when it was sent.
    sent: Option<(u32, Instant)>,
    /// Pings sent so far (the next id).
    count: u32,
    /// Round-trip time of the last answered ping.
    latency: Option<Duration>,
    /// Application pings without their pong yet: id, payload, when sent.
    app_pings: VecDeque<(u64, Bytes, Instant)>,
    /// Application pings answered since the application last looked.
    answered: Vec<(u64, Duration)>,
    /// Ids of application pings so far.
    app_count: u64,
    /// Woken when an application ping is answered.
    pong_waker: Option<Waker>,
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

    /// A pong arrived: if it answers our keepalive ping, record the latency;
    /// if it answers application pings, record their round trips and wake
    /// the application. Unsolicited pongs are ignored (RFC 6455 §5.5.3).
    pub(crate) fn on_pong(&self, payload: &[u8]) {
        let waker = {
            let mut inner = self.lock();
            let ka = &mut inner.keepalive;
            if let Some((id, at)) = ka.sent {
                if payload == id.to_be_bytes() {
                    ka.latency = Some(at.elapsed());
                    ka.sent = None;
                }
            }
            match ka.app_pings.iter().position(|(_, p, _)| p[..] == *payload) {
                Some(last) => {
                    let now = Instant::now();
                    let answered: Vec<_> = ka.app_pings.drain(..=last).collect();
                    ka.answered
                        .extend(answered.into_iter().map(|(id, _, at)| (id, now - at)));
                    ka.pong_waker.take()
                }
                None => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Send an application ping whose pong is tracked: returns its id (see
    /// [`Conn::take_pongs`]) and whether the write buffer is above its
    /// high-water mark (as [`Conn::send_with`]).
    pub fn send_tracked_ping(&self, payload: &[u8]) -> Result<(u64, bool), WebSocketError> {
        // Tracked before it is sent, so that a pong cannot beat the entry.
        let id = {
            let mut inner = self.lock();
            let ka = &mut inner.keepalive;
            ka.app_count += 1;
            let entry = (
                ka.app_count,
                Bytes::copy_from_slice(payload),
                Instant::now(),
            );
            ka.app_pings.push_back(entry);
            ka.app_count
        };
        match self.send_with(OpCode::Ping, payload, false) {
            Ok(above) => Ok((id, above)),
            Err(e) => {
                self.lock().keepalive.app_pings.retain(|(i, _, _)| *i != id);
                Err(e)
            }
        }
    }

    /// Application pings answered since the last call, as `(id, round
    /// trip)`; `waker` is woken when more are.
    pub fn take_pongs(&self, waker: &Waker) -> Vec<(u64, Duration)> {
        let mut inner = self.lock();
        let ka = &mut inner.keepalive;
        if !ka.pong_waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            ka.pong_waker = Some(waker.clone());
        }
        std::mem::take(&mut ka.answered)
    }

    /// Round-trip time of the last answered keepalive ping.
    pub fn latency(&self) -> Option<Duration> {
        self.lock().keepalive.latency
    }
}
