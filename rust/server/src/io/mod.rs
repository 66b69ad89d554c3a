//! One tokio task per connection, with a read side and a write side.
//!
//! The two sides are two futures that the connection's task polls each time
//! it is woken, the write side first ([`both_sides`]). Each keeps its own
//! progress and waits on its own readiness (a socket's read and write
//! interests are separate wake-ups in tokio), so a peer that does not read
//! blocks only the write side and we still read its close frame, and a peer
//! that floods us cannot hold back our writes for more than one poll of the
//! read side, which is bounded by tokio's cooperative budget and by the
//! inbound queue (a full queue pauses reading). They used to be two tasks;
//! one task gives the same two guarantees without a second task's header,
//! scheduler links, join handle and `Arc` per connection, and a wake-up of
//! either side costs one task poll. Both only touch the socket and
//! [`Conn`]; all decisions (what to answer, when to stop) are made by `Conn`
//! under its lock. They are generic over the stream's halves, so plain TCP
//! (split without a lock), TLS and Unix sockets, and the client role, share
//! one implementation.
//!
//! The read side also owns the connection's timers: keepalive pings (a peer
//! that stops answering is closed with 1011), the optional idle timeout, and
//! the close timeout once a close frame is out.
//!
//! Memory per idle connection is what a server with many connections pays
//! for most, so nothing is held for a connection that does not need it: a
//! plain TCP reader holds no buffer until the socket is first readable, and
//! drops its empty buffer when a timer (keepalive, idle) finds it quiet.
//! Rarely used futures (vectored writes of shared frames, lingering after
//! close, the close timers, the handshake's) and state that only some
//! connections need (a compressed one's inflater and deflater, a client's
//! masking keys) are boxed, since a task is as large as its largest state
//! and keeps that room for life.
//!
//! Reads grow with the stream (see `MAX_READ`), and a read that filled its
//! room and delivered messages is followed by one yield of the task before
//! the next read: a peer that keeps the socket full would otherwise be read
//! until the inbound queue is full (16 MiB by default) before the
//! application ran at all. With the yield the application takes each read's
//! messages while they are still in the cache, and their buffers come back
//! to the decoder for the next reads (in the loop-thread mode the yield is
//! what hands the thread to Python). Measured on a stream of 1 MiB
//! messages: 17% less server CPU per MiB.
//!
//! The writer takes everything queued in one go. The connection's own frames
//! are one contiguous buffer, written with plain writes; once published
//! messages are queued (shared frames, see `crate::topics`), the batch is a
//! list of buffers written where they are with vectored writes (at most 64
//! per `writev`), so a frame shared by 10,000 subscribers is never copied.
//!
//! Closing follows RFC 6455 §7: the server closes TCP first. Once the close
//! exchange is over (or the connection failed), the write side flushes the
//! last frame and shuts down its half; the read side then keeps reading and
//! discarding until the peer's FIN or the close timeout, so the socket is not
//! reset while our close frame is still unread on the peer's side. A write
//! side still stuck on a peer that does not read gets the close timeout from
//! the end of reading, then is dropped with its bytes. In the client role
//! (RFC 6455 §7.1.1) the write side keeps its half open instead: the read
//! side waits for the server's FIN (or the close timeout), and only then is
//! ours sent.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{
    encode_compressed, Decoder, DecoderConfig, Deflater, Event, Inflater, MaskKeys, Role,
};
use futures_util::FutureExt;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant, Sleep};

use ferrosocket_proto::session::Ending;

use crate::conn::{frame, Conn, Decision, Incoming, OutItem, Outbound};

mod transport;

pub(crate) use transport::{ReadHalf, Transport, WriteHalf};

#[cfg(test)]
mod panic_tests;

/// Reads start at `MIN_READ` and double while each one fills its room, up to
/// `MAX_READ`; the decoder is told the current size, so a frame read in place
/// keeps the reads that large (a stream of 64 KiB messages is then read about
/// sixteen frames per system call instead of two). A quiet timer resets it.
const MIN_READ: usize = 1024;
const MAX_READ: usize = 1 << 20;

/// Run a connection whose upgrade request has been read (`leftover` holds
/// any bytes that followed it) until its socket is closed.
///
/// The read side and the write side are two futures polled by this one task
/// (see the module docs): each wake-up polls both, the write side first, so
/// each keeps its own progress and neither waits for the other.
pub(crate) async fn drive<T: Transport>(conn: Arc<Conn>, stream: T, leftover: BytesMut) {
    let (rd, wr, direct) = stream.halves();
    if let Some(socket) = direct {
        conn.set_direct(socket);
    }
    let limit = conn.config().close_timeout;
    let sides = async {
        let reader = pin!(async {
            if poll_fn(|cx| conn.poll_decision(cx)).await == Decision::Accepted {
                read_loop(&conn, rd, leftover).await;
            }
        });
        let writer = pin!(write_loop(&conn, wr));
        both_sides(reader, writer, limit).await
    };
    // A panic on either side is a bug of ours, and the panic hook has
    // printed it; it ends this connection alone. Without the catch the task
    // would end with the connection still open to its handler and its
    // server: receives, sends and `wait_closed` waiting for ever, the server
    // counting it until its shutdown grace ran out.
    let kept = match AssertUnwindSafe(sides).catch_unwind().await {
        Ok(kept) => kept,
        Err(_) => {
            conn.abort_after_panic();
            None
        }
    };
    // A client's FIN goes out only now, after the server's (or the timeout).
    // Boxed: only the client role gets here, once.
    if let Some(mut wr) = kept {
        let _ = Box::pin(timeout(limit, wr.shutdown())).await;
    }
    conn.on_io_done();
}

/// Poll the read side and the write side of a connection, the write side
/// first, until both are done; once reading is over, a peer that stopped
/// reading gets `limit` to take our last bytes, and the writer is then
/// dropped with them. Returns the write half the writer kept open.
async fn both_sides<W>(
    mut reader: Pin<&mut impl Future<Output = ()>>,
    mut writer: Pin<&mut impl Future<Output = Option<W>>>,
    limit: std::time::Duration,
) -> Option<W> {
    let (mut read_done, mut kept) = (false, None);
    // Boxed: only a closing connection needs this timer.
    let mut stall: Option<Pin<Box<Sleep>>> = None;
    poll_fn(|cx| {
        if kept.is_none() {
            if let Poll::Ready(wr) = writer.as_mut().poll(cx) {
                kept = Some(wr);
            }
        }
        if !read_done && reader.as_mut().poll(cx).is_ready() {
            read_done = true;
        }
        match (read_done, kept.is_some()) {
            (false, _) => Poll::Pending,
            (true, true) => Poll::Ready(()),
            (true, false) => stall
                .get_or_insert_with(|| Box::pin(sleep(limit)))
                .as_mut()
                .poll(cx),
        }
    })
    .await;
    kept.flatten()
}

enum ReadEnd {
    /// The close handshake or a failure ended reading; linger for the FIN.
    Linger,
    /// The socket is gone (EOF, error, timeout): nothing left to wait for.
    Gone,
}

/// What interrupted a read.
enum Wake {
    Read(std::io::Result<usize>),
    Resume,
    Closing,
    Timer,
}

async fn read_loop<R: ReadHalf>(conn: &Conn, mut rd: R, mut buf: BytesMut) {
    let cfg = conn.config();
    let limits = DecoderConfig {
        // A frame cannot be larger than the message it belongs to, so a
        // lowered max_message_size bounds buffered frames too.
        max_frame_size: cfg.max_frame_size.min(cfg.max_message_size),
        max_message_size: cfg.max_message_size,
    };
    let mut decoder = match conn.deflate_params() {
        Some(params) => Decoder::with_deflate(limits, Inflater::new(params)),
        None => Decoder::new(limits),
    }
    .with_role(conn.role());
    let mut read_size = MIN_READ;
    // Idle means no data message: pings and pongs (our own keepalive's
    // answers included) do not keep a connection alive.
    let mut last_data = Instant::now();
    let mut last_ping = Instant::now();
    // The inbound queue is full: stop reading (TCP flow control reaches the
    // client) but keep the timers running.
    let mut paused = false;
    // A connection that has sent nothing yet holds no read buffer (the
    // handshake's is dropped here); an active one keeps its buffer between
    // messages, and drops it when a timer finds it quiet.
    if R::READINESS && buf.is_empty() {
        buf = BytesMut::new();
    }
    // The last read filled its room: the socket likely has more.
    let mut filled = false;
    let end = 'outer: loop {
        decoder.set_read_ahead(read_size);
        let mut delivered = false;
        while !paused {
            match decoder.decode(&mut buf) {
                Ok(Some(event)) => match event {
                    Event::Text(b) => {
                        last_data = Instant::now();
                        delivered = true;
                        paused = conn.on_message(Incoming::Text(b));
                    }
                    Event::Binary(b) => {
                        last_data = Instant::now();
                        delivered = true;
                        paused = conn.on_message(Incoming::Binary(b));
                    }
                    Event::Ping(p) => conn.on_ping(p),
                    Event::Pong(p) => conn.on_pong(&p),
                    Event::Close(frame) => {
                        let ending = match frame {
                            Some(f) => Ending::PeerClosed(Some(f.code), f.reason),
                            None => Ending::PeerClosed(None, String::new()),
                        };
                        // Boxed, like `linger`: a connection ends once.
                        Box::pin(end_after_queue(conn, ending)).await;
                        break 'outer ReadEnd::Linger;
                    }
                },
                Ok(None) => break,
                Err(err) => {
                    let ending = Ending::Failed(err.close_code(), err.to_string());
                    Box::pin(end_after_queue(conn, ending)).await;
                    break 'outer ReadEnd::Linger;
                }
            }
        }
        if conn.is_finishing() {
            break ReadEnd::Linger;
        }
        // A stream that keeps the socket full: let the application take
        // what this read delivered before reading more (see the module docs).
        if delivered && filled && !paused {
            tokio::task::yield_now().await;
        }
        // A frame read in place has its buffer reserved by the decoder;
        // growing it here would copy the frame. A released buffer
        // (capacity 0) is allocated by `read_some` once the socket is
        // readable.
        if !paused
            && buf.capacity() != 0
            && decoder.in_place_missing(&buf) == 0
            && buf.capacity() - buf.len() < read_size / 2
        {
            decoder.reserve_for_read(&mut buf, read_size);
        }
        // The next timer: the close timeout once our close is out, else the
        // keepalive ping (or its timeout) and the idle timeout.
        let close_deadline = conn.close_deadline().map(Instant::from_std);
        let timer = match close_deadline {
            Some(deadline) => Some(deadline),
            None => {
                let ping = match (conn.ping_outstanding(), cfg.ping_interval, cfg.ping_timeout) {
                    (Some(sent), _, Some(t)) => Some(Instant::from_std(sent) + t),
                    (None, Some(interval), _) => Some(last_ping + interval),
                    _ => None,
                };
                let idle = cfg.idle_timeout.filter(|_| !paused).map(|t| last_data + t);
                match (ping, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        let wake = tokio::select! {
            _ = poll_fn(|cx| conn.poll_aborted(cx)) => break ReadEnd::Gone,
            r = read_some(&mut rd, &mut buf), if !paused => Wake::Read(r),
            _ = poll_fn(|cx| conn.poll_reader_resume(cx)), if paused => Wake::Resume,
            _ = poll_fn(|cx| conn.poll_closing(cx)), if close_deadline.is_none() && !paused => Wake::Closing,
            _ = sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => Wake::Timer,
        };
        match wake {
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) => {
                conn.on_abnormal();
                break ReadEnd::Gone;
            }
            Wake::Read(Ok(n)) => {
                filled = n >= read_size;
                if filled && read_size < MAX_READ {
                    read_size *= 2;
                }
            }
            Wake::Resume => {
                paused = false;
                last_data = Instant::now();
            }
            Wake::Closing => {}
            Wake::Timer => {
                if R::READINESS && buf.is_empty() {
                    // Quiet since the last timer: drop what a burst left.
                    buf = BytesMut::new();
                    read_size = MIN_READ;
                    decoder.release_spares();
                }
                let now = Instant::now();
                if close_deadline.is_some_and(|d| now >= d) {
                    conn.on_abnormal();
                    break ReadEnd::Gone;
                }
                if !paused && cfg.idle_timeout.is_some_and(|t| now >= last_data + t) {
                    let _ = conn.close(1001, "idle timeout");
                    continue;
                }
                match (conn.ping_outstanding(), cfg.ping_timeout) {
                    (Some(sent), Some(t)) if now >= Instant::from_std(sent) + t => {
                        conn.abandon(1011, "keepalive ping timeout");
                        break ReadEnd::Gone;
                    }
                    (None, _) if cfg.ping_interval.is_some_and(|i| now >= last_ping + i) => {
                        conn.send_keepalive_ping();
                        last_ping = now;
                    }
                    _ => {}
                }
            }
        }
    };
    if let ReadEnd::Linger = end {
        // Boxed, like the writer's vectored writes: only a closing
        // connection needs its buffer and timer.
        tokio::select! {
            _ = Box::pin(linger(rd, conn.config().close_timeout)) => {}
            _ = poll_fn(|cx| conn.poll_aborted(cx)) => {}
        }
    }
}

/// Read into `buf`; a buffer released between bursts (capacity 0) is
/// allocated only once the socket is readable.
async fn read_some<R: ReadHalf>(rd: &mut R, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() == 0 {
        rd.wait_readable().await?;
        buf.reserve(MIN_READ);
    }
    rd.read_into(buf).await
}

/// Let the application reach a close that waits behind queued messages, for
/// at most the close timeout.
async fn end_after_queue(conn: &Conn, ending: Ending) {
    if conn.on_ending(ending) {
        let limit = Instant::now() + conn.config().close_timeout;
        if timeout_at(limit, poll_fn(|cx| conn.poll_closing(cx)))
            .await
            .is_err()
        {
            conn.drain_timed_out();
        }
    }
}

/// Read and discard until the peer's FIN, at most `limit`.
async fn linger<R: ReadHalf>(mut rd: R, limit: std::time::Duration) {
    let deadline = Instant::now() + limit;
    let mut sink = BytesMut::with_capacity(4096);
    while let Ok(Ok(n)) = timeout_at(deadline, rd.read_into(&mut sink)).await {
        if n == 0 {
            break;
        }
        sink.clear();
    }
}

/// Write until the connection is finished. Returns the write half still
/// open in the client role, whose FIN waits for the server's.
async fn write_loop<W: WriteHalf>(conn: &Conn, mut wr: W) -> Option<W> {
    let stall = conn.config().write_timeout;
    // Boxed, like the decoder's inflater: a server connection without
    // compression needs neither, and a task keeps the room of what it holds.
    let mut deflater: Option<Box<Deflater>> = None;
    let mut masks = (conn.role() == Role::Client).then(|| Box::new(MaskKeys::new()));
    let mut segments: Vec<Bytes> = Vec::new();
    'chunks: while let Some(Outbound { chunks, raw, items }) =
        poll_fn(|cx| conn.poll_take_outbound(cx)).await
    {
        let written = if chunks.is_empty() && items.iter().all(|i| !matches!(i, OutItem::Shared(_)))
        {
            // One contiguous buffer: the connection's own frames, and on a
            // compressed connection the messages it deflates here, on the
            // write side, after the bytes that were already encoded.
            let chunk = if items.is_empty() {
                raw
            } else {
                let mut chunk = raw;
                for item in items {
                    encode_item(conn, &mut deflater, &mut masks, &mut chunk, item);
                }
                chunk
            };
            let mut written = 0;
            while written < chunk.len() {
                match timeout(stall, wr.write_some(&chunk[written..])).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        conn.on_abnormal();
                        break 'chunks;
                    }
                    Ok(Ok(n)) => written += n,
                    Err(_) => {
                        // The peer has not taken a byte for `write_timeout`.
                        conn.abandon(1008, "peer stopped reading");
                        break 'chunks;
                    }
                }
            }
            written
        } else {
            // Shared frames (published messages) are written where they
            // are, between the connection's own bytes: one vectored write.
            segments.extend(chunks);
            let mut own = raw;
            for item in items {
                if let OutItem::Shared(frame) = item {
                    if !own.is_empty() {
                        segments.push(own.split().freeze());
                    }
                    segments.push(frame);
                } else {
                    encode_item(conn, &mut deflater, &mut masks, &mut own, item);
                }
            }
            if !own.is_empty() {
                segments.push(own.freeze());
            }
            // Boxed: its array of 64 `IoSlice`s would otherwise be room
            // kept in every connection's task, idle or not.
            let result = Box::pin(write_segments(&mut wr, &segments, stall)).await;
            segments.clear();
            match result {
                Ok(n) => n,
                Err(Stall::Gone) => {
                    conn.on_abnormal();
                    break 'chunks;
                }
                Err(Stall::Timeout) => {
                    conn.abandon(1008, "peer stopped reading");
                    break 'chunks;
                }
            }
        };
        // TLS keeps records in its own buffer until flushed (TCP's flush is
        // free): the flush is where a TLS peer that stopped reading stalls us.
        match timeout(stall, wr.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                conn.on_abnormal();
                break;
            }
            Err(_) => {
                conn.abandon(1008, "peer stopped reading");
                break;
            }
        }
        conn.wrote(written);
    }
    if conn.role() == Role::Client {
        return Some(wr);
    }
    let _ = wr.shutdown().await;
    None
}

/// Encode one queued item on the write side; `masks` is `Some` in the
/// client role, where every frame is masked with a fresh key.
fn encode_item(
    conn: &Conn,
    deflater: &mut Option<Box<Deflater>>,
    masks: &mut Option<Box<MaskKeys>>,
    dst: &mut BytesMut,
    item: OutItem,
) {
    let mask = masks.as_deref_mut().map(MaskKeys::next_key);
    match item {
        OutItem::Raw(frame) => dst.extend_from_slice(&frame),
        OutItem::Shared(frame) => dst.extend_from_slice(&frame),
        OutItem::Message {
            opcode,
            payload,
            compress: true,
        } => {
            let deflate = &conn.config().deflate;
            let deflater = deflater.get_or_insert_with(|| {
                Box::new(deflate.deflater(conn.deflate_params().unwrap_or_default()))
            });
            encode_compressed(dst, deflater, opcode, &payload, mask);
        }
        OutItem::Message {
            opcode, payload, ..
        } => frame(dst, opcode, &payload, mask),
    }
}

enum Stall {
    Gone,
    Timeout,
}

/// Most buffers handed to one `writev` (Linux allows 1024).
const MAX_IOV: usize = 64;

/// Write every byte of `segments` with vectored writes; returns the total.
async fn write_segments<W: WriteHalf>(
    wr: &mut W,
    segments: &[Bytes],
    stall: std::time::Duration,
) -> Result<usize, Stall> {
    let (mut index, mut offset, mut total) = (0, 0, 0);
    while index < segments.len() {
        if segments[index].len() == offset {
            index += 1;
            offset = 0;
            continue;
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for (i, seg) in segments[index..].iter().take(MAX_IOV).enumerate() {
            slices[i] = IoSlice::new(if i == 0 { &seg[offset..] } else { seg });
            count += 1;
        }
        let mut n = match timeout(stall, wr.write_vectored_some(&slices[..count])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(Stall::Gone),
            Ok(Ok(n)) => n,
            Err(_) => return Err(Stall::Timeout),
        };
        total += n;
        while n > 0 {
            let left = segments[index].len() - offset;
            if n >= left {
                n -= left;
                index += 1;
                offset = 0;
            } else {
                offset += n;
                n = 0;
            }
        }
    }
    Ok(total)
}
