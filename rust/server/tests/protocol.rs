//! Malformed input over raw TCP: every violation must fail the connection
//! with the right close code (1002, 1007, 1009), after the replies to the
//! messages that preceded it and before anything that followed it, then the
//! server closes TCP. The handler sees the failure as `Message::Close`.

mod common;

use common::*;
use ferrosocket::{CloseCode, Message, ServerConfig, WebSocket, WebSocketConfig};
use tokio::sync::mpsc;

/// Serve a handler that echoes text and reports everything it receives.
async fn reporting_server(
    config: WebSocketConfig,
) -> (ferrosocket::Server, mpsc::UnboundedReceiver<Message>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = ServerConfig {
        websocket: config,
        ..ServerConfig::default()
    };
    let server = serve_with(config, "/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            while let Ok(msg) = ws.receive().await {
                let end = matches!(msg, Message::Close(..));
                if let Message::Text(t) = &msg {
                    let _ = ws.send_text(t).await;
                }
                let _ = tx.send(msg);
                if end {
                    break;
                }
            }
        }
    })
    .await;
    (server, rx)
}

/// Send a good message, then `bad`, then (if `trailer`) another good
/// message. The first is echoed; then comes a close frame, whose code is
/// returned, and EOF: nothing after `bad` is processed. Also checks that
/// the handler saw the good message and then `Close(code, _)`.
async fn violation_with(config: WebSocketConfig, bad: &[u8], trailer: bool) -> u16 {
    let (server, mut rx) = reporting_server(config).await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    let mut bytes = masked(true, 0x1, b"before");
    bytes.extend_from_slice(bad);
    if trailer {
        bytes.extend(masked(true, 0x1, b"after"));
    }
    raw.send(&bytes).await;

    let echo = raw.frame().await;
    assert_eq!(
        (echo.opcode, echo.payload.as_slice()),
        (0x1, &b"before"[..])
    );
    let close = raw.frame().await;
    assert_eq!(close.opcode, 0x8, "expected the close frame, got {close:?}");
    assert!(!close.masked);
    let code = close
        .close_code()
        .expect("the failure close carries a code");
    raw.expect_eof().await;

    assert_eq!(report(&mut rx).await, Message::Text("before".into()));
    match report(&mut rx).await {
        Message::Close(seen, _) => assert_eq!(seen.as_u16(), code),
        other => panic!("the handler should see the close, got {other:?}"),
    }
    code
}

async fn violation(bad: &[u8]) -> u16 {
    violation_with(WebSocketConfig::default(), bad, true).await
}

#[tokio::test]
async fn unmasked_frame_fails_with_1002() {
    let bad = frame_bytes(true, 0x1, b"no mask", None);
    assert_eq!(violation(&bad).await, 1002);
}

#[tokio::test]
async fn invalid_utf8_fails_with_1007() {
    assert_eq!(violation(&masked(true, 0x1, b"\xff\xfe")).await, 1007);
    // A valid prefix with an incomplete sequence at the end of the message.
    assert_eq!(violation(&masked(true, 0x1, b"ab\xe2\x82")).await, 1007);
    // A surrogate (ED A0 80) is not UTF-8 either.
    assert_eq!(violation(&masked(true, 0x1, b"\xed\xa0\x80")).await, 1007);
}

#[tokio::test]
async fn invalid_utf8_fails_fast_in_the_first_fragment() {
    // No final fragment is ever sent: the server must not wait for it.
    let bad = masked(false, 0x1, b"ok\xc0\xaf");
    assert_eq!(
        violation_with(WebSocketConfig::default(), &bad, false).await,
        1007
    );
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_fails_with_1007() {
    let mut bad = masked(false, 0x1, b"a\xe2");
    bad.extend(masked(true, 0x0, b"\x28\xa1"));
    assert_eq!(violation(&bad).await, 1007);
}

#[tokio::test]
async fn reserved_opcodes_fail_with_1002() {
    for opcode in [0x3, 0x7, 0xb, 0xf] {
        let code = violation(&masked(true, opcode, b"")).await;
        assert_eq!(code, 1002, "opcode {opcode:#x}");
    }
}

#[tokio::test]
async fn reserved_bits_fail_with_1002() {
    for rsv in [0x40u8, 0x20, 0x10] {
        let mut bad = masked(true, 0x1, b"x");
        bad[0] |= rsv;
        assert_eq!(violation(&bad).await, 1002, "rsv bit {rsv:#x}");
    }
}

#[tokio::test]
async fn control_frame_rules_fail_with_1002() {
    // A fragmented ping.
    assert_eq!(violation(&masked(false, 0x9, b"")).await, 1002);
    // A ping over 125 bytes.
    assert_eq!(violation(&masked(true, 0x9, &[0u8; 126])).await, 1002);
    // A close with a 1-byte payload.
    assert_eq!(violation(&masked(true, 0x8, &[0x03])).await, 1002);
}

#[tokio::test]
async fn continuation_rules_fail_with_1002() {
    // A continuation with no message in progress.
    assert_eq!(violation(&masked(true, 0x0, b"x")).await, 1002);
    // A new text frame while a fragmented message is in progress.
    let mut bad = masked(false, 0x1, b"a");
    bad.extend(masked(true, 0x1, b"b"));
    assert_eq!(violation(&bad).await, 1002);
}

#[tokio::test]
async fn invalid_close_codes_fail_with_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let bad = masked(true, 0x8, &close_payload(code, ""));
        // The close frame ends the input anyway: no trailer.
        let got = violation_with(WebSocketConfig::default(), &bad, false).await;
        assert_eq!(got, 1002, "peer close code {code}");
    }
}

#[tokio::test]
async fn close_reason_that_is_not_utf8_fails_the_connection() {
    let mut payload = close_payload(1000, "");
    payload.extend_from_slice(b"\xff");
    let got = violation_with(
        WebSocketConfig::default(),
        &masked(true, 0x8, &payload),
        false,
    )
    .await;
    assert_eq!(got, 1007);
}

#[tokio::test]
async fn top_bit_of_a_64_bit_length_fails_with_1002() {
    let mut bad = vec![0x82, 0x80 | 127];
    bad.extend_from_slice(&(1u64 << 63 | 4).to_be_bytes());
    bad.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
    assert_eq!(
        violation_with(WebSocketConfig::default(), &bad, false).await,
        1002
    );
}

fn small_limits() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..WebSocketConfig::default()
    }
}

#[tokio::test]
async fn oversize_message_fails_with_1009() {
    let bad = masked(true, 0x2, &[0u8; 2048]);
    assert_eq!(violation_with(small_limits(), &bad, true).await, 1009);
}

#[tokio::test]
async fn oversize_fragmented_message_fails_with_1009() {
    let config = WebSocketConfig {
        max_message_size: 1024,
        ..WebSocketConfig::default()
    };
    let mut bad = masked(false, 0x2, &[0u8; 700]);
    bad.extend(masked(true, 0x0, &[0u8; 700]));
    assert_eq!(violation_with(config, &bad, true).await, 1009);
}

#[tokio::test]
async fn oversize_frame_fails_with_1009() {
    let config = WebSocketConfig {
        max_frame_size: 512,
        ..WebSocketConfig::default()
    };
    let bad = masked(true, 0x2, &[0u8; 600]);
    assert_eq!(violation_with(config, &bad, true).await, 1009);
}

#[tokio::test]
async fn oversize_declared_length_fails_before_the_payload_arrives() {
    // A header announcing 1 GiB, and no payload: the limit must be checked
    // on the declared length, so the close comes at once.
    let mut bad = vec![0x82, 0x80 | 127];
    bad.extend_from_slice(&(1u64 << 30).to_be_bytes());
    bad.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(violation_with(small_limits(), &bad, false).await, 1009);
    // Also with the default 16 MiB limits.
    assert_eq!(
        violation_with(WebSocketConfig::default(), &bad, false).await,
        1009
    );
}

#[tokio::test]
async fn messages_at_the_limit_pass() {
    let (server, _rx) = reporting_server(small_limits()).await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    let text = "z".repeat(1024);
    raw.send(&masked(true, 0x1, text.as_bytes())).await;
    let f = raw.frame().await;
    assert_eq!((f.opcode, f.payload.len()), (0x1, 1024));
    // Fragmented up to exactly the limit, too.
    raw.send(&masked(false, 0x1, &text.as_bytes()[..1000]))
        .await;
    raw.send(&masked(true, 0x0, &text.as_bytes()[1000..])).await;
    let f = raw.frame().await;
    assert_eq!((f.opcode, f.payload.len()), (0x1, 1024));
}

#[tokio::test]
async fn a_failed_connection_reports_the_code_to_typed_receives() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let _ = tx.send(ws.receive_text().await.map_err(|e| e.to_string()));
            let _ = tx.send(ws.receive_text().await.map_err(|e| e.to_string()));
            let _ = tx.send(Ok(format!("{:?}", ws.close_reason().map(|r| r.0))));
        }
    })
    .await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/ws").await;
    raw.send(&frame_bytes(true, 0x1, b"x", None)).await;
    assert_eq!(raw.expect_close().await, Some(1002));
    let first = report(&mut rx).await;
    assert!(
        first.as_ref().is_err_and(|e| e.contains("1002")),
        "{first:?}"
    );
    let second = report(&mut rx).await;
    assert!(second.is_err(), "{second:?}");
    assert_eq!(
        report(&mut rx).await,
        Ok(format!("{:?}", Some(CloseCode::Protocol)))
    );
}
