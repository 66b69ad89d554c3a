//! `ferrosocket._native`: the PyO3 binding of the ferrosocket engine.
//!
//! Two ways to run the engine. On the loop's thread (`selector.rs`): a
//! current-thread tokio runtime runs inside asyncio's `select()`, so the
//! engine and the handlers take turns on one thread. On I/O threads: the
//! tokio runtime's worker threads own every socket, decode and encode
//! frames, answer pings and close handshakes, and never touch Python.
//! The asyncio thread runs the handlers; it reads and writes the per-connection
//! state directly (`Connection.recv()`, `send_text()`, …) and is woken through
//! one descriptor per server when it must wait (`Hub.drain`). See
//! `signal.rs`, `hub.rs` and `connection.rs` for each half of the handoff.

mod asgi;
mod broker;
mod client;
mod config;
mod connection;
mod errors;
mod hub;
mod messages;
mod payload;
mod selector;
mod server;
mod signal;
mod topics;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connection::Connection>()?;
    m.add_class::<hub::Hub>()?;
    m.add_class::<server::NativeServer>()?;
    m.add_class::<selector::Selector>()?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<broker::Bus>()?;
    m.add_function(wrap_pyfunction!(broker::check_broker, m)?)?;
    m.add_class::<messages::Text>()?;
    m.add_class::<messages::Binary>()?;
    m.add_class::<messages::Close>()?;
    m.add_function(wrap_pyfunction!(config::config_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(config::check_config, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
