//! Topics: publish/subscribe inside the engine (uWebSockets' and Bun's model).
//!
//! Why in the engine: a Python loop of `await ws.send(...)` over a set of
//! connections runs Python per subscriber and stalls on the first one that
//! stops reading. Here a table topic → subscribers lives in Rust; a
//! published message is framed once into one immutable [`Bytes`]
//! ([`Published`]) and each subscriber's outbound queue takes a reference
//! to it, so a delivery is a lock, a refcount and a writer wake-up, with no
//! copy and no Python. Each subscriber is checked against its own
//! `backpressure_limit` ([`Conn`]'s `deliver`): a slow one has messages
//! dropped (counted) or is closed with 1013, and nobody ever waits for it.
//!
//! Ordering: a publish queues on each subscriber under that subscriber's
//! lock, the same lock its own `send_*` use, so messages from one publisher
//! reach every subscriber in publish order, interleaved with that
//! connection's own sends in call order.
//!
//! Memory: a topic exists only while it has subscribers (the entry is
//! removed with the last one), and a subscription is one map entry on each
//! side. The table is one `RwLock`: publishes (the common operation) share
//! it; subscribe and unsubscribe take it briefly. Lock order is always
//! table, then a connection's membership, then its state.
//!
//! Lifetime: a connection's subscriptions end when its socket is closed
//! (the server calls [`Topics::leave_all`]); after that it cannot subscribe
//! again, so nothing can leak into the table. The connection holds only a
//! weak reference to the table, so the two never keep each other alive.
//!
//! Across processes: with a [`broker::Broker`] attached, the table tells it
//! which topics have local subscribers, every local publish is also handed
//! to it (without waiting), and what it receives from other servers is
//! delivered here like a local publish (see [`broker`]).

pub mod broker;
mod message;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

pub use crate::conn::BACKPRESSURE_CLOSE_CODE;
use crate::conn::{Conn, Delivery};
use crate::error::WebSocketError;
pub use message::Published;

/// A connection's identity in the table: its address, stable while it lives.
fn key(conn: &Conn) -> usize {
    conn as *const Conn as usize
}

type Subscribers = HashMap<usize, Arc<Conn>>;

/// Counters of a server's topics since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Topics with at least one subscriber now.
    pub topics: u64,
    /// Subscriptions now, summed over topics.
    pub subscriptions: u64,
    /// Messages published (to topics with subscribers or not).
    pub published: u64,
    /// Deliveries queued on subscribers.
    pub deliveries: u64,
    /// Deliveries dropped because a subscriber was at its backpressure limit.
    pub dropped: u64,
    /// Compressed frames built once and shared by a group of subscribers.
    pub shared_compressions: u64,
}

/// The topic table of one server. See the module docs.
#[derive(Default)]
pub struct Topics {
    table: RwLock<Table>,
    published: AtomicU64,
    deliveries: AtomicU64,
    dropped: AtomicU64,
    shared_compressions: AtomicU64,
    broker: OnceLock<Arc<broker::Link>>,
}

impl Topics {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `msg` on every subscriber of `topic` but `exclude`; returns how
    /// many it was queued for. Never blocks on a subscriber and never fails
    /// because of one.
    pub fn publish(&self, topic: &str, msg: &Published, exclude: Option<&Conn>) -> usize {
        self.published.fetch_add(1, Ordering::Relaxed);
        let queued = self.deliver(topic, msg, exclude);
        if let Some(link) = self.broker.get() {
            link.forward(topic, msg);
        }
        queued
    }

    /// A message another server published: delivered to every local
    /// subscriber, not sent back to the broker.
    pub(crate) fn publish_remote(&self, topic: &str, msg: &Published) -> usize {
        self.deliver(topic, msg, None)
    }

    /// Connect the table to a broker: it is told every topic that has
    /// subscribers now and from now on.
    pub(crate) fn attach_broker(&self, link: Arc<broker::Link>) {
        let table = self.write();
        for topic in table.keys() {
            link.want(topic);
        }
        let _ = self.broker.set(link);
    }

    fn deliver(&self, topic: &str, msg: &Published, exclude: Option<&Conn>) -> usize {
        let skip = exclude.map(key);
        let mut queued = 0;
        let mut dropped = 0;
        {
            let table = self.read();
            let Some(subscribers) = table.get(topic) else {
                return 0;
            };
            for (k, conn) in subscribers {
                if Some(*k) == skip {
                    continue;
                }
                match conn.deliver(msg) {
                    Delivery::Queued => queued += 1,
                    Delivery::Dropped => dropped += 1,
                    Delivery::Closed => {}
                }
            }
        }
        self.deliveries.fetch_add(queued as u64, Ordering::Relaxed);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        let built = msg.groups_built() as u64;
        if built > 0 {
            self.shared_compressions.fetch_add(built, Ordering::Relaxed);
        }
        queued
    }

    /// Subscribers of `topic` now.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.read().get(topic).map_or(0, HashMap::len)
    }

    /// Counters since the server started.
    pub fn stats(&self) -> TopicStats {
        let (topics, subscriptions) = {
            let table = self.read();
            (table.len(), table.values().map(HashMap::len).sum::<usize>())
        };
        TopicStats {
            topics: topics as u64,
            subscriptions: subscriptions as u64,
            published: self.published.load(Ordering::Relaxed),
            deliveries: self.deliveries.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            shared_compressions: self.shared_compressions.load(Ordering::Relaxed),
        }
    }

    /// End every subscription of `conn` (its socket is closed) and refuse
    /// new ones.
    pub(crate) fn leave_all(&self, conn: &Conn) {
        let topics = {
            let mut m = conn.topics.lock();
            m.left = true;
            std::mem::take(&mut m.topics)
        };
        if topics.is_empty() {
            return;
        }
        let mut table = self.write();
        for topic in topics {
            self.remove(&mut table, &topic, key(conn));
        }
    }
}

type Table = HashMap<Box<str>, Subscribers>;

impl Topics {
    fn add(&self, table: &mut Table, topic: &str, conn: &Arc<Conn>) {
        let subscribers = table.entry(topic.into()).or_default();
        if subscribers.is_empty() {
            if let Some(link) = self.broker.get() {
                link.want(topic);
            }
        }
        subscribers.insert(key(conn), conn.clone());
    }

    fn remove(&self, table: &mut Table, topic: &str, key: usize) {
        if let Some(subscribers) = table.get_mut(topic) {
            subscribers.remove(&key);
            if subscribers.is_empty() {
                // A topic with no subscribers costs nothing.
                table.remove(topic);
                if let Some(link) = self.broker.get() {
                    link.unwant(topic);
                }
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct MemberState {
    /// The topics this connection is subscribed to, in subscription order
    /// (a connection has few; a linear search beats hashing here).
    topics: Vec<Box<str>>,
    /// The socket is closed: no more subscriptions.
    left: bool,
}

/// A connection's side of its subscriptions.
#[derive(Default)]
pub struct Membership {
    table: OnceLock<Weak<Topics>>,
    state: Mutex<MemberState>,
    dropped: AtomicU64,
}

impl Membership {
    pub(crate) fn attach(&self, table: &Arc<Topics>) {
        let _ = self.table.set(Arc::downgrade(table));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn table(&self) -> Option<Arc<Topics>> {
        self.table.get().and_then(Weak::upgrade)
    }
}

impl Conn {
    /// Subscribe to `topic`. `Ok(false)` if already subscribed, or if the
    /// connection is already closed (its subscriptions have ended).
    /// Subscribing needs an accepted connection.
    pub fn subscribe(self: &Arc<Self>, topic: &str) -> Result<bool, WebSocketError> {
        if self.state() == crate::State::Connecting {
            return Err(WebSocketError::NotAccepted);
        }
        let Some(topics) = self.topics.table() else {
            return Ok(false);
        };
        let mut table = topics.write();
        let mut m = self.topics.lock();
        if m.left || m.topics.iter().any(|t| &**t == topic) {
            return Ok(false);
        }
        m.topics.push(topic.into());
        topics.add(&mut table, topic, self);
        Ok(true)
    }

    /// Unsubscribe from `topic`; `false` if not subscribed.
    pub fn unsubscribe(&self, topic: &str) -> bool {
        let Some(topics) = self.topics.table() else {
            return false;
        };
        let mut table = topics.write();
        let mut m = self.topics.lock();
        let Some(i) = m.topics.iter().position(|t| &**t == topic) else {
            return false;
        };
        m.topics.remove(i);
        topics.remove(&mut table, topic, key(self));
        true
    }

    /// Whether this connection is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.topics.lock().topics.iter().any(|t| &**t == topic)
    }

    /// The topics this connection is subscribed to, in subscription order.
    pub fn subscriptions(&self) -> Vec<String> {
        self.topics
            .lock()
            .topics
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    /// Publish to every subscriber of `topic` except this connection; returns
    /// how many it was queued for (0 when the server is gone).
    pub fn publish(&self, topic: &str, msg: &Published) -> usize {
        match self.topics.table() {
            Some(topics) => topics.publish(topic, msg, Some(self)),
            None => 0,
        }
    }

    /// Published messages dropped for this connection at its backpressure limit.
    pub fn publish_dropped(&self) -> u64 {
        self.topics.dropped.load(Ordering::Relaxed)
    }
}
