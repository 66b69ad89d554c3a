//! `ferrosocket._native`: the PyO3 binding of the ferrosocket engine.
//!
//! Threads: the tokio runtime's worker threads own every socket, decode and
//! encode frames, answer pings and close handshakes, and never touch Python.
//! The asyncio thread runs the handlers; it reads and writes the per-connection
//! state directly (`Connection.recv()`, `send_text()`, …) and is woken through
//! one descriptor per server when it must wait (`Hub.drain`). See
//! `signal.rs`, `hub.rs` and `connection.rs` for each half of the handoff.

mod connection;
mod errors;
mod hub;
mod messages;
mod server;
mod signal;

use pyo3::prelude::*;

/// The engine's allocator. Large messages allocate and free megabyte buffers
/// at message rate; the system allocator hands them back to the kernel each
/// time, and in the 1 MiB stream benchmark page faults took a quarter of the
/// server's CPU. mimalloc keeps freed segments for reuse. Only Rust
/// allocations use it; Python's objects keep Python's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connection::Connection>()?;
    m.add_class::<hub::Hub>()?;
    m.add_class::<server::NativeServer>()?;
    m.add_class::<messages::Text>()?;
    m.add_class::<messages::Binary>()?;
    m.add_class::<messages::Close>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
