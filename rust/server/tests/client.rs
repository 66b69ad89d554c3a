//! The Rust client (`ferrosocket::connect`) against our own server and
//! against tokio-tungstenite's: messages both ways, subprotocol and headers,
//! a configured permessage-deflate offer, close codes, refusals and an open
//! timeout. The Autobahn client suite (scripts/conformance.py) covers the
//! protocol corners; these pin the API.

mod common;

use std::time::Duration;

use common::{echo, serve, within};
use ferrosocket::proto::DeflateConfig;
use ferrosocket::{connect, ClientConfig, CloseCode, ConnectError, Message, WebSocketConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn big() -> Vec<u8> {
    (0..1 << 20).map(|i| (i % 251) as u8).collect()
}

fn config_for_1mib() -> ClientConfig {
    ClientConfig {
        websocket: WebSocketConfig {
            max_message_size: 2 << 20,
            max_frame_size: 2 << 20,
            ..WebSocketConfig::default()
        },
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn our_server_text_binary_subprotocol_and_server_close_code() {
    let server = serve("/chat", |mut ws| async move {
        let chosen = ws.request().subprotocols().last().cloned();
        ws.accept(chosen.as_deref()).await.unwrap();
        let text = ws.receive_text().await.unwrap();
        ws.send_text(&text).await.unwrap();
        let data = ws.receive_bytes().await.unwrap();
        ws.send_bytes(&data).await.unwrap();
        ws.close(CloseCode::Other(4001), Some("done"))
            .await
            .unwrap();
    })
    .await;
    let config = ClientConfig {
        subprotocols: vec!["a".into(), "b".into()],
        ..config_for_1mib()
    };
    let url = format!("ws://{}/chat", server.local_addr());
    let (mut ws, handshake) = within("connect", connect(&url, &config)).await.unwrap();
    assert_eq!(handshake.subprotocol.as_deref(), Some("b"));
    assert!(handshake.extensions[0].starts_with("permessage-deflate"));
    ws.send_text("héllo").await.unwrap();
    assert_eq!(within("text", ws.receive_text()).await.unwrap(), "héllo");
    ws.send_bytes(&big()).await.unwrap();
    assert_eq!(within("bytes", ws.receive_bytes()).await.unwrap(), big());
    match within("close", ws.receive()).await {
        Ok(Message::Close(CloseCode::Other(4001), reason)) => assert_eq!(reason, "done"),
        other => panic!("expected Close(4001), got {other:?}"),
    }
}

#[tokio::test]
async fn a_configured_deflate_offer_bounds_what_is_agreed() {
    let server = serve("/", echo).await;
    let config = ClientConfig {
        websocket: WebSocketConfig {
            deflate: DeflateConfig {
                client_max_window_bits: 10,
                server_max_window_bits: 11,
                client_no_context_takeover: true,
                ..DeflateConfig::default()
            },
            ..config_for_1mib().websocket
        },
        ..ClientConfig::default()
    };
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, handshake) = within("connect", connect(&url, &config)).await.unwrap();
    let agreed = &handshake.extensions[0];
    for param in [
        "server_max_window_bits=11",
        "client_max_window_bits=10",
        "client_no_context_takeover",
    ] {
        assert!(agreed.contains(param), "{param} not in {agreed}");
    }
    let text = "ferrosocket ".repeat(40_000);
    for _ in 0..3 {
        ws.send_text(&text).await.unwrap();
        assert_eq!(within("echo", ws.receive_text()).await.unwrap(), text);
    }
}

#[tokio::test]
async fn tungstenite_server_echo_and_client_close_code() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let mut close = None;
        while let Some(Ok(msg)) = ws.next().await {
            match msg {
                WsMessage::Text(_) | WsMessage::Binary(_) => ws.send(msg).await.unwrap(),
                WsMessage::Close(frame) => {
                    close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    break;
                }
                _ => {}
            }
        }
        close
    });
    let url = format!("ws://{addr}/");
    let (mut ws, handshake) = within("connect", connect(&url, &config_for_1mib()))
        .await
        .unwrap();
    assert!(
        handshake.extensions.is_empty(),
        "tungstenite has no deflate"
    );
    ws.send_text("to tungstenite").await.unwrap();
    assert_eq!(
        within("text", ws.receive_text()).await.unwrap(),
        "to tungstenite"
    );
    ws.send_bytes(&big()).await.unwrap();
    assert_eq!(within("bytes", ws.receive_bytes()).await.unwrap(), big());
    ws.close(CloseCode::Other(4100), Some("bye")).await.unwrap();
    let close = within("peer", peer).await.unwrap();
    assert_eq!(close, Some((4100, "bye".to_owned())));
}

#[tokio::test]
async fn a_refusal_carries_status_and_body_and_a_silent_server_times_out() {
    let server = serve("/private", |mut ws| async move {
        ws.reject(403, b"members only").await.unwrap();
    })
    .await;
    let url = format!("ws://{}/private", server.local_addr());
    match within("connect", connect(&url, &ClientConfig::default())).await {
        Err(ConnectError::Refused { status, body, .. }) => {
            assert_eq!((status, body.as_slice()), (403, &b"members only"[..]))
        }
        other => panic!("expected a 403 refusal, got {:?}", other.map(|_| ())),
    }

    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let config = ClientConfig {
        open_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let held = tokio::spawn(async move { silent.accept().await });
    match within("connect", connect(&url, &config)).await {
        Err(ConnectError::Timeout) => {}
        other => panic!("expected a timeout, got {:?}", other.map(|_| ())),
    }
    held.abort();
    assert!(matches!(
        connect("http://example.com/", &ClientConfig::default()).await,
        Err(ConnectError::InvalidUri(_))
    ));
}

/// RFC 6455 §5.5.1: an endpoint that receives a Close answers it. A client
/// that read the message before the server's close and then only waits
/// must see the handshake finish, not sit out its close timeout.
#[tokio::test]
async fn wait_closed_after_the_last_message_answers_the_servers_close() {
    let server = serve("/count", |mut ws| async move {
        ws.accept(None).await.unwrap();
        ws.send_text("301").await.unwrap();
        ws.close(CloseCode::Normal, None).await.unwrap();
        ws.wait_closed().await;
    })
    .await;
    let url = format!("ws://{}/count", server.local_addr());
    let (mut ws, _) = within("connect", connect(&url, &ClientConfig::default()))
        .await
        .unwrap();
    assert_eq!(within("text", ws.receive_text()).await.unwrap(), "301");
    within("wait_closed", ws.wait_closed()).await;
    assert_eq!(
        ws.close_reason().map(|(code, _)| code),
        Some(CloseCode::Normal)
    );
}
