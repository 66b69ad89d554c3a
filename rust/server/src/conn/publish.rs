//! Delivering a published message to one subscriber.
//!
//! This is the per-subscriber step of [`crate::topics::Topics::publish`]. It
//! never waits and never fails the publisher: under the connection's lock it
//! either queues a reference to the shared frame, or, when the connection
//! already holds `backpressure_limit` bytes, drops the message for it (or
//! closes it with 1013, by configuration). A slow subscriber therefore costs
//! the others nothing but this check. A connection with nothing buffered
//! always takes the message, so one larger than the limit still reaches the
//! subscribers that keep up; what a connection holds stays below the limit
//! plus one message.
//!
//! Unlike a plain send it does not write to the socket from the publishing
//! thread: it only schedules the connection's writer. One publish reaches
//! many sockets, and the writers, running on the engine's threads, take
//! everything queued meanwhile with one vectored write each, so a burst of
//! published messages costs one syscall per subscriber, not one per message.

use super::{Conn, Wakes};
use crate::topics::Published;

/// What happened to a published message at one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued.
    Queued,
    /// Not queued: the subscriber is at its backpressure limit.
    Dropped,
    /// Not queued: the connection is not open (not accepted yet, closing).
    Closed,
}

/// The close code for a subscriber closed at its backpressure limit (1013,
/// "try again later": the server is fine, this client fell behind).
pub const BACKPRESSURE_CLOSE_CODE: u16 = 1013;

impl Conn {
    pub(crate) fn deliver(&self, msg: &Published) -> Delivery {
        let cfg = &self.config;
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            if !inner.session.can_send() {
                return Delivery::Closed;
            }
            let out = &mut inner.out;
            let buffered = out.buffered();
            if buffered > 0 && buffered + msg.len() > cfg.backpressure_limit {
                self.topics.count_drop();
                if !cfg.close_on_backpressure_limit {
                    return Delivery::Dropped;
                }
            } else {
                match out.deflate {
                    None => out.push_shared(msg.plain()),
                    Some(params) => match msg.for_deflate(params, &cfg.deflate) {
                        Ok(frame) => out.push_shared(frame),
                        Err(payload) => out.push_deflate(msg.opcode(), payload),
                    },
                }
                inner.stats.messages_out += 1;
                inner.stats.bytes_out += msg.len() as u64;
                wakes.add(inner.out.schedule_writer());
                drop(inner);
                wakes.wake();
                return Delivery::Queued;
            }
        }
        self.abandon(BACKPRESSURE_CLOSE_CODE, "backpressure limit");
        Delivery::Dropped
    }
}
