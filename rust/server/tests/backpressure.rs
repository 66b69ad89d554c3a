//! Flow control both ways. Outbound: with a small `write_high_water`, a
//! client that does not read makes `send_*` wait instead of buffering without
//! bound. Inbound: a handler that does not receive makes the reader stop
//! reading (bounded queue), so the client's writes stall on TCP.
//!
//! No assertion is about speed: a stall is detected as "no progress for a
//! while", and what is asserted is that the total was NOT reached while the
//! peer was not reading (an unbounded buffer would reach it at once), then
//! that everything arrives, intact and in order, once it reads.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrosocket::{Message, ServerConfig, WebSocket, WebSocketConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};

/// Wait until `counter` has not moved for a few polls in a row (and has
/// moved at least once), within an overall bound.
async fn wait_for_stall(counter: &AtomicUsize, what: &str) -> usize {
    within_for(Duration::from_secs(10), what, async {
        let mut last = usize::MAX;
        let mut still = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = counter.load(Ordering::SeqCst);
            if now == last && now > 0 {
                still += 1;
                if still >= 4 {
                    return now;
                }
            } else {
                still = 0;
            }
            last = now;
        }
    })
    .await
}

async fn small_buffer_client(addr: SocketAddr, recv: Option<u32>, send: Option<u32>) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv {
        socket.set_recv_buffer_size(size).unwrap();
    }
    if let Some(size) = send {
        socket.set_send_buffer_size(size).unwrap();
    }
    let stream = within("connect", socket.connect(addr)).await.unwrap();
    Raw::from_stream(stream)
}

const CHUNK: usize = 60_000; // 16-bit length form: 4-byte header
const CHUNKS: usize = 600; // 36 MB: far more than any socket buffers hold

type Flood = (
    ferrosocket::Server,
    Arc<AtomicUsize>,
    oneshot::Receiver<Result<usize, String>>,
);

/// A server whose handler sends `chunks` binary messages of CHUNK bytes of
/// 0xa5 as fast as `send_bytes` lets it, counting completed sends, then
/// reports the outcome.
async fn flood_server(websocket: WebSocketConfig, chunks: usize) -> Flood {
    let config = ServerConfig {
        websocket,
        ..ServerConfig::default()
    };
    let sent = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = oneshot::channel::<Result<usize, String>>();
    let done_tx = std::sync::Mutex::new(Some(done_tx));
    let counter = sent.clone();
    let server = serve_with(config, "/flood", move |mut ws: WebSocket| {
        let counter = counter.clone();
        let done = done_tx.lock().unwrap().take();
        async move {
            ws.accept(None).await.unwrap();
            let chunk = vec![0xa5u8; CHUNK];
            let mut result = Ok(chunks);
            for i in 0..chunks {
                if let Err(e) = ws.send_bytes(&chunk).await {
                    result = Err(format!("send {i} failed: {e}"));
                    break;
                }
                counter.store(i + 1, Ordering::SeqCst);
            }
            if let Some(done) = done {
                let _ = done.send(result);
            }
            let _ = ws.receive().await;
        }
    })
    .await;
    (server, sent, done_rx)
}

fn small_water() -> WebSocketConfig {
    WebSocketConfig {
        write_high_water: 16 << 10,
        write_low_water: 4 << 10,
        ..WebSocketConfig::default()
    }
}

/// Connect a client with a small receive buffer, upgrade, and read nothing
/// more; returns once the handler's sends have stalled.
async fn stalled_client(server: &ferrosocket::Server, sent: &AtomicUsize, chunks: usize) -> Raw {
    let mut raw = small_buffer_client(server.local_addr(), Some(8 << 10), None).await;
    raw.send(upgrade_request("/flood", RFC_KEY, "").as_bytes())
        .await;
    assert_eq!(status(&raw.read_head().await), 101);
    let stalled_at = wait_for_stall(sent, "the sender to stall").await;
    assert!(
        stalled_at < chunks,
        "all {chunks} sends of {CHUNK} bytes completed while the client read nothing: \
         the outbound buffer is unbounded"
    );
    raw
}

#[tokio::test]
async fn send_waits_while_the_client_does_not_read() {
    let (server, sent, mut done_rx) = flood_server(small_water(), CHUNKS).await;
    let mut raw = stalled_client(&server, &sent, CHUNKS).await;
    assert!(
        matches!(done_rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "the handler finished while stalled"
    );

    // Now read everything: each frame intact, all of them, and the
    // handler's sends complete.
    let reader = async {
        let mut frames = 0;
        while frames < CHUNKS {
            let f = raw.frame().await;
            assert_eq!((f.fin, f.opcode), (true, 0x2));
            assert_eq!(f.payload.len(), CHUNK);
            assert!(f.payload.iter().all(|&b| b == 0xa5));
            frames += 1;
        }
        frames
    };
    let frames = within_for(Duration::from_secs(15), "reading the flood", reader).await;
    assert_eq!(frames, CHUNKS);
    let result = within("the handler to finish sending", done_rx)
        .await
        .unwrap();
    assert_eq!(result, Ok(CHUNKS));
    assert_eq!(sent.load(Ordering::SeqCst), CHUNKS);
}

#[tokio::test]
async fn a_stalled_send_fails_when_the_client_vanishes() {
    let chunks = 200;
    let (server, sent, done_rx) = flood_server(small_water(), chunks).await;
    let raw = stalled_client(&server, &sent, chunks).await;
    drop(raw);
    let result = within("the stalled send to return", done_rx).await.unwrap();
    assert!(result.is_err(), "{result:?}");
    within("the connection to be released", async {
        while server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_stalled_send_fails_when_the_client_closes_without_reading() {
    let chunks = 200;
    let config = WebSocketConfig {
        close_timeout: Duration::from_millis(300),
        ..small_water()
    };
    let (server, sent, done_rx) = flood_server(config, chunks).await;
    let mut raw = stalled_client(&server, &sent, chunks).await;
    // The client closes but still reads nothing: our echo is stuck behind
    // megabytes of data, so only the close timeout can end this. The write
    // side being stuck must not stop the read side: the stalled send fails
    // with the code of the close frame it read.
    raw.send(&masked(true, 0x8, &close_payload(4002, "bye")))
        .await;
    let result = within("the stalled send to return", done_rx).await.unwrap();
    let err = result.expect_err("the send completed although the client read nothing");
    assert!(err.contains("4002"), "{err}");
    within("the connection to be released", async {
        while server.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn pings_to_a_stalled_connection_get_one_pong_for_the_latest() {
    let chunks = 200;
    let (server, sent, done_rx) = flood_server(small_water(), chunks).await;
    let mut raw = stalled_client(&server, &sent, chunks).await;
    let pings = 200;
    let mut wire = Vec::new();
    for i in 0..pings {
        wire.extend(masked(true, 0x9, format!("p{i}").as_bytes()));
    }
    raw.send(&wire).await;
    // Let the reader see them all while the writer is still blocked.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut pongs = Vec::new();
    let mut frames = 0;
    within_for(Duration::from_secs(15), "reading the flood", async {
        while frames < chunks {
            let f = raw.frame().await;
            match f.opcode {
                0x2 => frames += 1,
                0xa => pongs.push(String::from_utf8(f.payload).unwrap()),
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    })
    .await;
    assert_eq!(within("the handler", done_rx).await.unwrap(), Ok(chunks));
    // Whatever the writer had not taken yet is answered by one pong, for
    // the latest ping; pongs can never outnumber a handful.
    while pongs.last().map(String::as_str) != Some(&format!("p{}", pings - 1)) {
        let f = raw.frame().await;
        assert_eq!(f.opcode, 0xa, "{f:?}");
        pongs.push(String::from_utf8(f.payload).unwrap());
    }
    assert!(
        pongs.len() <= 3,
        "{} pongs for {pings} pings while the peer was not reading: {pongs:?}",
        pongs.len()
    );
}

const IN_CHUNK: usize = 32 << 10;
const IN_CHUNKS: usize = 2048; // 64 MiB

#[tokio::test]
async fn reader_stops_reading_while_the_handler_does_not_receive() {
    let config = ServerConfig {
        websocket: WebSocketConfig {
            max_queue: 4,
            max_queue_bytes: 256 << 10,
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    };
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go_rx = std::sync::Mutex::new(Some(go_rx));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve_with(config, "/sink", move |mut ws: WebSocket| {
        let go = go_rx.lock().unwrap().take();
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            if let Some(go) = go {
                let _ = go.await;
            }
            let mut count = 0usize;
            let mut in_order = true;
            while count < IN_CHUNKS {
                match ws.receive().await {
                    Ok(Message::Binary(b)) => {
                        let tag = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                        in_order &= tag == count && b.len() == IN_CHUNK;
                        count += 1;
                    }
                    _ => break,
                }
            }
            let _ = tx.send((count, in_order));
            let _ = ws.receive().await;
        }
    })
    .await;

    let mut raw = small_buffer_client(server.local_addr(), None, Some(16 << 10)).await;
    raw.send(upgrade_request("/sink", RFC_KEY, "").as_bytes())
        .await;
    assert_eq!(status(&raw.read_head().await), 101);
    let (_rd, mut wr) = raw.stream.into_split();

    let written = Arc::new(AtomicUsize::new(0));
    let progress = written.clone();
    let writer = tokio::spawn(async move {
        for i in 0..IN_CHUNKS {
            let mut payload = vec![0u8; IN_CHUNK];
            payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
            // A zero mask key keeps the payload as is (and is still masked).
            let frame = frame_bytes(true, 0x2, &payload, Some([0; 4]));
            wr.write_all(&frame).await.unwrap();
            progress.store(i + 1, Ordering::SeqCst);
        }
        wr
    });

    let stalled_at = wait_for_stall(&written, "the client's writes to stall").await;
    assert!(
        stalled_at < IN_CHUNKS,
        "the server took all {IN_CHUNKS} messages while the handler received none: \
         the inbound queue is unbounded"
    );
    assert!(rx.try_recv().is_err());

    go_tx.send(()).unwrap();
    let (count, in_order) = within_for(Duration::from_secs(15), "the handler", rx.recv())
        .await
        .unwrap();
    assert_eq!(count, IN_CHUNKS);
    assert!(in_order, "messages arrived out of order or resized");
    within("the writer", writer).await.unwrap();
}
