//! Closing: both directions with code and reason, state transitions, the
//! close timeout, handler return and peer loss, close ordering after queued
//! messages, and server shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrosocket::{CloseCode, Message, ServerConfig, WebSocket, WebSocketConfig, WebSocketError};
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn client_close_4000_reaches_handler_then_connection_closed() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let first = ws.receive().await;
            let state = ws.state();
            let second = ws.receive().await;
            let send = ws.send_text("too late").await;
            let _ = tx.send((first, state, second, send, ws.close_reason()));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    client_close(&mut client, 4000, "bye").await;

    // The server echoes the code (RFC 6455 §5.5.1) and closes TCP.
    let echoed = next_close(&mut client).await;
    assert_eq!(echoed.code, WsCloseCode::from(4000));
    expect_end(&mut client).await;

    let (first, state, second, send, reason) = report(&mut rx).await;
    assert_eq!(
        first.unwrap(),
        Message::Close(CloseCode::Other(4000), "bye".into())
    );
    assert_eq!(state, "CLOSED");
    match second {
        Err(WebSocketError::ConnectionClosed(code, reason)) => {
            assert_eq!(code, CloseCode::Other(4000));
            assert_eq!(reason, "bye");
        }
        other => panic!("second receive after close: {other:?}"),
    }
    assert!(
        matches!(send, Err(WebSocketError::ConnectionClosed(..))),
        "send after close: {send:?}"
    );
    assert_eq!(reason, Some((CloseCode::Other(4000), "bye".to_owned())));
}

#[tokio::test]
async fn client_close_without_code_is_seen_as_1005() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let _ = tx.send(ws.receive().await.ok());
        }
    })
    .await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    raw.send(&masked(true, 0x8, b"")).await;
    // The echo carries no code either (1005 is never sent on the wire).
    assert_eq!(raw.expect_close().await, None);
    raw.expect_eof().await;
    assert_eq!(
        report(&mut rx).await,
        Some(Message::Close(CloseCode::NoStatus, String::new()))
    );
}

#[tokio::test]
async fn handler_close_away_reaches_client_as_1001() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            ws.close(CloseCode::Away, Some("bye")).await.unwrap();
            // A second close is a no-op; sends now fail.
            let again = ws.close(CloseCode::Normal, None).await;
            let send = ws.send_text("x").await;
            let reply = ws.receive().await;
            within("wait_closed", ws.wait_closed()).await;
            let _ = tx.send((again.is_ok(), send.is_err(), reply, ws.state()));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    let frame = next_close(&mut client).await;
    assert_eq!(frame.code, WsCloseCode::Away);
    assert_eq!(frame.reason.as_str(), "bye");
    // tungstenite replies with the same frame; the server then closes TCP.
    expect_end(&mut client).await;
    drop(client);

    let (again_ok, send_err, reply, state) = report(&mut rx).await;
    assert!(again_ok, "a second close() must be a no-op");
    assert!(send_err, "send after close() must fail");
    assert_eq!(
        reply.unwrap(),
        Message::Close(CloseCode::Away, "bye".into())
    );
    assert_eq!(state, "CLOSED");
}

#[tokio::test]
async fn close_rejects_unsendable_codes_and_long_reasons() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let mut errs = Vec::new();
            for code in [
                CloseCode::NoStatus,
                CloseCode::Abnormal,
                CloseCode::Other(999),
            ] {
                errs.push(ws.close(code, None).await.err().map(|e| e.to_string()));
            }
            let long = "r".repeat(124);
            errs.push(
                ws.close(CloseCode::Normal, Some(&long))
                    .await
                    .err()
                    .map(|e| e.to_string()),
            );
            let still_open = ws.is_open();
            ws.close(CloseCode::Other(3000), Some(&"r".repeat(123)))
                .await
                .unwrap();
            let _ = tx.send((errs, still_open));
            let _ = ws.receive().await;
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    let frame = next_close(&mut client).await;
    assert_eq!(u16::from(frame.code), 3000);
    assert_eq!(frame.reason.len(), 123);
    let (errs, still_open) = report(&mut rx).await;
    assert_eq!(errs.len(), 4);
    assert!(errs.iter().all(Option::is_some), "{errs:?}");
    assert!(
        still_open,
        "a refused close() must leave the connection open"
    );
}

#[tokio::test]
async fn state_transitions_connecting_open_closing_closed() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let mut seen = vec![(ws.state(), ws.is_open())];
            ws.accept(None).await.unwrap();
            seen.push((ws.state(), ws.is_open()));
            ws.close(CloseCode::Normal, None).await.unwrap();
            seen.push((ws.state(), ws.is_open()));
            let reply = ws.receive().await;
            seen.push((ws.state(), ws.is_open()));
            within("wait_closed", ws.wait_closed()).await;
            seen.push((ws.state(), ws.is_open()));
            let _ = tx.send((seen, reply.is_ok()));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    assert_eq!(u16::from(next_close(&mut client).await.code), 1000);
    expect_end(&mut client).await;
    drop(client);
    let (seen, reply_ok) = report(&mut rx).await;
    assert_eq!(
        seen,
        vec![
            ("CONNECTING", false),
            ("OPEN", true),
            ("CLOSING", false),
            ("CLOSED", false),
            ("CLOSED", false),
        ]
    );
    assert!(reply_ok, "receive() must return the peer's close reply");
}

#[tokio::test]
async fn peer_close_moves_state_to_closed() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let before = ws.state();
            let msg = ws.receive().await;
            let after = (ws.state(), ws.is_open());
            let _ = tx.send((before, msg.ok(), after));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    client_close(&mut client, 1000, "").await;
    next_close(&mut client).await;
    let (before, msg, after) = report(&mut rx).await;
    assert_eq!(before, "OPEN");
    assert_eq!(msg, Some(Message::Close(CloseCode::Normal, String::new())));
    assert_eq!(after, ("CLOSED", false));
}

#[tokio::test]
async fn handler_return_closes_with_1000() {
    let server = serve("/ws", |mut ws: WebSocket| async move {
        ws.accept(None).await.unwrap();
        ws.send_text("last words").await.unwrap();
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    assert_eq!(next_msg(&mut client).await, WsMessage::text("last words"));
    assert_eq!(next_close(&mut client).await.code, WsCloseCode::Normal);
    expect_end(&mut client).await;
}

#[tokio::test]
async fn peer_vanishing_is_seen_as_1006() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let first = ws.receive().await;
            within("wait_closed", ws.wait_closed()).await;
            let _ = tx.send((first.ok(), ws.state()));
        }
    })
    .await;
    let (raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    drop(raw);
    let (first, state) = report(&mut rx).await;
    assert_eq!(
        first,
        Some(Message::Close(CloseCode::Abnormal, String::new()))
    );
    assert_eq!(state, "CLOSED");
}

#[tokio::test]
async fn replies_to_messages_queued_before_the_peer_close_go_out_first() {
    let server = serve("/echo", echo).await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/echo").await;
    // Three messages and the close in one write: they all arrive together.
    let mut burst = Vec::new();
    for m in [&b"a"[..], b"b", b"c"] {
        burst.extend(masked(true, 0x1, m));
    }
    burst.extend(masked(true, 0x8, &close_payload(1000, "")));
    raw.send(&burst).await;
    for m in [&b"a"[..], b"b", b"c"] {
        let f = raw.frame().await;
        assert_eq!((f.opcode, f.payload.as_slice()), (0x1, m), "{f:?}");
    }
    assert_eq!(raw.expect_close().await, Some(1000));
    raw.expect_eof().await;
}

#[tokio::test]
async fn close_timeout_drops_a_client_that_never_answers() {
    let close_timeout = Duration::from_millis(400);
    let config = ServerConfig {
        websocket: WebSocketConfig {
            close_timeout,
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve_with(config, "/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            ws.close(CloseCode::Normal, Some("go")).await.unwrap();
            let msg = ws.receive().await;
            within("wait_closed", ws.wait_closed()).await;
            let _ = tx.send((msg.ok(), ws.state()));
        }
    })
    .await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    // Read the server's close frame but never answer it, and keep the socket open.
    let f = raw.frame().await;
    let got_close = Instant::now();
    assert_eq!(f.close_code(), Some(1000));
    assert_eq!(&f.payload[2..], b"go");
    // The server must give up and close TCP: EOF (not a hang).
    raw.expect_eof().await;
    let waited = got_close.elapsed();
    // It must not give up before (roughly) the close timeout either.
    assert!(
        waited >= close_timeout / 2,
        "disconnected after {waited:?}, close_timeout is {close_timeout:?}"
    );
    let (msg, state) = report(&mut rx).await;
    assert_eq!(
        msg,
        Some(Message::Close(CloseCode::Abnormal, String::new()))
    );
    assert_eq!(state, "CLOSED");
    drop(raw);
}

#[tokio::test]
async fn server_close_1001_closes_clients_and_wait_closed_returns() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (slow_tx, mut slow_rx) = mpsc::unbounded_channel();
    let (hold_tx, hold_rx) = oneshot::channel::<()>();
    let hold_rx = std::sync::Mutex::new(Some(hold_rx));
    let server = ferrosocket::Router::new()
        .route("/echo", move |ws: WebSocket| {
            let tx = tx.clone();
            async move {
                echo(ws).await;
                let _ = tx.send("echo handler done");
            }
        })
        .route("/slow", move |mut ws: WebSocket| {
            // Does not answer the handshake until the server is shutting down.
            let hold = hold_rx.lock().unwrap().take();
            let slow_tx = slow_tx.clone();
            async move {
                if let Some(hold) = hold {
                    let _ = hold.await;
                }
                let _ = slow_tx.send((ws.accept(None).await, ws.state()));
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut a = connect(&server, "/echo").await;
    let mut b = connect(&server, "/echo").await;
    // Make sure both are really open (the handler is in receive()).
    for c in [&mut a, &mut b] {
        c.send(WsMessage::text("up")).await.unwrap();
        assert_eq!(next_msg(c).await, WsMessage::text("up"));
    }
    let mut pending = Raw::connect(addr).await;
    pending
        .send(upgrade_request("/slow", RFC_KEY, "").as_bytes())
        .await;
    within("the pending handshake to register", async {
        while server.connections() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    server.close(1001, "shutting down").unwrap();
    let _ = hold_tx.send(());

    for c in [&mut a, &mut b] {
        let f = next_close(c).await;
        assert_eq!(f.code, WsCloseCode::Away);
        assert_eq!(f.reason.as_str(), "shutting down");
        expect_end(c).await;
    }
    drop((a, b));
    let head = pending.read_head().await;
    assert_eq!(status(&head), 503, "{head}");
    // The handler's late accept() finds the handshake already answered.
    let (late, state) = report(&mut slow_rx).await;
    assert!(
        matches!(late, Err(WebSocketError::AlreadyAccepted)),
        "accept after the shutdown refused the handshake: {late:?}"
    );
    assert_eq!(state, "CLOSED");
    drop(pending);

    let stragglers = within("wait_closed", server.wait_closed(Duration::from_secs(4))).await;
    assert_eq!(stragglers, 0);
    assert_eq!(server.connections(), 0);
    assert_eq!(report(&mut rx).await, "echo handler done");
    assert_eq!(report(&mut rx).await, "echo handler done");

    // The listener is gone: new connections are refused.
    within("the listener to close", async {
        loop {
            match tokio::net::TcpStream::connect(addr).await {
                Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
}

#[tokio::test]
async fn peer_close_behind_unreceived_messages_ends_after_the_close_timeout() {
    let close_timeout = Duration::from_millis(300);
    let config = ServerConfig {
        websocket: WebSocketConfig {
            close_timeout,
            ..WebSocketConfig::default()
        },
        ..ServerConfig::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve_with(config, "/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            // Never receives; keeps the WebSocket until the socket is gone.
            within("wait_closed", ws.wait_closed()).await;
            let _ = tx.send((ws.state(), ws.close_reason()));
        }
    })
    .await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    let mut burst = masked(true, 0x1, b"unread");
    burst.extend(masked(true, 0x8, &close_payload(4002, "leaving")));
    raw.send(&burst).await;
    // The close is answered even though the application never got to it.
    assert_eq!(raw.expect_close().await, Some(4002));
    raw.expect_eof().await;
    drop(raw);
    let (state, reason) = report(&mut rx).await;
    assert_eq!(state, "CLOSED");
    assert_eq!(reason, Some((CloseCode::Other(4002), "leaving".to_owned())));
}

#[tokio::test]
async fn wait_closed_abandons_stragglers_after_the_grace_period() {
    // Default close timeout (10 s): far longer than the grace period.
    let server = serve("/echo", echo).await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/echo").await;
    within("the connection to register", async {
        while server.connections() < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.close(1001, "").unwrap();
    // The client reads our close but never answers it.
    assert_eq!(raw.expect_close().await, Some(1001));
    let stragglers = within(
        "wait_closed",
        server.wait_closed(Duration::from_millis(200)),
    )
    .await;
    assert_eq!(stragglers, 1);
    // "their sockets are closed": the server's side is gone, not lingering
    // until the 10 s close timeout.
    raw.expect_eof().await;
    within_for(
        Duration::from_secs(2),
        "the abandoned connection to be released",
        async {
            while server.connections() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
}

/// RFC 6455 §7.1.7 / §8.1: a protocol error that waits behind a queued
/// message decides the close code. When the handler, which has not received
/// yet, closes with 1000, the peer must still be told 1007, 1002 or 1009.
#[tokio::test]
async fn a_failure_behind_a_queued_message_keeps_its_code_on_the_wire() {
    let cases: [(&[u8], u8, u16); 3] = [
        (&[0xff, 0xfe], 0x1, 1007), // invalid UTF-8
        (b"x", 0x3, 1002),          // reserved opcode
        (&[0u8; 2048], 0x2, 1009),  // over max_message_size
    ];
    for (payload, opcode, code) in cases {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let config = ServerConfig {
            websocket: WebSocketConfig {
                max_message_size: 1024,
                ..WebSocketConfig::default()
            },
            ..ServerConfig::default()
        };
        let server = serve_with(config, "/ws", move |mut ws: WebSocket| {
            let tx = tx.clone();
            async move {
                ws.accept(None).await.unwrap();
                // Not receiving: wait until the engine has decided the ending.
                while ws.close_reason().is_none() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let decided = ws.close_reason();
                let _ = ws.close(CloseCode::Normal, None).await;
                let _ = tx.send(decided);
            }
        })
        .await;
        let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
        let mut wire = masked(true, 0x1, b"hello");
        wire.extend(masked(true, opcode, payload));
        raw.send(&wire).await;
        assert_eq!(raw.expect_close().await, Some(code), "opcode {opcode:#x}");
        let decided = report(&mut rx).await.expect("an ending was decided");
        assert_eq!(u16::from(decided.0), code);
    }
}
