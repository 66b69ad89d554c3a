//! `NativeServer`: the tokio runtime and listener behind `ferrosocket.serve()`.
//!
//! Start and stop are off the hot path, so they are plain blocking calls on
//! the asyncio thread: binding is a syscall, and the runtime's threads are
//! started once per server. Routing by path and static pages are decided on
//! the tokio side from plain Rust tables, so an unknown path gets its 404 and
//! a page its 200 without Python ever running.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ferrosocket::proto::{build_response, HandshakeRequest, HttpLimits};
use ferrosocket::{
    not_found, refuse_plain_http, App, Conn, Route, Server, ServerConfig, WebSocketConfig,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::hub::Hub;
use crate::signal::Signal;

struct PyApp {
    /// `None`: every path is a WebSocket endpoint.
    routes: Option<HashSet<String>>,
    /// Complete HTTP responses for plain GETs, by path.
    pages: HashMap<String, Vec<u8>>,
    signal: Arc<Signal>,
}

impl App for PyApp {
    fn route(&self, request: &HandshakeRequest, upgrade: bool) -> Route {
        let path = request.path();
        if !upgrade {
            return match self.pages.get(path) {
                Some(page) => Route::Respond(page.clone()),
                None if self.routes.as_ref().is_some_and(|r| !r.contains(path)) => not_found(),
                None => refuse_plain_http(),
            };
        }
        match &self.routes {
            Some(routes) if !routes.contains(path) => not_found(),
            _ => Route::Upgrade,
        }
    }

    fn connect(&self, conn: Arc<Conn>) {
        self.signal.connection(conn);
    }
}

/// A running listener and its tokio runtime.
#[pyclass(module = "ferrosocket._native")]
pub struct NativeServer {
    runtime: Option<tokio::runtime::Runtime>,
    server: Server,
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds"
        ))
    })
}

#[pymethods]
impl NativeServer {
    /// Bind `host:port` and start serving the hub's application.
    /// `routes=None` serves WebSockets on every path; `pages` maps paths to
    /// `(status, headers, body)` answered to plain HTTP GETs.
    #[new]
    #[pyo3(signature = (hub, host, port, routes, pages, *, threads=1, max_message_size=16<<20, max_frame_size=16<<20,
        max_queue=64, max_queue_bytes=16<<20, write_high_water=64<<10, write_low_water=16<<10,
        close_timeout=10.0, handshake_timeout=10.0, max_connections=100_000,
        max_request_line=8192, max_headers_size=16384, max_headers=100))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        hub: &Bound<'_, Hub>,
        host: &str,
        port: u16,
        routes: Option<Vec<String>>,
        pages: HashMap<String, (u16, Vec<(String, String)>, Vec<u8>)>,
        threads: usize,
        max_message_size: usize,
        max_frame_size: usize,
        max_queue: usize,
        max_queue_bytes: usize,
        write_high_water: usize,
        write_low_water: usize,
        close_timeout: f64,
        handshake_timeout: f64,
        max_connections: usize,
        max_request_line: usize,
        max_headers_size: usize,
        max_headers: usize,
    ) -> PyResult<Self> {
        if write_low_water > write_high_water {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "write_low_water must not exceed write_high_water",
            ));
        }
        let config = ServerConfig {
            websocket: WebSocketConfig {
                max_message_size,
                max_frame_size: max_frame_size.min(max_message_size),
                max_queue: max_queue.max(1),
                max_queue_bytes,
                write_high_water,
                write_low_water,
                close_timeout: seconds(close_timeout, "close_timeout")?,
            },
            http: HttpLimits {
                max_request_line,
                max_headers_size,
                max_headers,
            },
            handshake_timeout: seconds(handshake_timeout, "handshake_timeout")?,
            max_connections,
        };
        let pages = pages
            .into_iter()
            .map(|(path, (status, headers, body))| (path, build_response(status, &headers, &body)))
            .collect();
        let app = Arc::new(PyApp {
            routes: routes.map(|r| r.into_iter().collect()),
            pages,
            signal: hub.borrow().signal.clone(),
        });
        let host = host.to_owned();
        py.detach(move || {
            let listener = std::net::TcpListener::bind((host.as_str(), port))?;
            listener.set_nonblocking(true)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name("ferrosocket-io")
                .enable_all()
                .build()?;
            let server = {
                let _guard = runtime.enter();
                Server::start(tokio::net::TcpListener::from_std(listener)?, config, app)?
            };
            Ok(NativeServer {
                runtime: Some(runtime),
                server,
            })
        })
        .map_err(|e: std::io::Error| PyErr::from(e))
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

    /// Stop accepting and close every connection with `code`.
    #[pyo3(signature = (code=1001, reason=""))]
    fn close(&self, code: u16, reason: &str) {
        self.server.close(code, reason);
    }

    /// Stop the runtime: every socket still open is dropped.
    fn shutdown(&mut self, py: Python<'_>) -> PyResult<()> {
        let runtime = self
            .runtime
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the server is already shut down"))?;
        py.detach(move || runtime.shutdown_timeout(Duration::from_secs(1)));
        Ok(())
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
