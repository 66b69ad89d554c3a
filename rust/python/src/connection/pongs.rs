//! Pong waiters: the futures `ping_waiter()` hands out, resolved with the
//! round trip when the engine reports the matching pong (a `Pong` wake) and
//! failed with `WebSocketDisconnect` when the connection closes first.
//!
//! Apart from `connection.rs` because none of it is on the message path.

use pyo3::intern;
use pyo3::prelude::*;

use super::Connection;
use crate::errors;
use crate::payload::buffer_bytes;
use crate::signal::Kind;

impl Connection {
    /// Send a tracked ping; returns `(sent, waiter)` (see `ping_waiter`).
    pub(super) fn start_ping_waiter<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Py<PyAny>, Bound<'py, PyAny>)> {
        let owned = buffer_bytes(data)?;
        let (id, above) = self
            .conn
            .send_tracked_ping(&owned)
            .map_err(|e| errors::to_py(py, e))?;
        let waiter = self.future(py)?;
        self.pong_futures.push((id, waiter.clone().unbind()));
        // Be told when it closes, and collect pongs that already came.
        let _ = self.conn.poll_closed(self.wakers.get(Kind::Closed));
        self.resolve_pongs(py)?;
        let sent = if above {
            self.wait_send(py)?.unbind()
        } else {
            self.done.clone_ref(py)
        };
        Ok((sent, waiter))
    }

    /// Resolve the waiters of answered pings with their round trips.
    pub(super) fn resolve_pongs(&mut self, py: Python<'_>) -> PyResult<()> {
        for (id, rtt) in self.conn.take_pongs(self.wakers.get(Kind::Pong)) {
            if let Some(i) = self.pong_futures.iter().position(|(f, _)| *f == id) {
                let (_, fut) = self.pong_futures.remove(i);
                let fut = fut.bind(py);
                if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                    fut.call_method1(intern!(py, "set_result"), (rtt.as_secs_f64(),))?;
                }
            }
        }
        Ok(())
    }

    /// The connection closed: every waiting pong waiter raises
    /// `WebSocketDisconnect`. The exception is marked retrieved, so a waiter
    /// nobody awaits (code that ignores `ping()`'s result) logs nothing.
    pub(super) fn fail_pongs(&mut self, py: Python<'_>) -> PyResult<()> {
        let (code, reason) = self.conn.close_info().unwrap_or((1006, String::new()));
        for (_, fut) in self.pong_futures.drain(..) {
            let fut = fut.bind(py);
            if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                let exc = errors::disconnect(py, code, &reason);
                fut.call_method1(intern!(py, "set_exception"), (exc.value(py),))?;
                fut.call_method0(intern!(py, "exception"))?;
            }
        }
        Ok(())
    }
}
