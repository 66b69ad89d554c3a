//! The broker for Python: `serve(..., broker=URL)` and the local bus hub
//! `Bus(path)`.
//!
//! The broker task (`ferrosocket::topics::broker`) runs on a runtime of its
//! own, one thread named `ferrosocket-broker`, whatever mode the server's
//! I/O runs in: its work (a socket to Redis or the hub, a few syscalls per
//! batch) never competes with the connections' runtime, and a message from
//! the broker reaches subscribers by queueing on them and waking their
//! writers, which works from any thread. Only its rare connection events
//! (connected, lost, unreachable) touch Python: they are logged on the
//! `ferrosocket` logger, taking the GIL for that line, and never if the
//! interpreter is gone.

use std::time::Duration;

use ferrosocket::topics::broker::{
    Broker, BrokerConfig, BrokerStats, BrokerUrl, BusHub, Events, Level,
};
use ferrosocket::Topics;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
}

/// Check a broker URL; returns it redacted. `ValueError` says what is wrong
/// (and never shows the password).
#[pyfunction]
pub fn check_broker(url: &str) -> PyResult<String> {
    BrokerUrl::parse(url)
        .map(|u| u.redacted().to_owned())
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A server's broker and the runtime it runs on.
pub struct ServerBroker {
    broker: Broker,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServerBroker {
    /// Start the broker for `topics`: connects in the background.
    pub fn start(url: &str, prefix: &str, topics: &std::sync::Arc<Topics>) -> PyResult<Self> {
        let mut config =
            BrokerConfig::new(url).map_err(|e| PyValueError::new_err(e.to_string()))?;
        config.prefix = prefix.to_owned();
        let runtime = runtime("ferrosocket-broker")?;
        let events: Events = std::sync::Arc::new(log_event);
        let broker = {
            let _guard = runtime.enter();
            Broker::start(config, topics, events)
        };
        Ok(ServerBroker {
            broker,
            runtime: Some(runtime),
        })
    }

    pub fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let BrokerStats {
            url,
            state,
            published,
            received,
            dropped,
            unsent,
            reconnects,
        } = self.broker.stats();
        let d = PyDict::new(py);
        d.set_item("url", url)?;
        d.set_item("state", state.as_str())?;
        d.set_item("published", published)?;
        d.set_item("received", received)?;
        d.set_item("dropped", dropped)?;
        d.set_item("unsent", unsent)?;
        d.set_item("reconnects", reconnects)?;
        Ok(d)
    }

    /// Stop the broker task and its thread.
    pub fn stop(&mut self) {
        self.broker.stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for ServerBroker {
    fn drop(&mut self) {
        self.broker.stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn log_event(level: Level, message: &str) {
    // `try_attach`: nothing is logged while the interpreter shuts down.
    let _ = Python::try_attach(|py| -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("ferrosocket",))?;
        let method = match level {
            Level::Info => "info",
            Level::Warning => "warning",
        };
        logger.call_method1(method, ("%s", message))?;
        Ok(())
    });
}

/// The local bus hub: relays topics between the server processes of one
/// machine that use `broker="ferrosocket+unix://" + path`. It serves on a
/// background thread from construction until `close()`.
#[pyclass(module = "ferrosocket._native")]
pub struct Bus {
    hub: Option<BusHub>,
    runtime: Option<tokio::runtime::Runtime>,
    path: String,
}

#[pymethods]
impl Bus {
    /// Listen on the Unix socket `path` (absolute; a stale socket file
    /// from a dead hub is replaced).
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        if !path.starts_with('/') {
            return Err(PyValueError::new_err(format!(
                "Bus path must be absolute, got {path:?}"
            )));
        }
        py.detach(|| {
            let runtime = runtime("ferrosocket-bus")?;
            let hub = {
                let _guard = runtime.enter();
                BusHub::bind(&path)?
            };
            Ok(Bus {
                hub: Some(hub),
                runtime: Some(runtime),
                path: path.clone(),
            })
        })
        .map_err(|e: std::io::Error| {
            PyRuntimeError::new_err(format!("cannot serve the bus on {path}: {e}"))
        })
    }

    /// The socket's path.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The broker URL servers use to join this hub.
    #[getter]
    fn url(&self) -> String {
        format!("ferrosocket+unix://{}", self.path)
    }

    /// Counters: clients, channels and subscriptions (now), published,
    /// forwarded, dropped.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = self.hub.as_ref().map(BusHub::stats).unwrap_or_default();
        d.set_item("clients", s.clients)?;
        d.set_item("channels", s.channels)?;
        d.set_item("subscriptions", s.subscriptions)?;
        d.set_item("published", s.published)?;
        d.set_item("forwarded", s.forwarded)?;
        d.set_item("dropped", s.dropped)?;
        Ok(d)
    }

    /// Stop relaying, close every connection, remove the socket file.
    /// Closing twice does nothing.
    fn close(&mut self, py: Python<'_>) {
        let hub = self.hub.take();
        let runtime = self.runtime.take();
        py.detach(move || {
            drop(hub);
            if let Some(runtime) = runtime {
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        });
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) {
        self.close(py);
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        drop(self.hub.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
