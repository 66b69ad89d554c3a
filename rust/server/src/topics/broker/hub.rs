//! The local bus hub: relays published messages between the processes
//! connected to one Unix socket (see [`super::bus`] for the framing).
//!
//! It holds a table channel → subscribed processes and forwards each PUB
//! frame, unchanged and as one shared buffer, only to the processes
//! subscribed to its channel, never back to its sender. A process that
//! reads too slowly has its queue (at most [`CLIENT_QUEUE`] frames and
//! [`CLIENT_QUEUE_BYTES`]) fill up and then loses messages (counted in `dropped`), so one stuck worker
//! never stalls the others; the hub never waits for a reader. Each
//! process's frames are read by one task in order, which keeps every
//! publisher's messages in publish order.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::bus::{parse_pub, read_frame, PUB, SUB, UNSUB};

/// Frames waiting for one process at most.
pub const CLIENT_QUEUE: usize = 16_384;

/// Bytes waiting for one process at most (past either bound its messages
/// are dropped), so a stuck process costs the hub bounded memory.
pub const CLIENT_QUEUE_BYTES: usize = 64 << 20;

/// The hub's end of one connected process.
struct Peer {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// Counters of a hub since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusHubStats {
    /// Processes connected now.
    pub clients: u64,
    /// Channels with at least one subscribed process now.
    pub channels: u64,
    /// Subscriptions now, summed over channels.
    pub subscriptions: u64,
    /// Messages received from processes.
    pub published: u64,
    /// Messages queued for other processes.
    pub forwarded: u64,
    /// Messages dropped for a process whose queue was full.
    pub dropped: u64,
}

#[derive(Default)]
struct State {
    channels: Mutex<HashMap<Box<str>, HashSet<u64>>>,
    clients: Mutex<HashMap<u64, Peer>>,
    published: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl State {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, HashSet<u64>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Peer>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forward(&self, from: u64, channel: &str, frame: Bytes) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let channels = self.channels();
        let Some(ids) = channels.get(channel) else {
            return;
        };
        let clients = self.clients();
        for id in ids {
            if *id == from {
                continue;
            }
            if let Some(peer) = clients.get(id) {
                let len = frame.len();
                let fits = peer.queued.fetch_add(len, Ordering::AcqRel) + len <= CLIENT_QUEUE_BYTES;
                if fits && peer.tx.try_send(frame.clone()).is_ok() {
                    self.forwarded.fetch_add(1, Ordering::Relaxed);
                } else {
                    peer.queued.fetch_sub(len, Ordering::AcqRel);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A running hub. Dropping it (or [`BusHub::close`]) stops it, ends every
/// connection and removes the socket file.
pub struct BusHub {
    path: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl BusHub {
    /// Listen on `path` (a stale socket file left by a dead hub is
    /// replaced) and relay between the processes that connect. Must be
    /// called inside a tokio runtime.
    pub fn bind(path: &str) -> io::Result<BusHub> {
        let listener = UnixListener::from_std(crate::bind_unix(path)?)?;
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept(listener, state.clone()));
        Ok(BusHub {
            path: path.to_owned(),
            state,
            task,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Counters now.
    pub fn stats(&self) -> BusHubStats {
        let (channels, subscriptions) = {
            let c = self.state.channels();
            (c.len() as u64, c.values().map(|ids| ids.len() as u64).sum())
        };
        BusHubStats {
            clients: self.state.clients().len() as u64,
            channels,
            subscriptions,
            published: self.state.published.load(Ordering::Relaxed),
            forwarded: self.state.forwarded.load(Ordering::Relaxed),
            dropped: self.state.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stop relaying and remove the socket file.
    pub fn close(&self) {
        if !self.task.is_finished() {
            self.task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for BusHub {
    fn drop(&mut self) {
        self.close();
    }
}

/// A socket file nobody accepts on is left over from a hub that died.
async fn accept(listener: UnixListener, state: Arc<State>) {
    // Owned here, so aborting the hub aborts every connection's task.
    let mut conns = JoinSet::new();
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next += 1;
                    conns.spawn(client(next, stream, state.clone()));
                }
                // Out of descriptors and the like: wait for one to free up.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Bytes gathered into one write to a process at most.
const WRITE_BATCH: usize = 256 << 10;

async fn client(id: u64, stream: UnixStream, state: Arc<State>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    let (tx, mut rx) = mpsc::channel::<Bytes>(CLIENT_QUEUE);
    let queued = Arc::new(AtomicUsize::new(0));
    state.clients().insert(
        id,
        Peer {
            tx,
            queued: queued.clone(),
        },
    );
    let writer = async move {
        // Everything queued meanwhile goes out in one write.
        let mut out = Vec::new();
        while let Some(frame) = rx.recv().await {
            out.extend_from_slice(&frame);
            while out.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(frame) => out.extend_from_slice(&frame),
                    Err(_) => break,
                }
            }
            queued.fetch_sub(out.len(), Ordering::AcqRel);
            if wr.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
    };
    let mut subscribed: HashSet<Box<str>> = HashSet::new();
    let reader = async {
        let mut buf = Vec::new();
        while let Ok(Some(kind)) = read_frame(&mut rd, &mut buf).await {
            match kind {
                SUB | UNSUB => {
                    let Ok(channel) = std::str::from_utf8(&buf[5..]) else {
                        return;
                    };
                    let mut channels = state.channels();
                    if kind == SUB {
                        subscribed.insert(channel.into());
                        channels.entry(channel.into()).or_default().insert(id);
                    } else {
                        subscribed.remove(channel);
                        unsubscribe(&mut channels, channel, id);
                    }
                }
                PUB => {
                    let Some((channel, _)) = parse_pub(&buf[5..]) else {
                        return;
                    };
                    let channel: Box<str> = channel.into();
                    let frame = Bytes::copy_from_slice(&buf);
                    state.forward(id, &channel, frame);
                }
                _ => return, // not a hub's client: drop it
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
    state.clients().remove(&id);
    let mut channels = state.channels();
    for channel in &subscribed {
        unsubscribe(&mut channels, channel, id);
    }
}

fn unsubscribe(channels: &mut HashMap<Box<str>, HashSet<u64>>, channel: &str, id: u64) {
    if let Some(ids) = channels.get_mut(channel) {
        ids.remove(&id);
        if ids.is_empty() {
            channels.remove(channel);
        }
    }
}
