//! Arguments the engine refuses, each with its own error and message: close
//! reasons over 123 bytes, refusal statuses that are no refusal, malformed
//! subprotocols and ping payloads, and configurations the server will not
//! start with.

mod common;

use common::*;
use ferrosocket::{
    CloseCode, ConfigError, Router, ServerConfig, WebSocket, WebSocketConfig, WebSocketError,
};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_long_close_reason_is_reported_as_such_not_as_a_bad_code() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let err = ws.close(CloseCode::Normal, Some(&"r".repeat(124))).await;
            let _ = tx.send(err.map_err(|e| {
                (
                    e.to_string(),
                    matches!(e, WebSocketError::CloseReasonTooLong(124)),
                )
            }));
        }
    })
    .await;
    let _client = connect(&server, "/ws").await;
    let (message, typed) = report(&mut rx).await.unwrap_err();
    assert!(typed, "{message}");
    assert!(message.contains("123 bytes"), "{message}");
    assert!(!message.contains("close code 1000"), "{message}");
}

#[tokio::test]
async fn reject_refuses_statuses_that_are_not_a_final_response() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let mut refused = Vec::new();
            for status in [0, 99, 100, 101, 199, 600, 1000] {
                refused.push(matches!(
                    ws.reject(status, b"").await,
                    Err(WebSocketError::InvalidStatus(s)) if s == status
                ));
            }
            // Still CONNECTING: a valid refusal goes out.
            let state = ws.state();
            let _ = tx.send((refused, state, ws.reject(409, b"taken").await.is_ok()));
        }
    })
    .await;
    let mut raw = Raw::connect(server.local_addr()).await;
    raw.send(upgrade_request("/ws", RFC_KEY, "").as_bytes())
        .await;
    let head = raw.read_head().await;
    assert_eq!(status(&head), 409, "{head}");
    let (refused, state, ok) = report(&mut rx).await;
    assert!(refused.iter().all(|r| *r), "{refused:?}");
    assert_eq!(state, "CONNECTING");
    assert!(ok);
}

#[tokio::test]
async fn a_2xx_refusal_is_allowed_as_uvicorn_allows_it() {
    let server = serve("/ws", |mut ws: WebSocket| async move {
        ws.reject(200, b"not a websocket").await.unwrap();
    })
    .await;
    let mut raw = Raw::connect(server.local_addr()).await;
    raw.send(upgrade_request("/ws", RFC_KEY, "").as_bytes())
        .await;
    assert_eq!(status(&raw.read_head().await), 200);
}

#[tokio::test]
async fn malformed_arguments_are_invalid_argument_errors() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let subprotocol = ws.accept(Some("two words")).await;
            ws.accept(None).await.unwrap();
            let ping = ws.ping(&[0; 126]).await;
            let _ = tx.send([subprotocol, ping].map(|r| match r {
                Err(WebSocketError::InvalidArgument(message)) => Some(message),
                _ => None,
            }));
        }
    })
    .await;
    let _client = connect(&server, "/ws").await;
    let [subprotocol, ping] = report(&mut rx).await;
    assert!(subprotocol.unwrap().contains("subprotocol"));
    assert!(ping.unwrap().contains("125 bytes"));
}

#[tokio::test]
async fn the_server_refuses_to_start_with_an_invalid_config() {
    let config = ServerConfig {
        websocket: WebSocketConfig {
            write_low_water: 10,
            write_high_water: 5,
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    };
    let err = Router::new()
        .fallback(echo)
        .config(config)
        .bind("127.0.0.1:0")
        .await
        .err()
        .expect("an invalid config must not start a server");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<ConfigError>());
    assert_eq!(
        inner,
        Some(&ConfigError::WaterMarks { low: 10, high: 5 }),
        "{err}"
    );
}
