//! How tokio threads wake the asyncio loop without touching Python.
//!
//! Rule 1 of the bridge: tokio threads never take the GIL in the data path
//! and never hold Python objects (taking the GIL from a foreign thread can
//! wait up to the 5 ms switch interval). So a tokio thread that has news for
//! Python — a message for a waiting `receive()`, room in the write buffer, a
//! new connection — only appends a number (or an `Arc<Conn>`) to a list here
//! and, if the loop has not been signalled since it last drained, writes one
//! byte to a socketpair that the loop watches with `loop.add_reader`.
//!
//! The `pending` flag makes that at most one write per batch: every wake
//! between two drains finds the flag set and only appends. The loop's drain
//! callback clears the flag *before* taking the lists, so a wake racing with
//! the drain either lands in this drain or writes a new byte for the next.
//!
//! A batch is as long as a tokio worker's busy spell. Wakes made on a worker
//! thread only mark the signal dirty; the runtime's `on_thread_park` hook
//! writes the byte when the worker runs out of work ([`Signal::flush`]).
//! Measured reason: with the server on one core, writing at the first wake
//! made the kernel switch to the asyncio thread at once (wakeup preemption),
//! so batches held about one message and context switches took a fifth of
//! the CPU. A batch is still flushed early once it holds `EARLY_FLUSH`
//! wakes, so a worker that never idles cannot starve the loop, and wakes
//! from any other thread (the asyncio thread itself) are written at once.
//!
//! On the loop's thread (a signal made with [`Signal::on_loop`], see
//! `selector.rs`) there is no other thread to wake: the engine runs inside
//! the loop's `select()`, so notifying is setting `pending` and waking that
//! `select()` through tokio's scheduler; the socketpair is never written and
//! its descriptor only names the hub's key in the selector.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use ferrosocket::Conn;

use crate::selector::LoopWake;

/// What a wake is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A message (or the close) is queued for a waiting `receive()`.
    Recv = 0,
    /// The write buffer drained below the low-water mark.
    Send = 1,
    /// The connection's socket is closed.
    Closed = 2,
    /// A pong answered one of the application's pings.
    Pong = 3,
}

/// A wake token: connection id and kind in one integer.
pub fn token(id: u64, kind: Kind) -> u64 {
    (id << 2) | kind as u64
}

/// Split a token into connection id and kind.
pub fn untoken(token: u64) -> (u64, Kind) {
    let kind = match token & 3 {
        0 => Kind::Recv,
        1 => Kind::Send,
        2 => Kind::Closed,
        _ => Kind::Pong,
    };
    (token >> 2, kind)
}

/// A handshake the engine refused before Python saw it, to be logged.
pub struct RefusedHandshake {
    pub peer: Option<std::net::SocketAddr>,
    pub refusal: ferrosocket::Refusal,
    /// 0: dropped without a response.
    pub status: u16,
    pub detail: String,
}

#[derive(Default)]
struct Lists {
    ready: Vec<u64>,
    connections: Vec<Arc<Conn>>,
    refusals: Vec<RefusedHandshake>,
}

/// Wakes after which a worker flushes without waiting to park.
const EARLY_FLUSH: usize = 256;

/// The shared half of the loop signal (see the module docs).
pub struct Signal {
    lists: Mutex<Lists>,
    pending: AtomicBool,
    /// Wakes were posted from a worker and not yet signalled.
    dirty: AtomicBool,
    tx: UnixStream,
    rx: UnixStream,
    /// Set on the loop's thread: how to end the selector's wait.
    on_loop: Option<Arc<LoopWake>>,
}

impl Signal {
    pub fn new() -> std::io::Result<Arc<Signal>> {
        Self::make(None)
    }

    /// A signal for a hub whose engine runs in the loop's selector.
    pub fn on_loop(wake: Arc<LoopWake>) -> std::io::Result<Arc<Signal>> {
        Self::make(Some(wake))
    }

    fn make(on_loop: Option<Arc<LoopWake>>) -> std::io::Result<Arc<Signal>> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Arc::new(Signal {
            lists: Mutex::new(Lists::default()),
            pending: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            tx,
            rx,
            on_loop,
        }))
    }

    /// The descriptor the loop watches.
    pub fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether wakes were posted since the last `take()`.
    pub fn has_news(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    fn notify(&self) {
        if let Some(wake) = &self.on_loop {
            if !self.pending.swap(true, Ordering::AcqRel) {
                wake.wake();
            }
            return;
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a byte is already waiting: enough.
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// Signal now, or, on a runtime worker, when it parks (see the module docs).
    fn post(&self, queued: usize) {
        if queued < EARLY_FLUSH
            && self.on_loop.is_none()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            self.dirty.store(true, Ordering::Release);
        } else {
            self.notify();
        }
    }

    /// The `on_thread_park` hook: signal what this worker's spell posted.
    pub fn flush(&self) {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.notify();
        }
    }

    /// A wake for `token` (usually from a tokio worker).
    pub fn wake(&self, token: u64) {
        let queued = {
            let mut lists = self.lists();
            lists.ready.push(token);
            lists.ready.len()
        };
        self.post(queued);
    }

    /// Called on a tokio thread: a new connection for the application.
    pub fn connection(&self, conn: Arc<Conn>) {
        let queued = {
            let mut lists = self.lists();
            lists.connections.push(conn);
            lists.connections.len()
        };
        self.post(queued);
    }

    /// Called on a tokio thread: a refused handshake to log. Bounded, so a
    /// flood of bad clients cannot grow memory while the loop is busy.
    pub fn refusal(&self, refusal: RefusedHandshake) {
        let mut lists = self.lists();
        if lists.refusals.len() < 1024 {
            lists.refusals.push(refusal);
        }
        drop(lists);
        self.notify();
    }

    /// Called on the loop thread: refusals to log since the last call.
    pub fn take_refusals(&self) -> Vec<RefusedHandshake> {
        std::mem::take(&mut self.lists().refusals)
    }

    /// Called on the loop thread: clear the signal and take everything queued.
    pub fn take(&self, ready: &mut Vec<u64>, connections: &mut Vec<Arc<Conn>>) {
        let mut sink = [0u8; 256];
        while self.on_loop.is_none() {
            match (&self.rx).read(&mut sink) {
                Ok(n) if n == sink.len() => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        self.pending.store(false, Ordering::Release);
        let mut lists = self.lists();
        std::mem::swap(ready, &mut lists.ready);
        std::mem::swap(connections, &mut lists.connections);
    }
}

/// A [`Waker`] that posts one token to a [`Signal`].
pub struct TokenWaker {
    signal: Arc<Signal>,
    token: u64,
}

impl TokenWaker {
    pub fn waker(signal: &Arc<Signal>, token: u64) -> Waker {
        Waker::from(Arc::new(TokenWaker {
            signal: signal.clone(),
            token,
        }))
    }
}

impl Wake for TokenWaker {
    fn wake(self: Arc<Self>) {
        self.signal.wake(self.token);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.signal.wake(self.token);
    }
}
