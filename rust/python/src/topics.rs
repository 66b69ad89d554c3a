//! Topics for Python: `ws.subscribe()`/`ws.publish()` and `server.publish()`.
//!
//! The table and the fan-out are the engine's (`ferrosocket::topics`); this
//! file only turns a Python message into a [`Published`] frame (one copy,
//! under the GIL) and then fans it out with the GIL released, so a publish
//! to 10,000 subscribers runs no Python per subscriber and lets other
//! Python threads run meanwhile. That also makes `server.publish` safe from
//! any thread: the engine side is plain locked Rust state.

use ferrosocket::proto::OpCode;
use ferrosocket::{Conn, Published, Topics};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// Frame a `str` (text) or bytes-like (binary) message once.
/// `compress=False` keeps it uncompressed on every connection.
pub fn published(message: &Bound<'_, PyAny>, compress: Option<bool>) -> PyResult<Published> {
    let compress = compress.unwrap_or(true);
    if let Ok(s) = message.cast::<PyString>() {
        return Ok(Published::new(
            OpCode::Text,
            s.to_str()?.as_bytes(),
            compress,
        ));
    }
    if let Ok(b) = message.cast::<PyBytes>() {
        return Ok(Published::new(OpCode::Binary, b.as_bytes(), compress));
    }
    match PyBuffer::<u8>::get(message) {
        Ok(buffer) => Ok(Published::new(
            OpCode::Binary,
            &buffer.to_vec(message.py())?,
            compress,
        )),
        Err(_) => Err(PyTypeError::new_err(format!(
            "publish() sends str (text) or bytes-like (binary) messages, not {}",
            message.get_type().name()?
        ))),
    }
}

/// `server.publish`: to every subscriber.
pub fn publish_all(py: Python<'_>, topics: &Topics, topic: &str, msg: Published) -> usize {
    py.detach(|| topics.publish(topic, &msg, None))
}

/// `ws.publish`: to every subscriber but `conn`.
pub fn publish_from(py: Python<'_>, conn: &Conn, topic: &str, msg: Published) -> usize {
    py.detach(|| conn.publish(topic, &msg))
}
