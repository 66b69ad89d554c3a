//! `NativeClient`: the engine's client role for `ferrosocket.connect()`.
//!
//! One per asyncio loop (Python keeps it): a tokio runtime with one I/O
//! thread whose park hook flushes the loop's `Hub` signal, exactly like a
//! server's, so a client connection is driven by the same machinery and
//! reaches Python the same way: the opened `Conn` is posted to the hub, whose
//! drain hands Python a `Connection`, and every later wake-up is the hub's.
//!
//! `connect()` itself is a blocking call meant for a thread pool
//! (`loop.run_in_executor`): it waits (without the GIL) for the opening
//! handshake only, which happens once per connection, and returns the
//! handshake's result or raises. Python matches the posted `Connection` to
//! its call by the `Sec-WebSocket-Key`, which is unique per connection.

use std::sync::Arc;
use std::time::Duration;

use ferrosocket::client::{connect_conn, ClientConfig, ClientTls, ConnectError};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::config::PyConfig;
use crate::hub::Hub;
use crate::signal::Signal;

/// What a successful handshake returns to Python: the key (to find the
/// `Connection` the hub hands over), the subprotocol, the extensions and
/// the response headers.
type Opened = (String, Option<String>, Vec<String>, Vec<(String, String)>);

/// The client side of the engine for one asyncio loop (see the module docs).
#[pyclass(module = "ferrosocket._native")]
pub struct NativeClient {
    runtime: Option<tokio::runtime::Runtime>,
    signal: Arc<Signal>,
}

fn raise(py: Python<'_>, err: ConnectError) -> PyErr {
    let class = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        py.import("ferrosocket.client")?.getattr(name)
    };
    let made = match err {
        ConnectError::Refused {
            status,
            headers,
            body,
        } => {
            class("InvalidStatus").and_then(|c| c.call1((status, headers, PyBytes::new(py, &body))))
        }
        ConnectError::Handshake(why) => class("InvalidHandshake").and_then(|c| c.call1((why,))),
        ConnectError::InvalidUri(why) => class("InvalidURI").and_then(|c| c.call1((why,))),
        ConnectError::Tls(why) => py
            .import("ssl")
            .and_then(|m| m.getattr("SSLError"))
            .and_then(|c| c.call1((why,))),
        ConnectError::Timeout => return PyTimeoutError::new_err(err.to_string()),
        ConnectError::Io(e) => return PyErr::from(e),
        ConnectError::Config(e) => return PyValueError::new_err(e.to_string()),
    };
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

#[pymethods]
impl NativeClient {
    /// A client whose connections are delivered to `hub`.
    #[new]
    fn new(hub: &Bound<'_, Hub>) -> PyResult<Self> {
        let signal = hub.borrow().signal.clone();
        let park = signal.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferrosocket-client")
            .on_thread_park(move || park.flush())
            .enable_all()
            .build()
            .map_err(PyOSError::new_err)?;
        Ok(NativeClient {
            runtime: Some(runtime),
            signal,
        })
    }

    /// Open a connection (blocking; run it in a thread pool). `unix_path`
    /// connects through a Unix socket, `uri` then gives Host and path.
    /// `compression`: the permessage-deflate offer as (client_max_window_bits,
    /// server_max_window_bits, client_no_context_takeover,
    /// server_no_context_takeover), client's view, or None for no offer.
    #[pyo3(signature = (uri, config, *, unix_path=None, subprotocols=Vec::new(),
        headers=Vec::new(), compression=Some((15, 15, false, false)), open_timeout=10.0, ca_file=None, ca_pem=None,
        server_hostname=None, check_hostname=true))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &self,
        py: Python<'_>,
        uri: &str,
        config: PyConfig,
        unix_path: Option<String>,
        subprotocols: Vec<String>,
        headers: Vec<(String, String)>,
        compression: Option<(u8, u8, bool, bool)>,
        open_timeout: f64,
        ca_file: Option<String>,
        ca_pem: Option<String>,
        server_hostname: Option<String>,
        check_hostname: bool,
    ) -> PyResult<Opened> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("the client is shut down"))?;
        if !(open_timeout.is_finite() && open_timeout > 0.0) {
            return Err(PyValueError::new_err(
                "open_timeout must be a positive number of seconds",
            ));
        }
        let mut websocket = config.server.websocket;
        if let Some((client_bits, server_bits, client_nct, server_nct)) = compression {
            if !(8..=15).contains(&client_bits) || !(8..=15).contains(&server_bits) {
                return Err(PyValueError::new_err("window bits must be from 8 to 15"));
            }
            let deflate = &mut websocket.deflate;
            deflate.client_max_window_bits = client_bits;
            deflate.server_max_window_bits = server_bits;
            deflate.client_no_context_takeover = client_nct;
            deflate.server_no_context_takeover = server_nct;
        }
        let config = ClientConfig {
            subprotocols,
            headers,
            compression: compression.is_some(),
            open_timeout: Duration::from_secs_f64(open_timeout),
            websocket,
            tls: ClientTls {
                ca_file: ca_file.map(Into::into),
                ca_pem,
                server_name: server_hostname,
                check_hostname,
            },
        };
        let result = py.detach(|| {
            runtime.block_on(connect_conn(
                uri,
                unix_path.as_deref().map(std::path::Path::new),
                &config,
            ))
        });
        match result {
            Ok((conn, handshake)) => {
                let key = conn.request().key().to_owned();
                self.signal.connection(conn);
                Ok((
                    key,
                    handshake.subprotocol,
                    handshake.extensions,
                    handshake.response.headers,
                ))
            }
            Err(err) => Err(raise(py, err)),
        }
    }

    /// Stop the runtime: every connection still open is dropped.
    fn shutdown(&mut self, py: Python<'_>) {
        if let Some(runtime) = self.runtime.take() {
            py.detach(move || runtime.shutdown_timeout(Duration::from_secs(1)));
        }
    }
}

impl Drop for NativeClient {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
