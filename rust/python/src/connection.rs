//! `Connection`: one WebSocket as the asyncio thread sees it.
//!
//! The Python `WebSocket` class wraps one of these. Its hot methods follow
//! the bridge's rules:
//!
//! - `recv_message()`, `recv_data()`, `recv_text()` and `recv_bytes()` (one
//!   method per result type, so no kind code is parsed per call) pop the
//!   inbound queue on the asyncio thread. When a message is there they return
//!   it at once: no Future, no loop iteration, no thread hop. When none is,
//!   they return an `asyncio.Future` that only says "look again"; the message
//!   stays queued until the caller's next `recv_*()`. A cancelled `receive()`
//!   therefore never loses a message: nothing was taken for it.
//! - `send_text()`/`send_bytes()` encode straight into the outbound buffer and
//!   return whether the buffer is above its high-water mark; only then does
//!   the caller await `wait_send()`, resolved at the low-water mark. A large
//!   `bytes` payload is handed to the engine by reference, never copied
//!   (`payload.rs`).
//!
//! - `ping_waiter()` sends a tracked ping and returns a future resolved with
//!   the round trip (seconds) when its pong arrives, or failed with
//!   `WebSocketDisconnect` when the connection closes first.
//!
//! The futures are resolved by [`crate::hub::Hub::drain`] on the loop thread;
//! tokio only ever sees the GIL-free wakers created here.

use std::sync::Arc;
use std::task::{Poll, Waker};

use ferrosocket::proto::OpCode;
use ferrosocket::{Conn, Incoming};
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors;

mod pongs;
use crate::messages::{Binary, Close, Text};
use crate::payload::{buffer_bytes, send_payload, text_payload, with_bytes, SendPayload};
use crate::signal::{token, Kind, Signal, TokenWaker};

/// What a `recv_*()` call returns: the converted message, or a future to
/// await before calling again.
#[derive(IntoPyObject)]
enum Recv<'py, T> {
    Ready(T),
    Wait(Bound<'py, PyAny>),
}

/// The connection's wakers, one per [`Kind`] of wake, each made the first
/// time it is needed: every waker is an allocation, and an idle connection
/// whose handler waits in `receive()` only ever needs the `Recv` one.
struct Wakers {
    signal: Arc<Signal>,
    id: u64,
    slots: [Option<Waker>; 4],
}

impl Wakers {
    fn get(&mut self, kind: Kind) -> &Waker {
        let (signal, id) = (&self.signal, self.id);
        self.slots[kind as usize].get_or_insert_with(|| TokenWaker::waker(signal, token(id, kind)))
    }
}

/// The engine side of one connection (see the module docs).
#[pyclass(module = "ferrosocket._native")]
pub struct Connection {
    conn: Arc<Conn>,
    id: u64,
    create_future: Py<PyAny>,
    /// A completed future: what a send returns when it need not wait.
    done: Py<PyAny>,
    wakers: Wakers,
    recv_future: Option<Py<PyAny>>,
    send_futures: Vec<Py<PyAny>>,
    closed_futures: Vec<Py<PyAny>>,
    /// Pong waiters by ping id, oldest first.
    pong_futures: Vec<(u64, Py<PyAny>)>,
    /// The handler is done; the hub forgets this connection once its socket
    /// is closed (tasks the handler left behind still get their wake-ups).
    pub(crate) released: bool,
}

fn text_str<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(data) {
        Ok(s) => PyString::new(py, s),
        // The decoder validated it; this branch is unreachable in practice.
        Err(_) => PyString::new(py, &String::from_utf8_lossy(data)),
    }
}

/// `receive()`'s result: a `Text`, `Binary` or `Close` object.
fn message_object(py: Python<'_>, msg: Incoming) -> PyResult<Py<PyAny>> {
    Ok(match msg {
        Incoming::Text(b) => Py::new(
            py,
            Text {
                data: text_str(py, &b).unbind(),
            },
        )?
        .into_any(),
        Incoming::Binary(b) => Py::new(
            py,
            Binary {
                data: PyBytes::new(py, &b).unbind(),
            },
        )?
        .into_any(),
        Incoming::Close(code, reason) => Py::new(py, Close { code, reason })?.into_any(),
    })
}

impl Connection {
    pub fn new(
        py: Python<'_>,
        conn: Arc<Conn>,
        id: u64,
        signal: &Arc<Signal>,
        create_future: &Py<PyAny>,
        done: &Py<PyAny>,
    ) -> Self {
        Connection {
            conn,
            id,
            create_future: create_future.clone_ref(py),
            done: done.clone_ref(py),
            wakers: Wakers {
                signal: signal.clone(),
                id,
                slots: Default::default(),
            },
            recv_future: None,
            send_futures: Vec::new(),
            closed_futures: Vec::new(),
            pong_futures: Vec::new(),
            released: false,
        }
    }

    fn future<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.create_future.bind(py).call0()
    }

    /// The next message as `convert` makes it, or the future to wait on.
    #[inline]
    fn recv_with<'py, T>(
        &mut self,
        py: Python<'py>,
        convert: impl Fn(Python<'py>, Incoming) -> PyResult<T>,
    ) -> PyResult<Recv<'py, T>> {
        if self.recv_future.is_some() {
            self.check_no_waiter(py)?;
        }
        loop {
            match self.conn.try_recv() {
                Ok(Some(msg)) => return convert(py, msg).map(Recv::Ready),
                Err(e) => return Err(errors::to_py(py, e)),
                Ok(None) => {}
            }
            if !self.conn.register_recv(self.wakers.get(Kind::Recv)) {
                let fut = self.future(py)?;
                self.recv_future = Some(fut.clone().unbind());
                return Ok(Recv::Wait(fut));
            }
            // Something arrived between the two calls: take it.
        }
    }

    fn check_no_waiter(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(fut) = &self.recv_future {
            if fut
                .bind(py)
                .call_method0(intern!(py, "done"))?
                .is_truthy()?
            {
                // The waiting receive() was cancelled; its wait is over.
                self.recv_future = None;
                self.conn.clear_recv_waker();
            } else {
                return Err(PyRuntimeError::new_err(
                    "another task is already waiting in receive() on this WebSocket: \
                     receive from one task only (hand messages to others with an asyncio.Queue)",
                ));
            }
        }
        Ok(())
    }

    /// The handler finished. Returns `true` when the socket is already closed
    /// (the hub can forget the connection now); otherwise the hub is woken
    /// with a `Closed` wake when it is.
    pub fn release(&mut self) -> bool {
        self.released = true;
        self.conn
            .poll_closed(self.wakers.get(Kind::Closed))
            .is_ready()
    }

    /// Whether the hub may forget this connection.
    pub fn forgettable(&mut self) -> bool {
        self.released
            && self
                .conn
                .poll_closed(self.wakers.get(Kind::Closed))
                .is_ready()
    }

    /// Called by the hub's drain on the loop thread for a wake of `kind`.
    pub fn resolve(&mut self, py: Python<'_>, kind: Kind) -> PyResult<()> {
        match kind {
            Kind::Recv => {
                if let Some(fut) = self.recv_future.take() {
                    // One call on the common path; a future cancelled in the
                    // meantime refuses the result, which is fine.
                    let fut = fut.bind(py);
                    if let Err(err) = fut.call_method1(intern!(py, "set_result"), (py.None(),)) {
                        if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                            return Err(err);
                        }
                    }
                }
            }
            Kind::Send => {
                if self.send_futures.is_empty() {
                    return Ok(());
                }
                match self.conn.poll_send_ready(self.wakers.get(Kind::Send)) {
                    Poll::Pending => {}
                    Poll::Ready(result) => {
                        let err = result.err().map(|e| errors::to_py(py, e));
                        for fut in self.send_futures.drain(..) {
                            let fut = fut.bind(py);
                            if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                                continue;
                            }
                            match &err {
                                None => {
                                    fut.call_method1(intern!(py, "set_result"), (py.None(),))?
                                }
                                Some(e) => {
                                    fut.call_method1(intern!(py, "set_exception"), (e.value(py),))?
                                }
                            };
                        }
                    }
                }
            }
            Kind::Closed => {
                if self
                    .conn
                    .poll_closed(self.wakers.get(Kind::Closed))
                    .is_ready()
                {
                    for fut in self.closed_futures.drain(..) {
                        let fut = fut.bind(py);
                        if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                            fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
                        }
                    }
                    self.resolve_pongs(py)?;
                    self.fail_pongs(py)?;
                }
            }
            Kind::Pong => self.resolve_pongs(py)?,
        }
        Ok(())
    }

    /// Queue a frame and return the awaitable `send_*()` hands back (see
    /// `send_text`).
    fn send(
        &mut self,
        py: Python<'_>,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> PyResult<Py<PyAny>> {
        let above = self.conn.send_with(opcode, payload, compress);
        self.sent(py, above)
    }

    /// Queue a data frame whose payload is borrowed or handed over (see
    /// `crate::payload`).
    fn queue(
        &mut self,
        py: Python<'_>,
        opcode: OpCode,
        payload: SendPayload<'_>,
        compress: bool,
    ) -> PyResult<Py<PyAny>> {
        let above = match payload {
            SendPayload::Borrowed(data) => self.conn.send_with(opcode, data, compress),
            SendPayload::Owned(data) => self.conn.send_owned(opcode, data, compress),
        };
        self.sent(py, above)
    }

    /// The awaitable a send returns, given what the engine said.
    fn sent(
        &mut self,
        py: Python<'_>,
        above: Result<bool, ferrosocket::WebSocketError>,
    ) -> PyResult<Py<PyAny>> {
        if above.map_err(|e| errors::to_py(py, e))? {
            Ok(self.wait_send(py)?.unbind())
        } else {
            Ok(self.done.clone_ref(py))
        }
    }
}

fn header_pairs(headers: Option<Vec<(String, String)>>) -> Vec<(String, String)> {
    headers.unwrap_or_default()
}

#[pymethods]
impl Connection {
    /// The connection's number, unique within its server.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// The next message as a `Text`, `Binary` or `Close` object if one is
    /// queued. Otherwise an `asyncio.Future` that resolves (with `None`) once
    /// one is: await it and call again. The message stays queued until that
    /// call, so a cancelled wait loses nothing.
    fn recv_message<'py>(&mut self, py: Python<'py>) -> PyResult<Recv<'py, Py<PyAny>>> {
        self.recv_with(py, message_object)
    }

    /// The next message as `str` or `bytes` (see `recv_message`); a close
    /// raises `WebSocketDisconnect`.
    fn recv_data<'py>(&mut self, py: Python<'py>) -> PyResult<Recv<'py, Bound<'py, PyAny>>> {
        self.recv_with(py, |py, msg| match msg {
            Incoming::Text(b) => Ok(text_str(py, &b).into_any()),
            Incoming::Binary(b) => Ok(PyBytes::new(py, &b).into_any()),
            Incoming::Close(code, reason) => Err(errors::disconnect(py, code, &reason)),
        })
    }

    /// The next message, which must be text, as `str` (see `recv_message`);
    /// binary raises `MessageTypeError`, a close `WebSocketDisconnect`.
    fn recv_text<'py>(&mut self, py: Python<'py>) -> PyResult<Recv<'py, Bound<'py, PyString>>> {
        self.recv_with(py, |py, msg| match msg {
            Incoming::Text(b) => Ok(text_str(py, &b)),
            Incoming::Binary(_) => Err(errors::message_type(py, "text", "binary")),
            Incoming::Close(code, reason) => Err(errors::disconnect(py, code, &reason)),
        })
    }

    /// The next message, which must be binary, as `bytes` (see `recv_text`).
    fn recv_bytes<'py>(&mut self, py: Python<'py>) -> PyResult<Recv<'py, Bound<'py, PyBytes>>> {
        self.recv_with(py, |py, msg| match msg {
            Incoming::Binary(b) => Ok(PyBytes::new(py, &b)),
            Incoming::Text(_) => Err(errors::message_type(py, "binary", "text")),
            Incoming::Close(code, reason) => Err(errors::disconnect(py, code, &reason)),
        })
    }

    /// Queue a text frame. Returns an awaitable: already complete while the
    /// write buffer is below its high-water mark, else resolved at the
    /// low-water mark. `compress=False` sends this message uncompressed even
    /// when permessage-deflate was agreed.
    #[pyo3(signature = (data, compress=true))]
    fn send_text(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyString>,
        compress: bool,
    ) -> PyResult<Py<PyAny>> {
        let payload = text_payload(data)?;
        self.queue(py, OpCode::Text, payload, compress)
    }

    /// Queue a binary frame from any bytes-like object (see `send_text`).
    #[pyo3(signature = (data, compress=true))]
    fn send_bytes(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        compress: bool,
    ) -> PyResult<Py<PyAny>> {
        let payload = send_payload(data)?;
        self.queue(py, OpCode::Binary, payload, compress)
    }

    /// Queue a ping (payload at most 125 bytes).
    fn ping(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let owned = buffer_bytes(data)?;
        self.send(py, OpCode::Ping, &owned, false)
    }

    /// Queue a ping and track its pong: returns `(sent, waiter)`, where
    /// `sent` is what `ping()` returns and `waiter` a future resolved with the
    /// round trip in seconds when the pong arrives (a pong also answers every
    /// earlier ping), or failed with `WebSocketDisconnect` if the connection
    /// closes first.
    fn ping_waiter<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Py<PyAny>, Bound<'py, PyAny>)> {
        self.start_ping_waiter(py, data)
    }

    /// Queue a pong (payload at most 125 bytes).
    fn pong(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let owned = buffer_bytes(data)?;
        self.send(py, OpCode::Pong, &owned, false)
    }

    /// A future resolved once the write buffer is at its low-water mark.
    fn wait_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.future(py)?;
        match self.conn.poll_send_ready(self.wakers.get(Kind::Send)) {
            Poll::Ready(Ok(())) => {
                fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
            Poll::Ready(Err(e)) => {
                fut.call_method1(
                    intern!(py, "set_exception"),
                    (errors::to_py(py, e).value(py),),
                )?;
            }
            Poll::Pending => self.send_futures.push(fut.clone().unbind()),
        }
        Ok(fut)
    }

    /// A future resolved once the connection is closed and its socket released.
    fn wait_closed<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.future(py)?;
        if self
            .conn
            .poll_wait_closed(self.wakers.get(Kind::Closed))
            .is_ready()
        {
            fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
        } else {
            self.closed_futures.push(fut.clone().unbind());
        }
        Ok(fut)
    }

    /// Send the 101 response.
    #[pyo3(signature = (subprotocol=None, headers=None))]
    fn accept(
        &self,
        py: Python<'_>,
        subprotocol: Option<&str>,
        headers: Option<Vec<(String, String)>>,
    ) -> PyResult<()> {
        self.conn
            .accept(subprotocol, &header_pairs(headers))
            .map_err(|e| errors::to_py(py, e))
    }

    /// Answer the upgrade with a plain HTTP response.
    #[pyo3(signature = (status, body, headers=None))]
    fn reject(
        &self,
        py: Python<'_>,
        status: u16,
        body: &Bound<'_, PyAny>,
        headers: Option<Vec<(String, String)>>,
    ) -> PyResult<()> {
        let headers = header_pairs(headers);
        with_bytes(body, |b| self.conn.reject(status, &headers, b))?
            .map_err(|e| errors::to_py(py, e))
    }

    /// Start the close handshake (HTTP 403 before accept()).
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, py: Python<'_>, code: i64, reason: &str) -> PyResult<()> {
        let code = errors::close_code(code)?;
        self.conn
            .close(code, reason)
            .map_err(|e| errors::to_py(py, e))
    }

    /// `"CONNECTING" | "OPEN" | "CLOSING" | "CLOSED"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.conn.state().as_str()
    }

    /// Code the connection closed with, or None while it is open.
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.conn.close_info().map(|(c, _)| c)
    }

    /// Reason the connection closed with, or None while it is open.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.conn.close_info().map(|(_, r)| r)
    }

    /// Bytes queued for the peer and not yet written.
    #[getter]
    fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// Seconds of the last answered keepalive ping's round trip, or None.
    #[getter]
    fn latency(&self) -> Option<f64> {
        self.conn.latency().map(|d| d.as_secs_f64())
    }

    /// `(messages_in, messages_out, bytes_in, bytes_out)` of this connection.
    #[getter]
    fn stats(&self) -> (u64, u64, u64, u64) {
        let s = self.conn.stats();
        (s.messages_in, s.messages_out, s.bytes_in, s.bytes_out)
    }

    /// The permessage-deflate response header agreed in the handshake, or None.
    #[getter]
    fn compression(&self) -> Option<String> {
        self.conn.deflate_params().map(|p| p.response_header())
    }

    /// Whether the connection came over TLS.
    #[getter]
    fn tls(&self) -> bool {
        self.conn.request().is_secure()
    }

    /// Request path, without the query string.
    /// The `Sec-WebSocket-Key` of the upgrade request (a client matches its
    /// connection to its `connect()` call by it).
    #[getter]
    fn key(&self) -> &str {
        self.conn.request().key()
    }

    #[getter]
    fn path(&self) -> &str {
        self.conn.request().path()
    }

    /// Raw query string (without `?`).
    #[getter]
    fn query_string(&self) -> &str {
        self.conn.request().query()
    }

    /// Request headers as `(name, value)` pairs in the order sent.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<Bound<'py, PyTuple>> = self
            .conn
            .request()
            .headers()
            .iter()
            .map(|(k, v)| PyTuple::new(py, [k.as_str(), v.as_str()]))
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    /// Subprotocols the client offered, in its order of preference.
    #[getter]
    fn subprotocols(&self) -> Vec<String> {
        self.conn.request().subprotocols().to_vec()
    }

    /// `(host, port)` of the client.
    #[getter]
    fn client(&self) -> Option<(String, u16)> {
        self.conn
            .request()
            .peer_addr()
            .map(|a| (a.ip().to_string(), a.port()))
    }

    // ----- topics (see topics.rs) -----

    /// Subscribe to `topic`; False if already subscribed or closed.
    fn subscribe(&self, py: Python<'_>, topic: &str) -> PyResult<bool> {
        self.conn.subscribe(topic).map_err(|e| errors::to_py(py, e))
    }

    /// Unsubscribe from `topic`; False if not subscribed.
    fn unsubscribe(&self, topic: &str) -> bool {
        self.conn.unsubscribe(topic)
    }

    /// Whether this connection is subscribed to `topic`.
    fn is_subscribed(&self, topic: &str) -> bool {
        self.conn.is_subscribed(topic)
    }

    /// The topics this connection is subscribed to.
    #[getter]
    fn topics(&self) -> Vec<String> {
        self.conn.subscriptions()
    }

    /// Publish to every subscriber of `topic` but this connection; returns
    /// how many it was queued for.
    #[pyo3(signature = (topic, message, compress=None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: &str,
        message: &Bound<'_, PyAny>,
        compress: Option<bool>,
    ) -> PyResult<usize> {
        let msg = crate::topics::published(message, compress)?;
        Ok(crate::topics::publish_from(py, &self.conn, topic, msg))
    }

    /// Published messages dropped for this connection at its backpressure limit.
    #[getter]
    fn publish_dropped(&self) -> u64 {
        self.conn.publish_dropped()
    }

    /// `(host, port)` the client connected to.
    #[getter]
    fn server(&self) -> Option<(String, u16)> {
        self.conn
            .request()
            .local_addr()
            .map(|a| (a.ip().to_string(), a.port()))
    }
}
