//! The Python `WebSocketConfig` on the Rust side: one object, read by its
//! attributes, instead of a keyword per setting.
//!
//! Defaults are written once, in `ferrosocket::ServerConfig::default()` (and,
//! for the two settings only the binding has, in [`BindingConfig::default`]):
//! [`config_defaults`] hands them to `ferrosocket/config.py`, which uses them
//! as the dataclass's field defaults. Validation is written once too:
//! [`PyConfig`]'s extraction converts each attribute to its Rust type (a
//! negative count or a string where a number belongs fails here, with the
//! setting's name) and then runs `ServerConfig::validate`, whose message
//! becomes the `ValueError`. `WebSocketConfig.__post_init__` calls
//! [`check_config`], so a bad value fails where it is written, not when a
//! server starts.

use std::time::Duration;

use ferrosocket::proto::{DeflateConfig, HttpLimits};
use ferrosocket::{ServerConfig, WebSocketConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

/// Settings of the binding itself, not of the engine.
struct BindingConfig {
    /// tokio worker threads doing the socket I/O and framing; `None`: the
    /// engine runs on the loop's thread when ferrosocket made the loop.
    threads: Option<usize>,
    /// How long `Server.close()` waits for handlers before cancelling them
    /// (used by `ferrosocket/server.py`; carried here for its default).
    shutdown_timeout: Duration,
}

impl Default for BindingConfig {
    fn default() -> Self {
        BindingConfig {
            threads: None,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// A validated configuration read from a Python `WebSocketConfig`.
pub struct PyConfig {
    pub server: ServerConfig,
    pub threads: Option<usize>,
}

fn invalid(name: &str, what: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let shown = value
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".into());
    PyValueError::new_err(format!(
        "WebSocketConfig.{name} must be {what}, not {shown}"
    ))
}

/// An attribute holding a non-negative integer (`bool` refused).
fn count<T: TryFrom<u64>>(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    let value = obj.getattr(name)?;
    let what = "a non-negative integer";
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        return Err(invalid(name, what, &value));
    }
    let n: u64 = value.extract().map_err(|_| invalid(name, what, &value))?;
    T::try_from(n).map_err(|_| invalid(name, "a smaller integer", &value))
}

/// An attribute holding seconds: a non-negative int or float.
fn seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    let value = obj.getattr(name)?;
    seconds_of(&value, name)
}

fn seconds_of(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    let what = "a non-negative number of seconds";
    let number = value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>();
    if !number || value.is_instance_of::<PyBool>() {
        return Err(invalid(name, what, value));
    }
    let secs: f64 = value.extract().map_err(|_| invalid(name, what, value))?;
    Duration::try_from_secs_f64(secs).map_err(|_| invalid(name, what, value))
}

/// Seconds, or `None` for "off".
fn optional_seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Duration>> {
    let value = obj.getattr(name)?;
    if value.is_none() {
        return Ok(None);
    }
    seconds_of(&value, name).map(Some)
}

fn flag(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    let value = obj.getattr(name)?;
    match value.cast::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(invalid(name, "True or False", &value)),
    }
}

fn origins(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<String>>> {
    let name = "allowed_origins";
    let value = obj.getattr(name)?;
    if value.is_none() {
        return Ok(None);
    }
    let what = "None or a sequence of origin strings";
    if value.is_instance_of::<PyString>() {
        return Err(invalid(name, what, &value));
    }
    let mut out = Vec::new();
    for item in value.try_iter().map_err(|_| invalid(name, what, &value))? {
        out.push(item?.extract().map_err(|_| invalid(name, what, &value))?);
    }
    Ok(Some(out))
}

impl<'a, 'py> FromPyObject<'a, 'py> for PyConfig {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let o: &Bound<'py, PyAny> = &obj;
        let server = ServerConfig {
            websocket: WebSocketConfig {
                max_message_size: count(o, "max_message_size")?,
                max_frame_size: count(o, "max_frame_size")?,
                max_queue: count(o, "max_queue")?,
                max_queue_bytes: count(o, "max_queue_bytes")?,
                write_high_water: count(o, "write_high_water")?,
                write_low_water: count(o, "write_low_water")?,
                close_timeout: seconds(o, "close_timeout")?,
                ping_interval: optional_seconds(o, "ping_interval")?,
                ping_timeout: optional_seconds(o, "ping_timeout")?,
                idle_timeout: optional_seconds(o, "idle_timeout")?,
                write_timeout: seconds(o, "write_timeout")?,
                deflate: DeflateConfig {
                    enabled: flag(o, "compression")?,
                    level: count(o, "compression_level")?,
                    mem_level: count(o, "compression_mem_level")?,
                    server_max_window_bits: count(o, "compression_window_bits")?,
                    threshold: count(o, "compression_threshold")?,
                    ..DeflateConfig::default()
                },
                backpressure_limit: count(o, "backpressure_limit")?,
                close_on_backpressure_limit: flag(o, "close_on_backpressure_limit")?,
            },
            http: HttpLimits {
                max_request_line: count(o, "max_request_line")?,
                max_headers_size: count(o, "max_headers_size")?,
                max_headers: count(o, "max_headers")?,
            },
            handshake_timeout: seconds(o, "handshake_timeout")?,
            max_connections: count(o, "max_connections")?,
            allowed_origins: origins(o)?,
            require_origin: flag(o, "require_origin")?,
            tls: None,
        };
        server
            .validate()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let threads: Option<usize> = if o.getattr("threads")?.is_none() {
            None
        } else {
            Some(count(o, "threads")?)
        };
        if threads == Some(0) {
            return Err(PyValueError::new_err(
                "WebSocketConfig.threads must be at least 1 (the number of I/O threads), or None",
            ));
        }
        seconds(o, "shutdown_timeout")?;
        Ok(PyConfig { server, threads })
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The default of every `WebSocketConfig` field, by field name.
#[pyfunction]
pub fn config_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let server = ServerConfig::default();
    let ws = &server.websocket;
    let binding = BindingConfig::default();
    let d = PyDict::new(py);
    d.set_item("max_message_size", ws.max_message_size)?;
    d.set_item("max_frame_size", ws.max_frame_size)?;
    d.set_item("max_queue", ws.max_queue)?;
    d.set_item("max_queue_bytes", ws.max_queue_bytes)?;
    d.set_item("write_high_water", ws.write_high_water)?;
    d.set_item("write_low_water", ws.write_low_water)?;
    d.set_item("close_timeout", secs(ws.close_timeout))?;
    d.set_item("handshake_timeout", secs(server.handshake_timeout))?;
    d.set_item("max_connections", server.max_connections)?;
    d.set_item("max_request_line", server.http.max_request_line)?;
    d.set_item("max_headers_size", server.http.max_headers_size)?;
    d.set_item("max_headers", server.http.max_headers)?;
    d.set_item("threads", binding.threads)?;
    d.set_item("shutdown_timeout", secs(binding.shutdown_timeout))?;
    d.set_item("ping_interval", ws.ping_interval.map(secs))?;
    d.set_item("ping_timeout", ws.ping_timeout.map(secs))?;
    d.set_item("idle_timeout", ws.idle_timeout.map(secs))?;
    d.set_item("write_timeout", secs(ws.write_timeout))?;
    d.set_item("allowed_origins", server.allowed_origins)?;
    d.set_item("require_origin", server.require_origin)?;
    d.set_item("compression", ws.deflate.enabled)?;
    d.set_item("compression_level", ws.deflate.level)?;
    d.set_item("compression_mem_level", ws.deflate.mem_level)?;
    d.set_item("compression_window_bits", ws.deflate.server_max_window_bits)?;
    d.set_item("compression_threshold", ws.deflate.threshold)?;
    d.set_item("backpressure_limit", ws.backpressure_limit)?;
    d.set_item(
        "close_on_backpressure_limit",
        ws.close_on_backpressure_limit,
    )?;
    Ok(d)
}

/// Raise `ValueError` (with the engine's message) unless `config` is a
/// configuration a server would start with.
#[pyfunction]
pub fn check_config(config: PyConfig) {
    let _ = config;
}
