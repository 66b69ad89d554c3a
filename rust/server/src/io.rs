//! The two tokio tasks of a connection: reader and writer.
//!
//! They are separate tasks so a peer that does not read cannot stop us from
//! reading its close frame, and a peer that floods us cannot delay our
//! writes. Both only touch the socket and [`Conn`]; all decisions (what to
//! answer, when to stop) are made by `Conn` under its lock.
//!
//! Closing follows RFC 6455 §7: the server closes TCP first. Once the close
//! exchange is over (or the connection failed), the writer flushes the last
//! frame and shuts down its half; the reader then keeps reading and discarding
//! until the peer's FIN or the close timeout, so the socket is not reset while
//! our close frame is still unread on the peer's side.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::BytesMut;
use ferrosocket_proto::{Decoder, DecoderConfig, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::conn::{Conn, Decision, Ending, Incoming};

const MIN_READ: usize = 4096;
const MAX_READ: usize = 256 << 10;

/// Run a connection whose upgrade request has been read (`leftover` holds any
/// bytes that followed it) until its socket is closed.
pub(crate) async fn drive(conn: Arc<Conn>, stream: TcpStream, leftover: BytesMut) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut writer = tokio::spawn(write_loop(conn.clone(), wr));
    let decision = poll_fn(|cx| conn.poll_decision(cx)).await;
    if decision == Decision::Accepted {
        read_loop(&conn, rd, leftover).await;
    }
    // A peer that stopped reading must not keep the writer (and the socket)
    // forever: it gets the close timeout to take our last bytes.
    let limit = conn.config().close_timeout;
    if tokio::time::timeout(limit, &mut writer).await.is_err() {
        writer.abort();
    }
    conn.on_io_done();
}

enum ReadEnd {
    /// The close handshake or a failure ended reading; linger for the FIN.
    Linger,
    /// The socket is gone (EOF, error, timeout): nothing left to wait for.
    Gone,
}

async fn read_loop(conn: &Conn, mut rd: OwnedReadHalf, mut buf: BytesMut) {
    let cfg = conn.config();
    let mut decoder = Decoder::new(DecoderConfig {
        max_frame_size: cfg.max_frame_size,
        max_message_size: cfg.max_message_size,
    });
    let mut read_size = MIN_READ;
    let end = 'outer: loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(event)) => {
                    let full = match event {
                        Event::Text(b) => conn.on_message(Incoming::Text(b)),
                        Event::Binary(b) => conn.on_message(Incoming::Binary(b)),
                        Event::Ping(p) => {
                            conn.on_ping(p);
                            false
                        }
                        Event::Pong(_) => false,
                        Event::Close(frame) => {
                            let ending = match frame {
                                Some(f) => Ending::PeerClosed(Some(f.code), f.reason),
                                None => Ending::PeerClosed(None, String::new()),
                            };
                            end_after_queue(conn, ending).await;
                            break 'outer ReadEnd::Linger;
                        }
                    };
                    if full {
                        poll_fn(|cx| conn.poll_reader_resume(cx)).await;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    end_after_queue(conn, Ending::Failed(err.close_code(), err.to_string())).await;
                    break 'outer ReadEnd::Linger;
                }
            }
        }
        if conn.is_finishing() {
            break ReadEnd::Linger;
        }
        if buf.capacity() - buf.len() < read_size / 2 {
            buf.reserve(read_size);
        }
        let result = match conn.close_deadline() {
            Some(deadline) => {
                match timeout_at(Instant::from_std(deadline), rd.read_buf(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => {
                        conn.on_abnormal();
                        break ReadEnd::Gone;
                    }
                }
            }
            None => {
                tokio::select! {
                    r = rd.read_buf(&mut buf) => r,
                    _ = poll_fn(|cx| conn.poll_closing(cx)) => continue,
                }
            }
        };
        match result {
            Ok(0) | Err(_) => {
                conn.on_abnormal();
                break ReadEnd::Gone;
            }
            Ok(n) => {
                if n >= read_size && read_size < MAX_READ {
                    read_size *= 2;
                }
            }
        }
    };
    if let ReadEnd::Linger = end {
        linger(rd, conn.config().close_timeout).await;
    }
}

/// Let the application reach a close that waits behind queued messages, for
/// at most the close timeout.
async fn end_after_queue(conn: &Conn, ending: Ending) {
    if conn.end_after_queue(ending.clone()) {
        let limit = Instant::now() + conn.config().close_timeout;
        if timeout_at(limit, poll_fn(|cx| conn.poll_closing(cx)))
            .await
            .is_err()
        {
            conn.end(ending);
        }
    }
}

/// Read and discard until the peer's FIN, at most `limit`.
async fn linger(mut rd: OwnedReadHalf, limit: std::time::Duration) {
    let deadline = Instant::now() + limit;
    let mut sink = [0u8; 4096];
    while let Ok(Ok(n)) = timeout_at(deadline, rd.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

async fn write_loop(conn: Arc<Conn>, mut wr: OwnedWriteHalf) {
    while let Some(chunk) = poll_fn(|cx| conn.poll_take_outbound(cx)).await {
        if wr.write_all(&chunk).await.is_err() {
            conn.on_abnormal();
            break;
        }
        conn.wrote(chunk);
    }
    let _ = wr.shutdown().await;
}
