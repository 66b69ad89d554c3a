//! Echo server: text comes back as text, binary as binary, on every path.
//!
//! Used by the Autobahn conformance run and as the "engine with no Python"
//! line of the benchmarks:
//!
//! ```text
//! cargo run --release -p ferrosocket --example echo -- --host 127.0.0.1 --port 9001 \
//!     [--threads N] [--no-deflate] [--deflate-threshold BYTES] [--ping-interval SECONDS]
//! ```
//!
//! `--ping-interval 0` turns keepalive off, as the conformance run needs: an
//! Autobahn case that runs past the interval on a busy machine would see our
//! ping and fail.

use ferrosocket::{Router, ServerConfig, SharedMessage, WebSocket, WebSocketConfig};

/// Messages are received and sent back as shared `Bytes`: a binary echo
/// copies nothing (the payload is the read buffer's, written straight from
/// there), where `receive()` / `send_bytes()` would copy it into a `Vec` and,
/// when the socket is busy, into the outbound queue.
async fn echo(mut ws: WebSocket) {
    if ws.accept(None).await.is_err() {
        return;
    }
    while let Ok(msg) = ws.receive_shared().await {
        let sent = match msg {
            SharedMessage::Text(_) => match msg.as_text() {
                Some(text) => ws.send_text(text).await,
                None => break,
            },
            SharedMessage::Binary(data) => ws.send_binary(data).await,
            SharedMessage::Close(..) => break,
        };
        if sent.is_err() {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = 9001u16;
    let mut threads = 1usize;
    let mut deflate = ferrosocket::proto::DeflateConfig::default();
    let mut ping_interval = WebSocketConfig::default().ping_interval;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--host" => host = value(),
            "--port" => port = value().parse().unwrap_or(port),
            "--threads" => threads = value().parse().unwrap_or(threads),
            "--no-deflate" => deflate.enabled = false,
            "--deflate-threshold" => {
                deflate.threshold = value().parse().unwrap_or(deflate.threshold)
            }
            "--ping-interval" => {
                let seconds: f64 = value().parse().unwrap_or(-1.0);
                if !(seconds >= 0.0 && seconds.is_finite()) {
                    eprintln!("--ping-interval takes seconds (0 turns keepalive off)");
                    std::process::exit(2);
                }
                ping_interval =
                    (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds));
            }
            other => {
                eprintln!("usage: echo [--host H] [--port P] [--threads N] [--no-deflate] [--deflate-threshold B] [--ping-interval S] (unknown {other:?})");
                std::process::exit(2);
            }
        }
    }
    let config = ServerConfig {
        websocket: WebSocketConfig {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            deflate,
            ping_interval,
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = Router::new()
            .fallback(echo)
            .config(config)
            .bind((host.as_str(), port))
            .await?;
        println!("echo listening on ws://{}", server.local_addr());
        std::future::pending::<std::io::Result<()>>().await
    })
}
