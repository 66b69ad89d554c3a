//! The broker: topics shared by several processes (workers on one machine)
//! or hosts (through Redis).
//!
//! Why the engine speaks to the broker itself: a message arriving from
//! another process must reach this process's subscribers the way a local
//! publish does, framed once and queued by reference, with no Python on
//! the way. So the broker is one tokio task per server that owns the
//! connection to the broker and feeds [`Topics`] directly.
//!
//! How it meets the table: [`Topics`] tells the [`Link`] when a topic gets
//! its first local subscriber ([`Link::want`]) and when its last one leaves
//! ([`Link::unwant`]), under the table's write lock, so the set of wanted
//! topics is always exactly the set of topics with local subscribers. The
//! broker task reconciles what the broker is subscribed to with that set
//! whenever it changes, and from scratch after every reconnect: a
//! resubscribe is the same diff against an empty set.
//!
//! Publishing never waits for the broker: a local publish is delivered
//! locally first, then handed to the task through a queue bounded in
//! messages and in bytes ([`MAX_QUEUE_BYTES`]) with `try_send`; a full
//! queue drops the message for the broker and counts it in `dropped`. One
//! queue and one task keep each publisher's messages in publish order. While the broker is unreachable, what is queued is
//! discarded and counted in `unsent`: pub/sub is at-most-once, and stale
//! messages replayed after an outage would arrive out of their time.
//!
//! Own echoes: every message carries this server's origin id (random per
//! server, see [`envelope`]), and a message that comes back with it is
//! dropped, so a subscriber never sees its own server's publish twice.
//!
//! Reconnects use exponential backoff with jitter (0.1 s doubling to 5 s),
//! so a fleet of servers does not hammer a restarted broker in lock-step.
//!
//! Secrets: a broker URL may hold a password; only [`BrokerUrl::redacted`]
//! is ever shown (stats, log lines, errors).

mod bus;
mod envelope;
mod hub;
mod redis;
mod url;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use ferrosocket_proto::OpCode;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::{Published, Topics};
pub use hub::{BusHub, BusHubStats};
pub use url::{BrokerUrl, BrokerUrlError};

/// Messages waiting for the broker task at most; past it publishes are
/// dropped for the broker (counted), never waited for.
pub const DEFAULT_QUEUE: usize = 16_384;

/// Payload bytes waiting for the broker task at most (the same rule: past
/// it a publish is dropped for the broker), so a burst of large messages
/// cannot hold unbounded memory.
pub const MAX_QUEUE_BYTES: usize = 64 << 20;

/// The default channel prefix: a topic `room` is the Redis channel
/// `ferrosocket:room`.
pub const DEFAULT_PREFIX: &str = "ferrosocket:";

/// What a server needs to join a broker.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// `redis://`, `rediss://` or `ferrosocket+unix:///path` (a [`BusHub`]).
    pub url: BrokerUrl,
    /// Prepended to a topic to name its channel.
    pub prefix: String,
    /// Capacity of the outgoing queue (messages).
    pub queue: usize,
}

impl BrokerConfig {
    /// A config for `url` with the default prefix and queue.
    pub fn new(url: &str) -> Result<BrokerConfig, BrokerUrlError> {
        Ok(BrokerConfig {
            url: BrokerUrl::parse(url)?,
            prefix: DEFAULT_PREFIX.to_owned(),
            queue: DEFAULT_QUEUE,
        })
    }
}

/// The broker connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerState {
    /// Trying to connect (at start, or after a loss).
    Connecting,
    /// Connected and subscribed to every topic with local subscribers.
    Connected,
    /// Waiting to try again after a failure.
    Disconnected,
}

impl BrokerState {
    /// `"connecting"`, `"connected"` or `"disconnected"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Connecting => "connecting",
            BrokerState::Connected => "connected",
            BrokerState::Disconnected => "disconnected",
        }
    }
}

/// Counters of a server's broker since it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerStats {
    /// The broker URL with any password replaced by `***`.
    pub url: String,
    /// The connection's state now.
    pub state: BrokerState,
    /// Local publishes sent to the broker.
    pub published: u64,
    /// Messages from other servers delivered to local subscribers.
    pub received: u64,
    /// Publishes not queued for the broker because the queue was full.
    pub dropped: u64,
    /// Publishes lost because the broker was unreachable.
    pub unsent: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
}

/// How a broker event should be logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Normal operation (connected).
    Info,
    /// Something is wrong (unreachable, lost).
    Warning,
}

/// Where the broker reports what happens to its connection; messages
/// never contain a password.
pub type Events = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// One publish on its way to the broker.
pub(crate) struct Outgoing {
    pub topic: Box<str>,
    pub opcode: OpCode,
    pub compress: bool,
    pub payload: Bytes,
}

/// The table's end of the broker: wanted topics, the outgoing queue and
/// the counters. See the module docs.
pub(crate) struct Link {
    origin: u64,
    queue: mpsc::Sender<Outgoing>,
    /// Payload bytes in `queue`.
    queued_bytes: AtomicUsize,
    wanted: Mutex<HashSet<Box<str>>>,
    changed: Notify,
    state: AtomicU8,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    unsent: AtomicU64,
    reconnects: AtomicU64,
    url: String,
}

impl Link {
    pub(crate) fn want(&self, topic: &str) {
        self.wanted_lock().insert(topic.into());
        self.changed.notify_one();
    }

    pub(crate) fn unwant(&self, topic: &str) {
        self.wanted_lock().remove(topic);
        self.changed.notify_one();
    }

    fn wanted_lock(&self) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand a local publish to the broker task; never waits.
    pub(crate) fn forward(&self, topic: &str, msg: &Published) {
        let len = msg.len();
        if self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUE_BYTES && len > 0 {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let out = Outgoing {
            topic: topic.into(),
            opcode: msg.opcode(),
            compress: msg.compress(),
            payload: msg.payload(),
        };
        if self.queue.try_send(out).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The broker task took `batch` off the queue.
    fn taken(&self, batch: &[Outgoing]) {
        let bytes: usize = batch.iter().map(|o| o.payload.len()).sum();
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn set_state(&self, state: BrokerState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    fn state(&self) -> BrokerState {
        match self.state.load(Ordering::Relaxed) {
            x if x == BrokerState::Connected as u8 => BrokerState::Connected,
            x if x == BrokerState::Disconnected as u8 => BrokerState::Disconnected,
            _ => BrokerState::Connecting,
        }
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats {
            url: self.url.clone(),
            state: self.state(),
            published: self.published.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            unsent: self.unsent.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// What a backend's session sees: the link, the table and the queue.
pub(crate) struct Session<'a> {
    pub link: &'a Link,
    pub topics: &'a Weak<Topics>,
    pub queue: &'a mut mpsc::Receiver<Outgoing>,
    /// Topics the broker is subscribed to on this connection.
    pub subscribed: HashSet<Box<str>>,
}

impl<'a> Session<'a> {
    /// The changes to make: (subscribe, unsubscribe), and the new set
    /// recorded as done.
    pub fn diff(&mut self) -> (Vec<Box<str>>, Vec<Box<str>>) {
        let wanted = self.link.wanted_lock().clone();
        let add: Vec<Box<str>> = wanted.difference(&self.subscribed).cloned().collect();
        let remove: Vec<Box<str>> = self.subscribed.difference(&wanted).cloned().collect();
        self.subscribed = wanted;
        (add, remove)
    }

    /// What the session's reader and writer share (no borrow of the session).
    pub fn inbox(&self) -> Inbox<'a> {
        Inbox {
            link: self.link,
            topics: self.topics,
        }
    }
}

/// Delivery and counting, for a session's reader and writer.
#[derive(Clone, Copy)]
pub(crate) struct Inbox<'a> {
    link: &'a Link,
    topics: &'a Weak<Topics>,
}

impl Inbox<'_> {
    /// A message from the broker (an envelope): deliver it to local
    /// subscribers unless it is our own.
    pub fn deliver(&self, topic: &str, data: &[u8]) {
        let Some(msg) = envelope::open(self.link.origin, data) else {
            return;
        };
        if let Some(topics) = self.topics.upgrade() {
            topics.publish_remote(topic, &msg);
            self.link.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The task took `batch` off the queue.
    pub fn taken(&self, batch: &[Outgoing]) {
        self.link.taken(batch);
    }

    /// The envelope to send for `out`.
    pub fn seal(&self, out: &Outgoing) -> Vec<u8> {
        envelope::seal(self.link.origin, out)
    }

    pub fn sent(&self, n: usize) {
        self.link.published.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn unsent(&self, n: usize) {
        self.link.unsent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A running broker connection of one server; dropping it stops the task.
pub struct Broker {
    link: Arc<Link>,
    task: JoinHandle<()>,
}

impl Broker {
    /// Start talking to the broker for `topics`. Must be called inside a
    /// tokio runtime (the task runs there). Returns at once: the connection
    /// is made in the background, and retried until it works.
    pub fn start(config: BrokerConfig, topics: &Arc<Topics>, events: Events) -> Broker {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let link = Arc::new(Link {
            origin: envelope::new_origin(),
            queue: tx,
            queued_bytes: AtomicUsize::new(0),
            wanted: Mutex::new(HashSet::new()),
            changed: Notify::new(),
            state: AtomicU8::new(BrokerState::Connecting as u8),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            url: config.url.redacted().to_owned(),
        });
        topics.attach_broker(link.clone());
        let task = tokio::spawn(run(
            config,
            link.clone(),
            Arc::downgrade(topics),
            rx,
            events,
        ));
        Broker { link, task }
    }

    /// Counters and state now.
    pub fn stats(&self) -> BrokerStats {
        self.link.stats()
    }

    /// Stop the broker task (publishes keep being delivered locally).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The connection loop: connect, run a session until it fails, back off,
/// and again.
async fn run(
    config: BrokerConfig,
    link: Arc<Link>,
    topics: Weak<Topics>,
    mut queue: mpsc::Receiver<Outgoing>,
    events: Events,
) {
    let url = config.url.redacted().to_owned();
    let mut backoff = Backoff::default();
    let mut connected_once = false;
    let mut failing = false;
    loop {
        link.set_state(BrokerState::Connecting);
        let mut session = Session {
            link: &link,
            topics: &topics,
            queue: &mut queue,
            subscribed: HashSet::new(),
        };
        let outcome = match &config.url {
            BrokerUrl::Redis { .. } => {
                redis::session(&config.url, &config.prefix, &mut session, || {
                    on_connected(&link, &events, &url, &mut connected_once, &mut failing);
                })
                .await
            }
            BrokerUrl::Bus { path, .. } => {
                bus::session(path, &config.prefix, &mut session, || {
                    on_connected(&link, &events, &url, &mut connected_once, &mut failing);
                })
                .await
            }
        };
        let error = config.url.scrub(&outcome.error);
        link.set_state(BrokerState::Disconnected);
        if outcome.connected {
            backoff = Backoff::default();
            events(
                Level::Warning,
                &format!("broker {url}: connection lost ({error}); reconnecting, publishes are counted as unsent meanwhile"),
            );
        } else if !failing {
            failing = true;
            events(
                Level::Warning,
                &format!("broker {url} unreachable ({error}); retrying with backoff"),
            );
        }
        let pause = backoff.next();
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                n = queue.recv_many(&mut batch, 1024) => {
                    if n == 0 {
                        return; // the table is gone
                    }
                    link.taken(&batch);
                    link.unsent.fetch_add(n as u64, Ordering::Relaxed);
                    batch.clear();
                }
            }
        }
    }
}

fn on_connected(
    link: &Link,
    events: &Events,
    url: &str,
    connected_once: &mut bool,
    failing: &mut bool,
) {
    link.set_state(BrokerState::Connected);
    if *connected_once {
        link.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    *connected_once = true;
    *failing = false;
    events(Level::Info, &format!("broker {url}: connected"));
}

/// How a session ended.
pub(crate) struct Outcome {
    /// Whether it got connected (and subscribed) before it ended.
    pub connected: bool,
    /// Why it ended (may hold text from the broker; scrubbed before use).
    pub error: String,
}

/// Exponential backoff with jitter: each pause is drawn from the upper half
/// of a window that doubles from 0.1 s up to 5 s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let window = (100u64 << self.attempt.min(6)).min(5_000);
        self.attempt += 1;
        let jitter = envelope::new_origin() % (window / 2 + 1);
        Duration::from_millis(window / 2 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_for_the_broker_and_never_blocks_the_publisher() {
        // A runtime that never runs: the broker task cannot drain the queue.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let topics = Arc::new(Topics::default());
        let mut config = BrokerConfig::new("ferrosocket+unix:///nonexistent/bus.sock").unwrap();
        config.queue = 2;
        let broker = {
            let _guard = rt.enter();
            Broker::start(config, &topics, Arc::new(|_, _| {}))
        };
        let msg = Published::new(OpCode::Text, b"hi", false);
        for _ in 0..5 {
            assert_eq!(topics.publish("room", &msg, None), 0);
        }
        let stats = broker.stats();
        assert_eq!((stats.dropped, stats.published, stats.unsent), (3, 0, 0));
        assert_eq!(stats.state, BrokerState::Connecting);
        assert_eq!(stats.url, "ferrosocket+unix:///nonexistent/bus.sock");
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_too() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let topics = Arc::new(Topics::default());
        let config = BrokerConfig::new("ferrosocket+unix:///nonexistent/bus.sock").unwrap();
        let broker = {
            let _guard = rt.enter();
            Broker::start(config, &topics, Arc::new(|_, _| {}))
        };
        let big = Published::new(OpCode::Binary, &vec![0u8; MAX_QUEUE_BYTES / 2 + 1], false);
        topics.publish("room", &big, None);
        topics.publish("room", &big, None);
        topics.publish("room", &Published::new(OpCode::Text, b"small", false), None);
        assert_eq!(broker.stats().dropped, 1);
    }

    #[test]
    fn backoff_grows_to_its_cap_and_jitters() {
        let mut b = Backoff::default();
        let pauses: Vec<Duration> = (0..12).map(|_| b.next()).collect();
        assert!(pauses[0] >= Duration::from_millis(50) && pauses[0] <= Duration::from_millis(100));
        for p in &pauses[8..] {
            assert!(*p >= Duration::from_millis(2_500) && *p <= Duration::from_millis(5_000));
        }
        let mut c = Backoff::default();
        let again: Vec<Duration> = (0..12).map(|_| c.next()).collect();
        assert_ne!(
            pauses, again,
            "two fleets of retries should not be in lock-step"
        );
    }
}
