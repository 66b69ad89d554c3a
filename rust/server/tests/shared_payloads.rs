//! `receive_shared` and `send_binary`: messages whose payloads are shared
//! with the engine instead of copied. The client reads nothing until the
//! server has sent everything, so the large messages wait in the outbound
//! queue by reference; what arrives must be exactly what was sent, in order,
//! with and without permessage-deflate.

mod common;

use common::{serve, serve_with, within};
use ferrosocket::proto::DeflateConfig;
use ferrosocket::{
    connect, Bytes, ClientConfig, CloseCode, ServerConfig, SharedMessage, WebSocketConfig,
};

const BIG: usize = 1 << 20;
const COUNT: usize = 8;

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn limits() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: 2 << 20,
        max_frame_size: 2 << 20,
        ..WebSocketConfig::default()
    }
}

/// Echo through the shared API: every binary message is sent back as the
/// `Bytes` it arrived in, text through `as_text`.
async fn shared_echo(mut ws: ferrosocket::WebSocket) {
    ws.accept(None).await.unwrap();
    loop {
        match ws.receive_shared().await {
            Ok(SharedMessage::Binary(data)) => ws.send_binary(data).await.unwrap(),
            Ok(msg @ SharedMessage::Text(_)) => ws.send_text(msg.as_text().unwrap()).await.unwrap(),
            Ok(SharedMessage::Close(..)) | Err(_) => break,
        }
    }
}

async fn run_echo(server_config: ServerConfig, deflate: bool) {
    let server = serve_with(server_config, "/", shared_echo).await;
    let mut client_ws = limits();
    client_ws.deflate = DeflateConfig {
        enabled: deflate,
        ..DeflateConfig::default()
    };
    let config = ClientConfig {
        websocket: client_ws,
        ..ClientConfig::default()
    };
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, handshake) = within("connect", connect(&url, &config)).await.unwrap();
    assert_eq!(!handshake.extensions.is_empty(), deflate);
    // Around the size from which sends are queued by reference.
    let sizes = [
        ferrosocket::LARGE_MESSAGE - 1,
        ferrosocket::LARGE_MESSAGE,
        ferrosocket::LARGE_MESSAGE + 1,
    ];
    let mut sent: Vec<Vec<u8>> = (0..COUNT).map(|i| payload(i as u8, BIG)).collect();
    sent.extend(sizes.iter().map(|&n| payload(0x5a, n)));
    for p in &sent {
        ws.send_bytes(p).await.unwrap();
    }
    ws.send_text("end ✓").await.unwrap();
    for (i, p) in sent.iter().enumerate() {
        let got = within("echo", ws.receive_bytes()).await.unwrap();
        assert!(got == *p, "message {i} ({} bytes) changed", p.len());
    }
    assert_eq!(within("text", ws.receive_text()).await.unwrap(), "end ✓");
    ws.close(CloseCode::Normal, None).await.unwrap();
}

#[tokio::test]
async fn shared_echo_returns_large_messages_intact() {
    let config = ServerConfig {
        websocket: WebSocketConfig {
            deflate: DeflateConfig {
                enabled: false,
                ..DeflateConfig::default()
            },
            ..limits()
        },
        ..ServerConfig::default()
    };
    run_echo(config, false).await;
}

#[tokio::test]
async fn shared_echo_returns_large_messages_intact_compressed() {
    let config = ServerConfig {
        websocket: limits(),
        ..ServerConfig::default()
    };
    run_echo(config, true).await;
}

/// One `Bytes` queued many times over (by reference each time) before the
/// peer reads: every copy on the wire is whole.
#[tokio::test]
async fn one_payload_queued_many_times() {
    let shared = Bytes::from(payload(7, BIG));
    let probe = shared.clone();
    let server = serve("/", move |mut ws| {
        let shared = shared.clone();
        async move {
            ws.accept(None).await.unwrap();
            for _ in 0..COUNT {
                ws.send_binary(shared.clone()).await.unwrap();
            }
            let _ = ws.receive_shared().await;
        }
    })
    .await;
    let config = ClientConfig {
        websocket: limits(),
        ..ClientConfig::default()
    };
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, _) = within("connect", connect(&url, &config)).await.unwrap();
    for i in 0..COUNT {
        let got = within("message", ws.receive_bytes()).await.unwrap();
        assert!(got == probe, "copy {i} changed");
    }
    ws.close(CloseCode::Normal, None).await.unwrap();
}
