//! `Hub`: the asyncio loop's end of the bridge.
//!
//! One hub per server. Python registers [`Hub::drain`] with
//! `loop.add_reader(hub.fd, hub.drain)`. When tokio posts wakes (see
//! [`crate::signal`]), the loop runs `drain` once for the whole batch: it
//! hands new connections to the Python callback and resolves the futures of
//! waiting `receive()`/`send()`/`wait_closed()` calls. This is the only place
//! where engine events turn into Python activity, and it runs on the loop
//! thread with the GIL it already holds.
//!
//! Made with the loop's `ferrosocket._native.Selector`, the hub's server runs
//! on that selector's runtime (the engine on the loop's thread, see
//! `selector.rs`) and its signal is a flag that selector checks.

use std::collections::HashMap;
use std::sync::Arc;

use ferrosocket::Conn;
use pyo3::prelude::*;

use crate::connection::Connection;
use crate::selector::{LoopRuntime, Selector};
use crate::signal::{untoken, Kind, Signal};

/// The loop side of the bridge for one server.
#[pyclass(module = "ferrosocket._native")]
pub struct Hub {
    pub(crate) signal: Arc<Signal>,
    /// The loop's runtime when the engine runs on the loop's thread.
    pub(crate) on_loop: Option<Arc<LoopRuntime>>,
    create_future: Py<PyAny>,
    /// One completed future for every send that need not wait.
    done: Py<PyAny>,
    on_connection: Py<PyAny>,
    conns: HashMap<u64, Py<Connection>>,
    logger: Py<PyAny>,
    next_id: u64,
    ready: Vec<u64>,
    incoming: Vec<Arc<Conn>>,
}

#[pymethods]
impl Hub {
    /// `loop` is the asyncio loop that drives the handlers; `on_connection`
    /// is called with each new `Connection`. With `selector` (the loop's
    /// `Selector`) the engine runs on the loop's thread.
    #[new]
    #[pyo3(signature = (event_loop, on_connection, selector=None))]
    fn new(
        event_loop: &Bound<'_, PyAny>,
        on_connection: Py<PyAny>,
        selector: Option<&Bound<'_, Selector>>,
    ) -> PyResult<Self> {
        let done = event_loop.call_method0("create_future")?;
        done.call_method1("set_result", (event_loop.py().None(),))?;
        let (signal, on_loop) = match selector {
            Some(sel) => {
                let rt = sel.borrow().runtime()?;
                let signal = Signal::on_loop(rt.wake.clone())?;
                sel.borrow_mut().attach(signal.clone());
                (signal, Some(rt))
            }
            None => (Signal::new()?, None),
        };
        Ok(Hub {
            done: done.unbind(),
            signal,
            on_loop,
            create_future: event_loop.getattr("create_future")?.unbind(),
            on_connection,
            conns: HashMap::new(),
            logger: event_loop
                .py()
                .import("logging")?
                .call_method1("getLogger", ("ferrosocket.access",))?
                .unbind(),
            next_id: 1,
            ready: Vec::new(),
            incoming: Vec::new(),
        })
    }

    /// The descriptor to watch with `loop.add_reader`.
    #[getter]
    fn fd(&self) -> i32 {
        self.signal.fd()
    }

    /// Whether the engine runs on the loop's thread.
    #[getter]
    fn on_loop(&self) -> bool {
        self.on_loop.is_some()
    }

    /// Connections handed to Python and not yet released.
    #[getter]
    fn active(&self) -> usize {
        self.conns.len()
    }

    /// The handler of connection `id` finished: forget the connection once
    /// its socket is closed, so tasks it left waiting still wake up.
    fn release(&mut self, py: Python<'_>, id: u64) {
        let closed = match self.conns.get(&id) {
            Some(conn) => conn.borrow_mut(py).release(),
            None => return,
        };
        if closed {
            self.conns.remove(&id);
        }
    }

    /// The `add_reader` callback: process every wake posted since the last call.
    fn drain(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (mut ready, mut incoming, on_connection) = {
            let mut hub = slf.borrow_mut();
            let mut ready = std::mem::take(&mut hub.ready);
            let mut incoming = std::mem::take(&mut hub.incoming);
            hub.signal.take(&mut ready, &mut incoming);
            (ready, incoming, hub.on_connection.clone_ref(py))
        };
        for conn in incoming.drain(..) {
            let obj = {
                let mut hub = slf.borrow_mut();
                let id = hub.next_id;
                hub.next_id += 1;
                let obj = Py::new(
                    py,
                    Connection::new(py, conn, id, &hub.signal, &hub.create_future, &hub.done),
                )?;
                hub.conns.insert(id, obj.clone_ref(py));
                obj
            };
            // A failing callback must not starve the other connections.
            if let Err(err) = on_connection.call1(py, (obj,)) {
                err.write_unraisable(py, None);
            }
        }
        for token in ready.drain(..) {
            let (id, kind) = untoken(token);
            let conn = slf.borrow().conns.get(&id).map(|c| c.clone_ref(py));
            if let Some(conn) = conn {
                if let Err(err) = conn.borrow_mut(py).resolve(py, kind) {
                    err.write_unraisable(py, None);
                }
                if kind == Kind::Closed && conn.borrow_mut(py).forgettable() {
                    slf.borrow_mut().conns.remove(&id);
                }
            }
        }
        let refusals = slf.borrow().signal.take_refusals();
        if !refusals.is_empty() {
            let logger = slf.borrow().logger.clone_ref(py);
            for r in refusals {
                let peer = r
                    .peer
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".to_owned());
                let status = if r.status == 0 {
                    "dropped".to_owned()
                } else {
                    format!("HTTP {}", r.status)
                };
                logger.call_method1(
                    py,
                    "info",
                    (
                        "handshake refused: %s %s %s: %s",
                        peer,
                        status,
                        r.refusal.as_str(),
                        r.detail,
                    ),
                )?;
            }
        }
        // Keep the (now empty) vectors' capacity for the next batch.
        let mut hub = slf.borrow_mut();
        hub.ready = ready;
        hub.incoming = incoming;
        Ok(())
    }
}
