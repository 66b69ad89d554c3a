//! Topics through the Rust API: fan-out from one shared frame, exclude-self,
//! order with a connection's own sends, and a stalled subscriber that costs
//! the others nothing (drop policy) or is closed with 1013.

mod common;

use std::time::Duration;

use common::*;
use ferrosocket::proto::OpCode;
use ferrosocket::{Published, Server, ServerConfig, WebSocket, WebSocketConfig};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn member(mut ws: WebSocket) {
    if ws.accept(None).await.is_err() {
        return;
    }
    ws.subscribe("room").unwrap();
    while let Ok(ferrosocket::Message::Text(text)) = ws.receive().await {
        if text == "own" {
            // Own sends and publishes to a topic it is subscribed to
            // arrive in call order.
            for i in 0..50 {
                ws.send_text(&format!("own{i}")).await.unwrap();
                ws.publish("none", &Published::new(OpCode::Text, b"x", true));
            }
            continue;
        }
        ws.publish("room", &Published::new(OpCode::Text, text.as_bytes(), true));
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    within_for(Duration::from_secs(10), what, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn text(msg: WsMessage) -> String {
    match msg {
        WsMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn subscribed(server: &Server, n: usize) {
    until("subscriptions", || server.topics().subscribers("room") == n).await;
}

#[tokio::test]
async fn publish_reaches_others_in_order() {
    let server = serve("/", member).await;
    let mut a = connect(&server, "/").await;
    let mut b = connect(&server, "/").await;
    let mut c = connect(&server, "/").await;
    subscribed(&server, 3).await;
    for i in 0..100 {
        a.send(WsMessage::text(format!("m{i}"))).await.unwrap();
    }
    for client in [&mut b, &mut c] {
        for i in 0..100 {
            assert_eq!(text(next_msg(client).await), format!("m{i}"));
        }
    }
    let all = Published::new(OpCode::Text, b"all", true);
    assert_eq!(server.topics().publish("room", &all, None), 3);
    // The sender's first message is this one: it got none of its own.
    assert_eq!(text(next_msg(&mut a).await), "all");
    let stats = server.topics().stats();
    assert_eq!((stats.published, stats.deliveries), (101, 203));
    drop((a, b, c));
    until("subscriptions end", || {
        server.topics().subscribers("room") == 0
    })
    .await;
    assert_eq!(server.topics().stats().topics, 0);
}

#[tokio::test]
async fn interleaves_with_own_sends() {
    let server = serve("/", member).await;
    let mut a = connect(&server, "/").await;
    subscribed(&server, 1).await;
    // Published from outside while the handler sends its own: each stream
    // stays in order (the two are independent producers).
    a.send(WsMessage::text("own")).await.unwrap();
    let mut own = 0;
    let mut published = 0;
    for i in 0..30 {
        let msg = Published::new(OpCode::Text, format!("pub{i}").as_bytes(), true);
        server.topics().publish("room", &msg, None);
    }
    while own < 50 || published < 30 {
        let t = text(next_msg(&mut a).await);
        if let Some(n) = t.strip_prefix("own") {
            assert_eq!(n.parse::<usize>().unwrap(), own);
            own += 1;
        } else {
            assert_eq!(t, format!("pub{published}"));
            published += 1;
        }
    }
}

fn limited(close: bool) -> ServerConfig {
    ServerConfig {
        websocket: WebSocketConfig {
            backpressure_limit: 64 << 10,
            close_on_backpressure_limit: close,
            write_timeout: Duration::from_secs(60),
            // A closed subscriber's socket goes once this has passed.
            close_timeout: Duration::from_secs(1),
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    }
}

/// Publish `count` 4 KiB messages while `reader` keeps up; returns how many
/// the reader got, all checked in order.
async fn flood(server: &Server, reader: &mut Client, count: usize) {
    let filler = "y".repeat(4096);
    for i in 0..count {
        let msg = Published::new(OpCode::Text, format!("{i}:{filler}").as_bytes(), true);
        server.topics().publish("room", &msg, None);
        assert!(text(next_msg(reader).await).starts_with(&format!("{i}:")));
    }
}

#[tokio::test]
async fn stalled_subscriber_has_messages_dropped() {
    let server = serve_with(limited(false), "/", member).await;
    let (_stalled, _) = Raw::upgrade(server.local_addr(), "/").await;
    let mut reader = connect(&server, "/").await;
    subscribed(&server, 2).await;
    flood(&server, &mut reader, 3000).await; // 12 MB
    let stats = server.topics().stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(server.topics().subscribers("room"), 2);
}

#[tokio::test]
async fn stalled_subscriber_closed_with_1013_by_option() {
    let server = serve_with(limited(true), "/", member).await;
    let (_stalled, _) = Raw::upgrade(server.local_addr(), "/").await;
    let mut reader = connect(&server, "/").await;
    subscribed(&server, 2).await;
    flood(&server, &mut reader, 3000).await;
    until("the stalled one is gone", || {
        server.topics().subscribers("room") == 1
    })
    .await;
    assert!(server.topics().stats().dropped >= 1);
}
