//! Autobahn client-suite driver: the Rust client against `kosoku --mode
//! fuzzingserver` (or Autobahn's own fuzzingserver), echoing every case.
//!
//! ```text
//! cargo run --release -p ferrosocket --example autobahn_client -- ws://127.0.0.1:9001 [agent]
//! ```
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
                ..DeflateConfig::default()
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "ferrosocket-rust".into());
    let (mut ws, _) = connect(&format!("{base}/getCaseCount"), &config()).await?;
    let count: u32 = match ws.receive().await? {
        Message::Text(t) => t.trim().parse()?,
        other => return Err(format!("unexpected {other:?}").into()),
    };
    ws.wait_closed().await;
    for case in 1..=count {
        if let Err(e) = echo_case(&format!("{base}/runCase?case={case}&agent={agent}")).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (ws, _) = connect(&format!("{base}/updateReports?agent={agent}"), &config()).await?;
    ws.wait_closed().await;
    println!("ran {count} cases");
    Ok(())
}
