//! `Text`, `Binary` and `Close`: what `WebSocket.receive()` returns.
//!
//! They mirror the Rust `Message` enum and are pattern-matchable
//! (`case Text(text):`), so each is a tiny frozen class with
//! `__match_args__`. They are built in Rust because one is created per
//! received message.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

/// A text message. `data` is a `str`.
#[pyclass(frozen, module = "ferrosocket")]
pub struct Text {
    #[pyo3(get)]
    pub data: Py<PyString>,
}

/// A binary message. `data` is `bytes`.
#[pyclass(frozen, module = "ferrosocket")]
pub struct Binary {
    #[pyo3(get)]
    pub data: Py<PyBytes>,
}

/// The connection closed: the peer's `code` and `reason` (1005 when it sent
/// no code, 1006 when it vanished without a close frame, or the code
/// ferrosocket closed with after a protocol error).
#[pyclass(frozen, module = "ferrosocket")]
pub struct Close {
    #[pyo3(get)]
    pub code: u16,
    #[pyo3(get)]
    pub reason: String,
}

#[pymethods]
impl Text {
    #[new]
    fn new(data: Bound<'_, PyString>) -> Self {
        Text {
            data: data.unbind(),
        }
    }

    #[classattr]
    fn __match_args__<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, ["data"])
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Text({})", self.data.bind(py).repr()?))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        match other.cast::<Text>() {
            Ok(o) => self.data.bind(py).as_any().eq(o.get().data.bind(py)),
            Err(_) => Ok(false),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.data.bind(py).hash()
    }
}

#[pymethods]
impl Binary {
    #[new]
    fn new(data: Bound<'_, PyBytes>) -> Self {
        Binary {
            data: data.unbind(),
        }
    }

    #[classattr]
    fn __match_args__<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, ["data"])
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Binary({})", self.data.bind(py).repr()?))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        match other.cast::<Binary>() {
            Ok(o) => self.data.bind(py).as_any().eq(o.get().data.bind(py)),
            Err(_) => Ok(false),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.data.bind(py).hash()
    }
}

#[pymethods]
impl Close {
    #[new]
    #[pyo3(signature = (code=1000, reason=String::new()))]
    fn new(code: u16, reason: String) -> Self {
        Close { code, reason }
    }

    #[classattr]
    fn __match_args__<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, ["code", "reason"])
    }

    fn __repr__(&self) -> String {
        format!("Close({}, {:?})", self.code, self.reason)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Close>() {
            Ok(o) => self.code == o.get().code && self.reason == o.get().reason,
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> isize {
        (self.code as isize) ^ (self.reason.len() as isize) << 16
    }
}
