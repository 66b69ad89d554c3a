//! The ASGI event view of `Text`, `Binary` and `Close`.
//!
//! Starlette handlers read `receive()`'s result as the ASGI event dict
//! (`m["type"]`, `m["text"]`, `m.get("bytes")`, `"text" in m`). Our messages
//! are objects (pattern-matchable, one allocation per message), so rather
//! than building a dict per message, each class answers the mapping
//! protocol itself from its fields: the view costs nothing until it is read,
//! and reading it builds no dict either (only `dict(m)` or `m == {...}` do).

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList};

/// Key/value pairs of an ASGI event, in the order ASGI servers build them.
pub type Pairs<'py> = Vec<(&'static str, Bound<'py, PyAny>)>;

fn find<'py>(pairs: Pairs<'py>, key: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let key = key.extract::<&str>().ok()?;
    pairs.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// `m[key]`: the value, or `KeyError`.
pub fn get_item<'py>(pairs: Pairs<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    find(pairs, key).ok_or_else(|| PyKeyError::new_err(key.clone().unbind()))
}

/// `m.get(key, default)`.
pub fn get<'py>(
    pairs: Pairs<'py>,
    key: &Bound<'py, PyAny>,
    default: Option<Bound<'py, PyAny>>,
) -> Bound<'py, PyAny> {
    let py = key.py();
    find(pairs, key).unwrap_or_else(|| default.unwrap_or_else(|| py.None().into_bound(py)))
}

/// `key in m`.
pub fn contains(keys: &[&str], key: &Bound<'_, PyAny>) -> bool {
    key.extract::<&str>().is_ok_and(|k| keys.contains(&k))
}

/// `iter(m)`: over the keys, like a dict.
pub fn iter_keys<'py>(py: Python<'py>, keys: &[&str]) -> PyResult<Bound<'py, PyIterator>> {
    PyList::new(py, keys)?.try_iter()
}

/// The event as a real dict (for `==` against one).
pub fn to_dict<'py>(py: Python<'py>, pairs: Pairs<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// `m == other` where `other` is a dict: equal as ASGI events.
pub fn eq_dict<'py>(pairs: Pairs<'py>, other: &Bound<'py, PyAny>) -> PyResult<Option<bool>> {
    match other.cast::<PyDict>() {
        Ok(d) => Ok(Some(to_dict(other.py(), pairs)?.as_any().eq(d)?)),
        Err(_) => Ok(None),
    }
}
