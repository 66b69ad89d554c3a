//! `NativeServer`: the tokio runtime and listener behind `ferrosocket.serve()`.
//!
//! Start and stop are off the hot path, so they are plain blocking calls on
//! the asyncio thread: binding is a syscall, and the runtime's threads are
//! started once per server. Routing by path (literal paths and
//! Starlette-style patterns, see `ferrosocket::RouteTable`) and static pages
//! are decided on the tokio side from plain Rust tables, so an unknown path
//! gets its 404 and a page its 200 without Python ever running. Python asks
//! `resolve()` which pattern matched, once per connection, only when the
//! table has patterns.
//!
//! The engine runs on one of two runtimes: the hub's loop runtime (a
//! current-thread runtime driven by the loop's `Selector`, see
//! `selector.rs`), or a multi-thread runtime of `threads` I/O threads this
//! server owns (`threads=N`, or a loop ferrosocket did not make).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrosocket::proto::HandshakeRequest;
use ferrosocket::{
    not_found, refuse_plain_http, App, Conn, Listener, Refusal, Response, Route, RouteTable, Server,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::config::PyConfig;
use crate::errors;
use crate::hub::Hub;
use crate::selector::LoopRuntime;
use crate::signal::{RefusedHandshake, Signal};

struct PyApp {
    /// `None`: every path is a WebSocket endpoint. Literal paths are one
    /// hash lookup; patterns (`/rooms/{id}`) are matched here, before the
    /// upgrade, so a miss is a 404 without Python.
    routes: Option<Arc<RouteTable>>,
    /// Responses for plain GETs, by path.
    pages: HashMap<String, Response>,
    signal: Arc<Signal>,
}

impl App for PyApp {
    fn route(&self, request: &HandshakeRequest, upgrade: bool) -> Route {
        let path = request.path();
        if !upgrade {
            return match self.pages.get(path) {
                Some(page) => Route::Respond(page.clone()),
                None if self.routes.as_ref().is_some_and(|r| !r.find(path)) => not_found(),
                None => refuse_plain_http(),
            };
        }
        match &self.routes {
            Some(routes) if !routes.find(path) => not_found(),
            _ => Route::Upgrade,
        }
    }

    fn connect(&self, conn: Arc<Conn>) {
        self.signal.connection(conn);
    }

    fn refused(
        &self,
        peer: Option<std::net::SocketAddr>,
        refusal: Refusal,
        status: u16,
        detail: &str,
    ) {
        self.signal.refusal(RefusedHandshake {
            peer,
            refusal,
            status,
            detail: detail.to_owned(),
        });
    }
}

/// A matched route as Python reads it: its index and its path parameters
/// as `(name, convertor, text)`.
type Resolved = (usize, Vec<(String, &'static str, String)>);

/// A page as Python passes it: status, headers, body.
type Page = (u16, Vec<(String, String)>, Vec<u8>);

/// The runtime a server's engine runs on (see the module docs).
enum Engine {
    Threads(tokio::runtime::Runtime),
    Loop(Arc<LoopRuntime>),
}

/// A running listener and its tokio runtime.
#[pyclass(module = "ferrosocket._native")]
pub struct NativeServer {
    runtime: Option<Engine>,
    server: Server,
    /// The route table the engine routes with, for `resolve()`.
    routes: Option<Arc<RouteTable>>,
    /// The Unix socket file we created, removed again at shutdown.
    unix_path: Option<String>,
    /// Topics shared with other servers (`broker=`), see `broker.rs`.
    broker: Option<crate::broker::ServerBroker>,
}

#[pymethods]
impl NativeServer {
    /// Bind `host:port` and start serving the hub's application with
    /// `config` (a `ferrosocket.WebSocketConfig`, read by its attributes).
    /// `routes` are literal paths or patterns (`/rooms/{room_id}`), matched
    /// in order; a bad pattern raises `ValueError`.
    /// `routes=None` serves WebSockets on every path; `pages` maps paths to
    /// `(status, headers, body)` answered to plain HTTP GETs. `broker` (a
    /// `redis://`, `rediss://` or `ferrosocket+unix://` URL) shares topics
    /// with other servers, channels named `broker_prefix` + topic.
    #[new]
    #[pyo3(signature = (hub, host, port, routes, pages, config, *, tls_cert=None, tls_key=None,
        unix_path=None, fd=None, broker=None, broker_prefix=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        hub: &Bound<'_, Hub>,
        host: &str,
        port: u16,
        routes: Option<Vec<String>>,
        pages: HashMap<String, Page>,
        config: PyConfig,
        tls_cert: Option<String>,
        tls_key: Option<String>,
        unix_path: Option<String>,
        fd: Option<(i32, bool)>,
        broker: Option<String>,
        broker_prefix: Option<String>,
    ) -> PyResult<Self> {
        if let Some(url) = &broker {
            crate::broker::check_broker(url)?;
        }
        let PyConfig {
            server: mut config,
            threads,
        } = config;
        config.tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(ferrosocket::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "TLS needs both a certificate chain and a private key",
                ))
            }
        };
        let pages = pages
            .into_iter()
            .map(|(path, (status, headers, body))| {
                (
                    path,
                    Response {
                        status,
                        headers,
                        body,
                    },
                )
            })
            .collect();
        let routes = match routes {
            Some(r) => Some(Arc::new(
                RouteTable::new(r.iter().map(String::as_str))
                    .map_err(|e| PyValueError::new_err(e.to_string()))?,
            )),
            None => None,
        };
        let table = routes.clone();
        let app = Arc::new(PyApp {
            routes,
            pages,
            signal: hub.borrow().signal.clone(),
        });
        let host = host.to_owned();
        let park_signal = hub.borrow().signal.clone();
        let on_loop = hub.borrow().on_loop.clone();
        let socket_file = if fd.is_none() {
            unix_path.clone()
        } else {
            None
        };
        let mut native = py
            .detach(move || {
                let listener = bind(&host, port, unix_path.as_deref(), fd)?;
                let runtime = match on_loop {
                    Some(rt) => Engine::Loop(rt),
                    None => Engine::Threads(
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(threads.unwrap_or(1))
                            .thread_name("ferrosocket-io")
                            .on_thread_park(move || park_signal.flush())
                            .on_thread_start(batch_scheduling)
                            .enable_all()
                            .build()?,
                    ),
                };
                let server = {
                    let _guard = match &runtime {
                        Engine::Threads(rt) => rt.enter(),
                        Engine::Loop(rt) => rt.runtime.enter(),
                    };
                    let listener: Listener = match listener {
                        StdListener::Tcp(l) => tokio::net::TcpListener::from_std(l)?.into(),
                        StdListener::Unix(l) => tokio::net::UnixListener::from_std(l)?.into(),
                    };
                    Server::start(listener, config, app)?
                };
                Ok(NativeServer {
                    runtime: Some(runtime),
                    server,
                    routes: table,
                    unix_path: socket_file,
                    broker: None,
                })
            })
            .map_err(|e: std::io::Error| PyErr::from(e))?;
        if let Some(url) = broker {
            let prefix = broker_prefix
                .as_deref()
                .unwrap_or(ferrosocket::topics::broker::DEFAULT_PREFIX);
            native.broker = Some(crate::broker::ServerBroker::start(
                &url,
                prefix,
                native.server.topics(),
            )?);
        }
        Ok(native)
    }

    /// The route serving `path`: its index in `routes` and its path
    /// parameters as `(name, convertor, text)`, or None. The same answer the
    /// engine routed the upgrade with.
    fn resolve(&self, path: &str) -> Option<Resolved> {
        let (index, params) = self.routes.as_ref()?.resolve(path)?;
        let params = params
            .into_iter()
            .map(|p| (p.name, p.convertor.as_str(), p.value))
            .collect();
        Some((index, params))
    }

    /// `host:port`, or `unix:/path`.
    #[getter]
    fn address(&self) -> &str {
        self.server.address()
    }

    /// Counters since start: a dict of connections, traffic and refusals.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let s = self.server.stats();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("connections_total", s.connections_total)?;
        d.set_item("connections_open", s.connections_open)?;
        d.set_item("messages_in", s.traffic.messages_in)?;
        d.set_item("messages_out", s.traffic.messages_out)?;
        d.set_item("bytes_in", s.traffic.bytes_in)?;
        d.set_item("bytes_out", s.traffic.bytes_out)?;
        let refused = pyo3::types::PyDict::new(py);
        for (reason, n) in s.refused {
            refused.set_item(reason.as_str(), n)?;
        }
        d.set_item("handshakes_refused", refused)?;
        let t = self.server.topics().stats();
        d.set_item("topics", t.topics)?;
        d.set_item("subscriptions", t.subscriptions)?;
        d.set_item("published", t.published)?;
        d.set_item("deliveries", t.deliveries)?;
        d.set_item("publish_dropped", t.dropped)?;
        d.set_item("shared_compressions", t.shared_compressions)?;
        match &self.broker {
            Some(b) => d.set_item("broker", b.stats(py)?)?,
            None => d.set_item("broker", py.None())?,
        }
        Ok(d)
    }

    /// Publish to every subscriber of `topic`; returns how many it was
    /// queued for. Safe from any thread.
    #[pyo3(signature = (topic, message, compress=None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: &str,
        message: &Bound<'_, PyAny>,
        compress: Option<bool>,
    ) -> PyResult<usize> {
        let msg = crate::topics::published(message, compress)?;
        Ok(crate::topics::publish_all(
            py,
            self.server.topics(),
            topic,
            msg,
        ))
    }

    /// Subscribers of `topic` now.
    fn subscribers(&self, topic: &str) -> usize {
        self.server.topics().subscribers(topic)
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// The bound address.
    #[getter]
    fn host(&self) -> String {
        self.server.local_addr().ip().to_string()
    }

    /// Open sockets, including those still in the handshake.
    #[getter]
    fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Stop accepting and close every connection with `code`; a code or
    /// reason that cannot be sent raises `ValueError` before anything closes.
    #[pyo3(signature = (code=1001, reason=""))]
    fn close(&self, py: Python<'_>, code: i64, reason: &str) -> PyResult<()> {
        let code = errors::close_code(code)?;
        self.server
            .close(code, reason)
            .map_err(|e| errors::to_py(py, e))
    }

    /// Stop the runtime: every socket still open is dropped.
    fn shutdown(&mut self, py: Python<'_>) -> PyResult<()> {
        let runtime = self
            .runtime
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the server is already shut down"))?;
        let broker = self.broker.take();
        match runtime {
            Engine::Threads(rt) => py.detach(move || {
                if let Some(mut broker) = broker {
                    broker.stop();
                }
                rt.shutdown_timeout(Duration::from_secs(1))
            }),
            Engine::Loop(rt) => {
                // As the I/O threads' runtime drops its sockets at shutdown:
                // stop accepting, abandon what is still open, and run the
                // loop's runtime until those tasks have ended (bounded).
                let server = self.server.clone();
                let _ = server.close(1001, "");
                py.detach(move || {
                    if let Some(mut broker) = broker {
                        broker.stop();
                    }
                    rt.runtime.block_on(async {
                        server.wait_closed(Duration::ZERO).await;
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            server.wait_closed(Duration::from_secs(1)),
                        )
                        .await;
                    })
                });
            }
        }
        self.release();
        Ok(())
    }

    /// Whether the engine runs on the loop's thread (in its selector).
    #[getter]
    fn on_loop(&self) -> bool {
        matches!(self.runtime, Some(Engine::Loop(_)))
    }
}

/// Run the I/O threads under `SCHED_BATCH`: they never preempt the asyncio
/// thread on wake-up. Measured reason: with both on one core, every arriving
/// frame woke the I/O worker and the kernel switched to it at once, in the
/// middle of the loop's batch, so batches held one message and the server
/// made ~0.75 context switches per message. As a batch thread the worker
/// waits for the loop to block, then reads everything that arrived in one
/// spell. On separate cores it changes nothing. Best effort: if the policy
/// cannot be set, the default one stays.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread with a valid parameter.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
    }
}

enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Bind on the calling thread (a plain syscall), or adopt a listening socket
/// passed in by descriptor (systemd, gunicorn). The descriptor is duplicated,
/// so the caller keeps ownership of its own.
fn bind(
    host: &str,
    port: u16,
    unix_path: Option<&str>,
    fd: Option<(i32, bool)>,
) -> std::io::Result<StdListener> {
    use std::os::unix::io::{BorrowedFd, FromRawFd, IntoRawFd};
    let listener = if let Some((fd, is_unix)) = fd {
        // SAFETY: the caller passes a descriptor it keeps open for this call;
        // we only duplicate it.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let raw = owned.into_raw_fd();
        // SAFETY: `raw` is a fresh descriptor we own.
        if is_unix {
            StdListener::Unix(unsafe { std::os::unix::net::UnixListener::from_raw_fd(raw) })
        } else {
            StdListener::Tcp(unsafe { std::net::TcpListener::from_raw_fd(raw) })
        }
    } else if let Some(path) = unix_path {
        StdListener::Unix(ferrosocket::bind_unix(path)?)
    } else {
        StdListener::Tcp(std::net::TcpListener::bind((host, port))?)
    };
    match &listener {
        StdListener::Tcp(l) => l.set_nonblocking(true)?,
        StdListener::Unix(l) => l.set_nonblocking(true)?,
    }
    Ok(listener)
}

impl NativeServer {
    fn release(&mut self) {
        drop(self.broker.take());
        match self.runtime.take() {
            Some(Engine::Threads(rt)) => rt.shutdown_background(),
            // Tasks on the loop's runtime end with the loop's selector; a
            // server dropped without shutdown stops accepting at least.
            Some(Engine::Loop(_)) => {
                let _ = self.server.close(1001, "");
            }
            None => {}
        }
        if let Some(path) = self.unix_path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        self.release();
    }
}
