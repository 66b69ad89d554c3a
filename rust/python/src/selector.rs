//! `Selector`: asyncio's selector that drives the engine on the loop's thread.
//!
//! In this mode (see `ferrosocket/loop.py`) there are no I/O threads: the
//! engine's tokio runtime is a current-thread runtime owned by this selector,
//! and `select(timeout)` is where it runs. asyncio calls `select()` whenever
//! it has nothing else to do; we release the GIL and run the runtime until
//!
//! - a descriptor Python registered (asyncio's self-pipe, a database
//!   driver's socket, a subprocess pipe) is ready,
//! - the engine has news for Python (a [`Signal`] of a hub on this loop was
//!   notified: a message for a waiting `receive()`, a new connection …), or
//! - the timeout passes,
//!
//! and return Python's ready keys plus, for each hub with news, the key its
//! wake-up descriptor was registered with. That descriptor is never written
//! in this mode: the news is the signal's `pending` flag, set on this same
//! thread by an engine task, so a message costs no socketpair byte, no
//! cross-thread wake-up and no context switch. (A wake from another thread,
//! such as `publish()` from a worker thread, wakes tokio's own driver.)
//!
//! Python's registrations live in their own level-triggered epoll, so
//! asyncio's semantics (a ready descriptor stays ready until handled) are
//! the kernel's, and that epoll's descriptor is registered with tokio's
//! reactor through an `AsyncFd`: one wait covers the engine's sockets and
//! Python's. `epoll_wait` on Python's epoll only runs when tokio saw it
//! readable, so the hot path (engine news only) makes no extra syscall.
//!
//! A signal (SIGINT, SIGTERM) is seen through Python's wake-up descriptor,
//! which `ferrosocket.EventLoop.run_forever` points at the loop's self-pipe
//! (as asyncio's Proactor loop does), so a signal ends the wait.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Runtime;

use crate::signal::Signal;

const EVENT_READ: u32 = 1;
const EVENT_WRITE: u32 = 2;

/// How engine news reaches a waiting `select()` (shared by every signal of
/// the hubs on this loop).
#[derive(Default)]
pub struct LoopWake {
    waker: Mutex<Option<Waker>>,
}

impl LoopWake {
    /// A signal has news: end the wait, if `select()` is waiting. On the
    /// loop's own thread this is a flag in tokio's scheduler, no syscall.
    pub fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// The runtime and wake state the servers on this loop share.
pub struct LoopRuntime {
    pub runtime: Runtime,
    pub wake: Arc<LoopWake>,
}

/// A Python registration: its `SelectorKey` and events.
struct Registration {
    key: Py<PyAny>,
    events: u32,
}

/// An epoll descriptor as `AsyncFd` wants it.
struct Epoll(OwnedFd);

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// What one wait saw, taken back to the GIL side.
struct Seen {
    events: Vec<libc::epoll_event>,
}

/// A `selectors.BaseSelector` that runs the engine (see the module docs).
#[pyclass(module = "ferrosocket._native")]
pub struct Selector {
    rt: Option<Arc<LoopRuntime>>,
    epoll: Option<AsyncFd<Epoll>>,
    /// fd -> registration; `map` mirrors the keys for `get_map()`.
    regs: HashMap<RawFd, Registration>,
    map: Py<PyDict>,
    /// Wake-up descriptors of hubs on this loop and their signals.
    signals: Vec<(RawFd, Arc<Signal>)>,
    selector_key: Py<PyAny>,
    buf: Vec<libc::epoll_event>,
    /// The last `select()` ran the engine (see `select`).
    ran: bool,
    /// For readiness checks outside the runtime, where nothing waits.
    noop: Waker,
}

struct NoWake;

impl std::task::Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

fn closed() -> PyErr {
    PyRuntimeError::new_err("the selector is closed")
}

/// `selectors._fileobj_to_fd`: an int, or an object with `fileno()`.
fn fileobj_to_fd(fileobj: &Bound<'_, PyAny>) -> PyResult<RawFd> {
    let fd: RawFd = match fileobj.extract::<RawFd>() {
        Ok(fd) => fd,
        Err(_) => fileobj
            .call_method0("fileno")
            .map_err(|_| PyValueError::new_err(format!("Invalid file object: {fileobj}")))?
            .extract()
            .map_err(|_| PyValueError::new_err(format!("Invalid file object: {fileobj}")))?,
    };
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    Ok(fd)
}

fn epoll_mask(events: u32) -> u32 {
    let mut mask = 0;
    if events & EVENT_READ != 0 {
        mask |= libc::EPOLLIN as u32;
    }
    if events & EVENT_WRITE != 0 {
        mask |= libc::EPOLLOUT as u32;
    }
    mask
}

fn epoll_ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> std::io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: plain syscall with a valid event struct.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Selector {
    /// The runtime the servers of this loop start on.
    pub fn runtime(&self) -> PyResult<Arc<LoopRuntime>> {
        self.rt.clone().ok_or_else(closed)
    }

    /// A hub on this loop: its wake-up descriptor's key is returned by
    /// `select()` when `signal` has news instead of being polled.
    pub fn attach(&mut self, signal: Arc<Signal>) {
        let fd = signal.fd();
        self.signals.retain(|(f, _)| *f != fd);
        self.signals.push((fd, signal));
    }

    fn is_engine_fd(&self, fd: RawFd) -> bool {
        self.signals.iter().any(|(f, _)| *f == fd)
    }

    fn epfd(&self) -> PyResult<RawFd> {
        Ok(self.epoll.as_ref().ok_or_else(closed)?.as_raw_fd())
    }

    fn check_events(events: u32) -> PyResult<()> {
        if events == 0 || events & !(EVENT_READ | EVENT_WRITE) != 0 {
            return Err(PyValueError::new_err(format!(
                "Invalid events: {events:#x}"
            )));
        }
        Ok(())
    }
}

/// Any engine news? Only hubs whose descriptor asyncio registered count.
fn news(signals: &[(RawFd, Arc<Signal>)], regs: &HashMap<RawFd, Registration>) -> bool {
    signals
        .iter()
        .any(|(fd, s)| s.has_news() && regs.contains_key(fd))
}

/// Drain Python's epoll without blocking into `buf`.
fn poll_python(epfd: RawFd, buf: &mut Vec<libc::epoll_event>) {
    buf.clear();
    let cap = buf.capacity();
    // SAFETY: the buffer has room for `cap` events.
    let n = unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), cap as i32, 0) };
    if n > 0 {
        // SAFETY: the kernel initialised `n` events.
        unsafe { buf.set_len(n as usize) };
    }
}

#[pymethods]
impl Selector {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // SAFETY: plain syscall; the result is checked.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: a fresh descriptor we own.
        let epoll = Epoll(unsafe { OwnedFd::from_raw_fd(epfd) });
        let epoll = {
            let _guard = runtime.enter();
            // SAFETY: `Epoll` owns the descriptor and always returns it.
            unsafe { AsyncFd::register_with_interest(epoll, Interest::READABLE) }
                .map_err(|e| PyErr::from(std::io::Error::from(e)))?
        };
        Ok(Selector {
            rt: Some(Arc::new(LoopRuntime {
                runtime,
                wake: Arc::default(),
            })),
            epoll: Some(epoll),
            regs: HashMap::new(),
            map: PyDict::new(py).unbind(),
            signals: Vec::new(),
            selector_key: py.import("selectors")?.getattr("SelectorKey")?.unbind(),
            buf: Vec::with_capacity(64),
            ran: false,
            noop: Waker::from(Arc::new(NoWake)),
        })
    }

    /// `BaseSelector.register`.
    #[pyo3(signature = (fileobj, events, data=None))]
    fn register(
        &mut self,
        py: Python<'_>,
        fileobj: &Bound<'_, PyAny>,
        events: u32,
        data: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Self::check_events(events)?;
        let fd = fileobj_to_fd(fileobj)?;
        if self.regs.contains_key(&fd) {
            return Err(PyKeyError::new_err(format!(
                "{fileobj} (FD {fd}) is already registered"
            )));
        }
        let epfd = self.epfd()?;
        if !self.is_engine_fd(fd) {
            epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, epoll_mask(events))?;
        }
        let key = self
            .selector_key
            .call1(py, (fileobj, fd, events, data.unwrap_or_else(|| py.None())))?;
        self.map.bind(py).set_item(fd, &key)?;
        self.regs.insert(
            fd,
            Registration {
                key: key.clone_ref(py),
                events,
            },
        );
        Ok(key)
    }

    /// `BaseSelector.unregister`.
    fn unregister(&mut self, py: Python<'_>, fileobj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let fd = self.lookup(py, fileobj)?;
        let reg = self.regs.remove(&fd).expect("looked up");
        self.map.bind(py).del_item(fd)?;
        if self.is_engine_fd(fd) {
            // The hub's server is shutting down: forget its signal.
            self.signals.retain(|(f, _)| *f != fd);
        } else if let Ok(epfd) = self.epfd() {
            // A descriptor closed before it was unregistered is already
            // gone from the epoll set (EpollSelector ignores this too).
            let _ = epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0);
        }
        Ok(reg.key)
    }

    /// `BaseSelector.modify`.
    #[pyo3(signature = (fileobj, events, data=None))]
    fn modify(
        &mut self,
        py: Python<'_>,
        fileobj: &Bound<'_, PyAny>,
        events: u32,
        data: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Self::check_events(events)?;
        let fd = self.lookup(py, fileobj)?;
        let old = self.regs.get(&fd).expect("looked up");
        if old.events != events && !self.is_engine_fd(fd) {
            epoll_ctl(self.epfd()?, libc::EPOLL_CTL_MOD, fd, epoll_mask(events))?;
        }
        let old_key = old.key.bind(py);
        let key = self.selector_key.call1(
            py,
            (
                old_key.getattr("fileobj")?,
                fd,
                events,
                data.unwrap_or_else(|| py.None()),
            ),
        )?;
        self.map.bind(py).set_item(fd, &key)?;
        self.regs.insert(
            fd,
            Registration {
                key: key.clone_ref(py),
                events,
            },
        );
        Ok(key)
    }

    /// `BaseSelector.get_key`.
    fn get_key(&self, py: Python<'_>, fileobj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let fd = self.lookup(py, fileobj)?;
        Ok(self.regs[&fd].key.clone_ref(py))
    }

    /// `BaseSelector.get_map`: a read-only view of fd -> key.
    fn get_map(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.rt.is_none() {
            return Ok(py.None());
        }
        Ok(py
            .import("types")?
            .getattr("MappingProxyType")?
            .call1((self.map.bind(py),))?
            .unbind())
    }

    /// `BaseSelector.select`: run the engine until something is ready for
    /// Python (see the module docs). `timeout` None waits without limit,
    /// ≤ 0 runs one round of the engine without waiting.
    #[pyo3(signature = (timeout=None))]
    fn select<'py>(
        &mut self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let rt = self.rt.clone().ok_or_else(closed)?;
        let epoll = self.epoll.as_ref().ok_or_else(closed)?;
        let limit = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        // asyncio polls with timeout 0 when it has callbacks ready, which
        // is once per message: the drain's results wake tasks. Right after
        // a round of the engine that poll skips the engine (a level-triggered
        // descriptor and the engine's news keep until the next call), so the
        // engine runs at least every other iteration and never starves.
        // Measured: one block_on and one epoll_wait less per message.
        if self.ran && limit.is_some_and(|d| d.is_zero()) {
            self.ran = false;
            let list = PyList::empty(py);
            // Python's descriptors: only if the reactor saw its epoll ready.
            let mut cx = std::task::Context::from_waker(&self.noop);
            if let Poll::Ready(Ok(_)) = epoll.poll_read_ready(&mut cx) {
                let mut buf = std::mem::take(&mut self.buf);
                poll_python(epoll.as_raw_fd(), &mut buf);
                self.append_ready(py, &list, &buf)?;
                self.buf = buf;
            }
            self.append_news(py, &list)?;
            return Ok(list);
        }
        self.ran = true;
        let mut buf = std::mem::take(&mut self.buf);
        let cap = self.regs.len().clamp(8, 1024);
        if buf.capacity() < cap {
            buf.reserve(cap - buf.capacity());
        }
        let signals = &self.signals;
        let regs = &self.regs;
        let seen = py.detach(|| {
            rt.runtime
                .block_on(wait(&rt.wake, epoll, signals, regs, limit, buf))
        });
        let list = PyList::empty(py);
        self.append_ready(py, &list, &seen.events)?;
        self.append_news(py, &list)?;
        self.buf = seen.events;
        Ok(list)
    }

    /// `BaseSelector.close`: stop the engine's runtime (every socket of a
    /// server still running on it is dropped) and the epoll.
    fn close(&mut self, py: Python<'_>) {
        self.regs.clear();
        self.map.bind(py).clear();
        self.signals.clear();
        self.epoll = None;
        if let Some(rt) = self.rt.take() {
            if let Ok(rt) = Arc::try_unwrap(rt) {
                py.detach(move || rt.runtime.shutdown_timeout(Duration::from_millis(100)));
            }
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, py: Python<'_>, _args: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    /// Whether this selector runs the engine (always true; lets Python tell
    /// it apart from a stock selector without importing this class).
    #[getter]
    fn drives_engine(&self) -> bool {
        true
    }
}

impl Selector {
    /// `(key, events)` for each of Python's descriptors in `events`.
    fn append_ready(
        &self,
        py: Python<'_>,
        list: &Bound<'_, PyList>,
        events: &[libc::epoll_event],
    ) -> PyResult<()> {
        for ev in events {
            let fd = ev.u64 as RawFd;
            let Some(reg) = self.regs.get(&fd) else {
                continue;
            };
            let mut mask = 0;
            if ev.events & !(libc::EPOLLIN as u32) != 0 {
                mask |= EVENT_WRITE;
            }
            if ev.events & !(libc::EPOLLOUT as u32) != 0 {
                mask |= EVENT_READ;
            }
            let mask = mask & reg.events;
            if mask != 0 {
                list.append((reg.key.bind(py), mask))?;
            }
        }
        Ok(())
    }

    /// The keys of hubs with news, for `select()`'s result.
    fn append_news(&self, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()> {
        for (fd, signal) in &self.signals {
            if signal.has_news() {
                if let Some(reg) = self.regs.get(fd) {
                    list.append((reg.key.bind(py), EVENT_READ))?;
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, py: Python<'_>, fileobj: &Bound<'_, PyAny>) -> PyResult<RawFd> {
        let fd = match fileobj_to_fd(fileobj) {
            Ok(fd) => fd,
            // A closed file object: find it by identity, as selectors does.
            Err(err) => self
                .regs
                .iter()
                .find(|(_, r)| {
                    r.key
                        .bind(py)
                        .getattr("fileobj")
                        .is_ok_and(|f| f.is(fileobj))
                })
                .map(|(fd, _)| *fd)
                .ok_or(err)?,
        };
        if !self.regs.contains_key(&fd) {
            return Err(PyKeyError::new_err(format!("{fileobj} is not registered")));
        }
        Ok(fd)
    }
}

/// The wait of one `select()` (see the module docs). Runs inside the
/// runtime's `block_on`, without the GIL.
async fn wait(
    wake: &LoopWake,
    epoll: &AsyncFd<Epoll>,
    signals: &[(RawFd, Arc<Signal>)],
    regs: &HashMap<RawFd, Registration>,
    limit: Option<Duration>,
    mut buf: Vec<libc::epoll_event>,
) -> Seen {
    let mut sleep = limit
        .filter(|d| !d.is_zero())
        .map(|d| Box::pin(tokio::time::sleep(d)));
    // With no time to wait, the engine still gets one round: its ready tasks
    // run and its reactor is polled once before we return.
    let mut yielded = limit.is_some_and(|d| d.is_zero());
    let epfd = epoll.as_raw_fd();
    poll_fn(|cx| {
        loop {
            match epoll.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => {
                    poll_python(epfd, &mut buf);
                    if buf.is_empty() {
                        guard.clear_ready();
                        continue;
                    }
                    return Poll::Ready(());
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        wake.register(cx.waker());
        if news(signals, regs) {
            return Poll::Ready(());
        }
        if yielded {
            yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if limit.is_some_and(|d| d.is_zero()) {
            return Poll::Ready(());
        }
        match sleep.as_mut().map(|s| s.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })
    .await;
    Seen { events: buf }
}
