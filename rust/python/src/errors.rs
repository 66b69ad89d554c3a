//! Python exceptions raised by the binding.
//!
//! The exception classes are defined in Python (`ferrosocket._errors`) so they
//! carry `code`/`reason` attributes and docstrings like any Python class; the
//! binding looks them up once and raises them by mapping each
//! `WebSocketError` to the class a Starlette user expects.

use ferrosocket::WebSocketError;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static DISCONNECT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BASE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MESSAGE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<Bound<'py, PyType>> {
    cell.import(py, "ferrosocket._errors", name).cloned()
}

/// `WebSocketDisconnect(code, reason)`.
pub fn disconnect(py: Python<'_>, code: u16, reason: &str) -> PyErr {
    match class(py, &DISCONNECT, "WebSocketDisconnect").and_then(|c| c.call1((code, reason))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// `MessageTypeError(text)`: receive_text() got bytes or the reverse.
pub fn message_type(py: Python<'_>, expected: &str, got: &str) -> PyErr {
    let text = format!("expected a {expected} message, got a {got} message");
    match class(py, &MESSAGE_TYPE, "MessageTypeError").and_then(|c| c.call1((text,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Map an engine error to the Python exception a user expects.
pub fn to_py(py: Python<'_>, err: WebSocketError) -> PyErr {
    match err {
        WebSocketError::ConnectionClosed(code, reason) => disconnect(py, code.as_u16(), &reason),
        WebSocketError::NotAccepted => PyRuntimeError::new_err(
            "the WebSocket is not accepted yet: call `await websocket.accept()` first",
        ),
        WebSocketError::AlreadyAccepted => PyRuntimeError::new_err(
            "the handshake was already answered: accept(), reject() and close() before accept() can be called once",
        ),
        // The caller's mistakes: the engine's message says what to pass.
        err @ (WebSocketError::InvalidClose(_)
        | WebSocketError::CloseReasonTooLong(_)
        | WebSocketError::InvalidStatus(_)
        | WebSocketError::InvalidArgument(_)) => PyValueError::new_err(err.to_string()),
        other => match class(py, &BASE, "WebSocketError").and_then(|c| c.call1((other.to_string(),))) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
    }
}

/// A close code from Python's int: one outside 0..=65535 cannot be a code
/// at all, so it is refused here, before the engine's own check.
pub fn close_code(code: i64) -> PyResult<u16> {
    u16::try_from(code).map_err(|_| {
        PyValueError::new_err(format!(
            "close code {code} may not be sent: it is not a 16-bit code (use 1000-1003, 1007-1014 or 3000-4999)"
        ))
    })
}
