//! `Text`, `Binary` and `Close`: what `WebSocket.receive()` returns.
//!
//! They mirror the Rust `Message` enum and are pattern-matchable
//! (`case Text(text):`), so each is a tiny frozen class with
//! `__match_args__`. They are built in Rust because one is created per
//! received message. Each also reads as its ASGI event dict (`m["type"]`,
//! `m["text"]`, …) for Starlette code: see `crate::asgi`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyString, PyTuple};

use crate::asgi::{self, Pairs};

const TEXT_KEYS: [&str; 2] = ["type", "text"];
const BINARY_KEYS: [&str; 2] = ["type", "bytes"];
const CLOSE_KEYS: [&str; 3] = ["type", "code", "reason"];
const RECEIVE: &str = "websocket.receive";

impl Text {
    fn pairs<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        let data = self.data.bind(py).clone().into_any();
        vec![
            ("type", PyString::intern(py, RECEIVE).into_any()),
            ("text", data),
        ]
    }
}

impl Binary {
    fn pairs<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        let data = self.data.bind(py).clone().into_any();
        vec![
            ("type", PyString::intern(py, RECEIVE).into_any()),
            ("bytes", data),
        ]
    }
}

impl Close {
    fn pairs<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        let ty = PyString::intern(py, "websocket.disconnect").into_any();
        let code = self.code.into_pyobject(py).expect("an int").into_any();
        let reason = PyString::new(py, &self.reason).into_any();
        vec![("type", ty), ("code", code), ("reason", reason)]
    }
}

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

    fn __eq__<'py>(&self, py: Python<'py>, other: &Bound<'py, PyAny>) -> PyResult<bool> {
        match other.cast::<Text>() {
            Ok(o) => self.data.bind(py).as_any().eq(o.get().data.bind(py)),
            Err(_) => Ok(asgi::eq_dict(self.pairs(py), other)?.unwrap_or(false)),
        }
    }

    // The ASGI event view (see `crate::asgi`).
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        asgi::get_item(self.pairs(py), key)
    }

    /// The ASGI event's `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> Bound<'py, PyAny> {
        asgi::get(self.pairs(py), key, default)
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        asgi::contains(&TEXT_KEYS, key)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        asgi::iter_keys(py, &TEXT_KEYS)
    }

    fn __len__(&self) -> usize {
        TEXT_KEYS.len()
    }

    /// The ASGI event's keys.
    fn keys(&self) -> Vec<&'static str> {
        TEXT_KEYS.to_vec()
    }

    /// The ASGI event's values.
    fn values<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyAny>> {
        self.pairs(py).into_iter().map(|(_, v)| v).collect()
    }

    /// The ASGI event's `(key, value)` pairs.
    fn items<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        self.pairs(py)
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

    fn __eq__<'py>(&self, py: Python<'py>, other: &Bound<'py, PyAny>) -> PyResult<bool> {
        match other.cast::<Binary>() {
            Ok(o) => self.data.bind(py).as_any().eq(o.get().data.bind(py)),
            Err(_) => Ok(asgi::eq_dict(self.pairs(py), other)?.unwrap_or(false)),
        }
    }

    // The ASGI event view (see `crate::asgi`).
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        asgi::get_item(self.pairs(py), key)
    }

    /// The ASGI event's `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> Bound<'py, PyAny> {
        asgi::get(self.pairs(py), key, default)
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        asgi::contains(&BINARY_KEYS, key)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        asgi::iter_keys(py, &BINARY_KEYS)
    }

    fn __len__(&self) -> usize {
        BINARY_KEYS.len()
    }

    /// The ASGI event's keys.
    fn keys(&self) -> Vec<&'static str> {
        BINARY_KEYS.to_vec()
    }

    /// The ASGI event's values.
    fn values<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyAny>> {
        self.pairs(py).into_iter().map(|(_, v)| v).collect()
    }

    /// The ASGI event's `(key, value)` pairs.
    fn items<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        self.pairs(py)
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

    fn __eq__<'py>(&self, py: Python<'py>, other: &Bound<'py, PyAny>) -> PyResult<bool> {
        match other.cast::<Close>() {
            Ok(o) => Ok(self.code == o.get().code && self.reason == o.get().reason),
            Err(_) => Ok(asgi::eq_dict(self.pairs(py), other)?.unwrap_or(false)),
        }
    }

    // The ASGI event view (see `crate::asgi`).
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        asgi::get_item(self.pairs(py), key)
    }

    /// The ASGI event's `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> Bound<'py, PyAny> {
        asgi::get(self.pairs(py), key, default)
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        asgi::contains(&CLOSE_KEYS, key)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        asgi::iter_keys(py, &CLOSE_KEYS)
    }

    fn __len__(&self) -> usize {
        CLOSE_KEYS.len()
    }

    /// The ASGI event's keys.
    fn keys(&self) -> Vec<&'static str> {
        CLOSE_KEYS.to_vec()
    }

    /// The ASGI event's values.
    fn values<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyAny>> {
        self.pairs(py).into_iter().map(|(_, v)| v).collect()
    }

    /// The ASGI event's `(key, value)` pairs.
    fn items<'py>(&self, py: Python<'py>) -> Pairs<'py> {
        self.pairs(py)
    }

    fn __hash__(&self) -> isize {
        (self.code as isize) ^ (self.reason.len() as isize) << 16
    }
}
