//! Autobahn client-suite driver: the Rust client against `kosoku --mode
//! fuzzingserver` (or Autobahn's own fuzzingserver), echoing every case.
//!
//! ```text
//! cargo run --release -p ferrosocket --example autobahn_client -- ws://127.0.0.1:9001 [agent] [parallel]
//! ```
//!
//! `parallel` cases (default 1) run at once, each on its own connection, as
//! the server suite runs with `kosoku -p`: the fuzzingserver serves every
//! `runCase` connection on its own, and the suite's wall time is mostly
//! waiting (timeouts, large echoes), so a few at once cut it several-fold.
//! Each of the `parallel` workers is an OS thread with its own
//! single-threaded runtime, as the Python driver uses one process per
//! worker: on one shared runtime a short-timeout case (12.4.1: 1,000 small
//! round trips in 60 s) waits behind its neighbours' compression of
//! 128 KiB messages at each round trip, and on a busy machine it ran out
//! of time; OS threads share the CPU between the cases by time slice.
//!
//! Keepalive is off (an unexpected ping would fail a case, as for the
//! server run) and the limits are raised past the suite's largest message
//! (16 MiB in 9.1.6/9.2.6).
//!
//! The permessage-deflate offer is the one Autobahn's own client testee
//! makes, `client_no_context_takeover; client_max_window_bits`: the
//! fuzzingserver's 13.x cases only accept an offer that lets them answer
//! with the client parameters the case is about (13.2/13.5/13.6 ask for
//! `client_no_context_takeover`, 13.3-13.6 for a `client_max_window_bits`
//! of 9 or 15), and decline compression otherwise, which the case reports
//! as UNIMPLEMENTED.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ferrosocket::proto::DeflateConfig;
use ferrosocket::{connect, ClientConfig, Message, WebSocketConfig};

fn config() -> ClientConfig {
    ClientConfig {
        websocket: WebSocketConfig {
            ping_interval: None,
            ping_timeout: None,
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            max_queue_bytes: 64 << 20,
            deflate: DeflateConfig {
                client_no_context_takeover: true,
                ..DeflateConfig::client()
            },
            ..WebSocketConfig::default()
        },
        ..ClientConfig::default()
    }
}

async fn echo_case(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (mut ws, _) = connect(url, &config()).await?;
    while let Ok(msg) = ws.receive().await {
        let sent = match msg {
            Message::Text(text) => ws.send_text(&text).await,
            Message::Binary(data) => ws.send_bytes(&data).await,
            _ => break,
        };
        if sent.is_err() {
            break;
        }
    }
    ws.wait_closed().await;
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs cases `next..=count` one after another on this thread's runtime.
fn worker(base: &str, agent: &str, next: &AtomicU32, count: u32) -> std::io::Result<()> {
    runtime()?.block_on(async {
        loop {
            let case = next.fetch_add(1, Ordering::Relaxed);
            if case > count {
                break;
            }
            let url = format!("{base}/runCase?case={case}&agent={agent}");
            if let Err(e) = echo_case(&url).await {
                eprintln!("case {case}: {e}");
            }
        }
    });
    Ok(())
}

async fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let (mut ws, _) = connect(&format!("{base}/getCaseCount"), &config()).await?;
    let count = match ws.receive().await? {
        Message::Text(t) => t.trim().parse()?,
        other => return Err(format!("unexpected {other:?}").into()),
    };
    ws.wait_closed().await;
    Ok(count)
}

async fn update_reports(base: &str, agent: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (ws, _) = connect(&format!("{base}/updateReports?agent={agent}"), &config()).await?;
    ws.wait_closed().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "ferrosocket-rust".into());
    let parallel: u32 = args.next().map_or(Ok(1), |p| p.parse())?;
    let count = runtime()?.block_on(case_count(&base))?;
    let next = Arc::new(AtomicU32::new(1));
    let workers: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let (next, base, agent) = (next.clone(), base.clone(), agent.clone());
            std::thread::spawn(move || worker(&base, &agent, &next, count))
        })
        .collect();
    for handle in workers {
        handle.join().map_err(|_| "a worker panicked")??;
    }
    runtime()?.block_on(update_reports(&base, &agent))?;
    println!("ran {count} cases");
    Ok(())
}
