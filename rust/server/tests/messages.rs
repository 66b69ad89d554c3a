//! Data messages end to end: the reference chat example, echo of every
//! message shape, typed receives, and pings in both directions.

mod common;

use std::time::Duration;

use common::*;
use ferrosocket::{CloseCode, Message, WebSocket, WebSocketError};
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The chat example of the reference page, verbatim.
async fn chat(mut ws: WebSocket) {
    ws.accept(None).await.unwrap();
    while let Ok(msg) = ws.receive().await {
        match msg {
            Message::Text(text) => {
                ws.send_text(&format!("echo: {text}")).await.unwrap();
            }
            Message::Binary(_data) => {}
            // receive() auto-replies to ping and does not surface pong.
            Message::Ping(_) | Message::Pong(_) => unreachable!(),
            Message::Close(_, _) => break,
        }
    }
    ws.close(CloseCode::Normal, None).await.ok();
}

#[tokio::test]
async fn reference_chat_example_end_to_end() {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let server = serve("/chat", move |ws| {
        let done = done_tx.clone();
        async move {
            chat(ws).await;
            let _ = done.send(());
        }
    })
    .await;
    let mut client = connect(&server, "/chat").await;

    client.send(WsMessage::text("hello")).await.unwrap();
    assert_eq!(next_msg(&mut client).await, WsMessage::text("echo: hello"));

    // Binary is swallowed; a ping is answered without reaching the handler
    // (it would hit `unreachable!`); the next text still gets its echo.
    client
        .send(WsMessage::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    client
        .send(WsMessage::Ping(b"p".to_vec().into()))
        .await
        .unwrap();
    client.send(WsMessage::text("second")).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(next_msg(&mut client).await);
    }
    assert!(
        got.contains(&WsMessage::Pong(b"p".to_vec().into())),
        "{got:?}"
    );
    assert!(got.contains(&WsMessage::text("echo: second")), "{got:?}");

    client_close(&mut client, 1000, "done").await;
    assert_eq!(u16::from(next_close(&mut client).await.code), 1000);
    expect_end(&mut client).await;
    within("the chat handler to return", done_rx.recv())
        .await
        .expect("chat handler panicked");
}

#[tokio::test]
async fn echo_text_binary_and_empty_messages() {
    let server = serve("/echo", echo).await;
    let mut client = connect(&server, "/echo").await;
    let cases = [
        WsMessage::text("plain ascii"),
        WsMessage::text("h\u{e9}llo \u{2713} \u{1f980}"),
        WsMessage::text(""),
        WsMessage::binary(vec![0u8, 1, 0x80, 0xff]),
        WsMessage::binary(Vec::new()),
        // 126 bytes: the 16-bit length form; 70000: the 64-bit form.
        WsMessage::binary(vec![7u8; 126]),
        WsMessage::text("x".repeat(70_000)),
    ];
    for case in cases {
        client.send(case.clone()).await.unwrap();
        assert_eq!(next_msg(&mut client).await, case);
    }
}

#[tokio::test]
async fn echo_fragmented_messages() {
    let server = serve("/echo", echo).await;
    let mut client = connect(&server, "/echo").await;

    // Text in three fragments, with "é" (C3 A9) split across the first two,
    // and a ping between fragments (control frames may interleave).
    let frames = [
        Frame::message(b"h\xc3".to_vec(), OpCode::Data(Data::Text), false),
        Frame::message(b"\xa9llo".to_vec(), OpCode::Data(Data::Continue), false),
        Frame::ping(b"mid".to_vec()),
        Frame::message(b" world".to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for f in frames {
        client.feed(WsMessage::Frame(f)).await.unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::Pong(b"mid".to_vec().into())
    );
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::text("h\u{e9}llo world")
    );

    // Binary in two fragments, then an empty final continuation.
    let frames = [
        Frame::message(vec![1u8, 2], OpCode::Data(Data::Binary), false),
        Frame::message(vec![3u8], OpCode::Data(Data::Continue), false),
        Frame::message(Vec::new(), OpCode::Data(Data::Continue), true),
    ];
    for f in frames {
        client.feed(WsMessage::Frame(f)).await.unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::binary(vec![1u8, 2, 3])
    );
}

#[tokio::test]
async fn echo_large_8_mib_messages() {
    let server = serve("/echo", echo).await;
    let mut client = connect(&server, "/echo").await;
    let size = 8 << 20;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    client.send(WsMessage::binary(data.clone())).await.unwrap();
    match next_msg(&mut client).await {
        WsMessage::Binary(got) => {
            assert_eq!(got.len(), size);
            assert!(got[..] == data[..], "binary echo differs");
        }
        other => panic!("expected binary, got {other:?}"),
    }

    let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    client.send(WsMessage::text(text.clone())).await.unwrap();
    match next_msg(&mut client).await {
        WsMessage::Text(got) => assert!(got.as_str() == text, "text echo differs"),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Large messages are read in place (into a reused allocation once the
/// application dropped the previous payload) and sent next to their header;
/// small ones go through the outbound buffer. Many of both in flight, sent
/// before any echo is read, must come back intact and in order.
#[tokio::test]
async fn mixed_large_and_small_messages_in_flight_echo_in_order() {
    let server = serve("/echo", echo).await;
    let mut client = connect(&server, "/echo").await;
    let sizes = [
        100usize,
        65_536,
        (1 << 20) + 1,
        3,
        16 << 10,
        (1 << 20) + 7,
        200_000,
    ];
    let messages: Vec<Vec<u8>> = (0..42)
        .map(|i| {
            let size = sizes[i % sizes.len()];
            (0..size).map(|j| ((i * 31 + j) % 253) as u8).collect()
        })
        .collect();
    for m in &messages {
        client.feed(WsMessage::binary(m.clone())).await.unwrap();
    }
    client.flush().await.unwrap();
    for (i, m) in messages.iter().enumerate() {
        match next_msg(&mut client).await {
            WsMessage::Binary(got) => assert!(got[..] == m[..], "message {i} differs"),
            other => panic!("message {i}: expected binary, got {other:?}"),
        }
    }
}

#[derive(Debug)]
enum Seen {
    Text(Result<String, WebSocketError>),
    Bytes(Result<Vec<u8>, WebSocketError>),
}

#[tokio::test]
async fn typed_receive_fails_on_the_other_type() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/typed", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            // binary arrives first, then text, then a good text, good binary, close
            let _ = tx.send(Seen::Text(ws.receive_text().await));
            let _ = tx.send(Seen::Bytes(ws.receive_bytes().await));
            let _ = tx.send(Seen::Text(ws.receive_text().await));
            let _ = tx.send(Seen::Bytes(ws.receive_bytes().await));
            let _ = tx.send(Seen::Text(ws.receive_text().await));
            let _ = tx.send(Seen::Bytes(ws.receive_bytes().await));
        }
    })
    .await;
    let mut client = connect(&server, "/typed").await;
    client.send(WsMessage::binary(vec![9u8])).await.unwrap();
    client.send(WsMessage::text("t")).await.unwrap();
    client.send(WsMessage::text("good")).await.unwrap();
    client.send(WsMessage::binary(vec![4u8, 2])).await.unwrap();
    client_close(&mut client, 4001, "x").await;

    match report(&mut rx).await {
        Seen::Text(Err(WebSocketError::UnexpectedMessage { expected, got })) => {
            assert_eq!((expected, got), ("text", "binary"));
        }
        other => panic!("receive_text on binary: {other:?}"),
    }
    match report(&mut rx).await {
        Seen::Bytes(Err(WebSocketError::UnexpectedMessage { expected, got })) => {
            assert_eq!((expected, got), ("binary", "text"));
        }
        other => panic!("receive_bytes on text: {other:?}"),
    }
    match report(&mut rx).await {
        Seen::Text(Ok(t)) => assert_eq!(t, "good"),
        other => panic!("receive_text on text: {other:?}"),
    }
    match report(&mut rx).await {
        Seen::Bytes(Ok(b)) => assert_eq!(b, vec![4u8, 2]),
        other => panic!("receive_bytes on binary: {other:?}"),
    }
    // The close is an error for typed receives, carrying the peer's code.
    match report(&mut rx).await {
        Seen::Text(Err(WebSocketError::ConnectionClosed(code, reason))) => {
            assert_eq!(code, CloseCode::Other(4001));
            assert_eq!(reason, "x");
        }
        other => panic!("receive_text on close: {other:?}"),
    }
    match report(&mut rx).await {
        Seen::Bytes(Err(WebSocketError::ConnectionClosed(code, _))) => {
            assert_eq!(code, CloseCode::Other(4001));
        }
        other => panic!("receive_bytes after close: {other:?}"),
    }
}

#[tokio::test]
async fn client_ping_is_answered_and_not_surfaced() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let _ = tx.send(ws.receive().await.ok());
            let _ = ws.receive().await;
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    client
        .send(WsMessage::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::Pong(b"are you there".to_vec().into())
    );
    // An empty ping gets an empty pong.
    client
        .send(WsMessage::Ping(Vec::new().into()))
        .await
        .unwrap();
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::Pong(Vec::new().into())
    );

    client.send(WsMessage::text("after")).await.unwrap();
    assert_eq!(report(&mut rx).await, Some(Message::Text("after".into())));
}

#[tokio::test]
async fn server_ping_reaches_the_client_and_its_pong_is_not_surfaced() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.accept(None).await.unwrap();
            let too_long = ws.ping(&[0u8; 126]).await;
            let _ = tx.send(format!("126-byte ping: {}", too_long.is_err()));
            ws.ping(b"heartbeat").await.unwrap();
            ws.pong(b"unsolicited").await.unwrap();
            // The client's pong must be skipped: the first message is its text.
            let _ = tx.send(format!("{:?}", ws.receive().await.ok()));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::Ping(b"heartbeat".to_vec().into())
    );
    assert_eq!(
        next_msg(&mut client).await,
        WsMessage::Pong(b"unsolicited".to_vec().into())
    );
    // tungstenite queued a pong for the ping; sending text flushes it first.
    client.send(WsMessage::text("t")).await.unwrap();
    assert_eq!(report(&mut rx).await, "126-byte ping: true");
    assert_eq!(
        report(&mut rx).await,
        format!("{:?}", Some(Message::Text("t".into())))
    );
}

#[tokio::test]
async fn a_cancelled_receive_loses_no_message() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let go_rx = std::sync::Mutex::new(Some(go_rx));
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        let go = go_rx.lock().unwrap().take();
        async move {
            ws.accept(None).await.unwrap();
            // Give up on a receive (nothing has been sent yet)...
            let cancelled = tokio::time::timeout(Duration::from_millis(50), ws.receive()).await;
            let _ = tx.send(format!("cancelled: {}", cancelled.is_err()));
            if let Some(go) = go {
                let _ = go.await;
            }
            // ...the message that arrives afterwards is still delivered.
            let _ = tx.send(format!("{:?}", ws.receive().await.ok()));
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    assert_eq!(report(&mut rx).await, "cancelled: true");
    client.send(WsMessage::text("kept")).await.unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(
        report(&mut rx).await,
        format!("{:?}", Some(Message::Text("kept".into())))
    );
}

#[tokio::test]
async fn many_tiny_fragments_reassemble() {
    let server = serve("/echo", echo).await;
    let (mut raw, _) = Raw::upgrade(server.local_addr(), "/echo").await;
    let text = "fr\u{e4}gm\u{e9}nt\u{1f980}".repeat(100);
    let bytes = text.as_bytes();
    let mut wire = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        let opcode = if i == 0 { 0x1 } else { 0x0 };
        wire.extend(masked(i == bytes.len() - 1, opcode, &[*b]));
    }
    raw.send(&wire).await;
    let f = raw.frame().await;
    assert_eq!(f.opcode, 0x1);
    assert!(f.fin, "the server sends whole messages");
    assert_eq!(String::from_utf8(f.payload).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_on_a_multi_thread_runtime() {
    let server = serve("/echo", echo).await;
    let clients = 32;
    let messages = 200;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = connect(&server, "/echo").await;
        tasks.push(tokio::spawn(async move {
            use futures_util::StreamExt;
            // Pipelined: everything is sent before anything is read back.
            for i in 0..messages {
                let m = if i % 2 == 0 {
                    WsMessage::text(format!("{c}:{i}"))
                } else {
                    WsMessage::binary(format!("{c}:{i}").into_bytes())
                };
                client.feed(m).await.unwrap();
            }
            client.flush().await.unwrap();
            for i in 0..messages {
                let got = client.next().await.unwrap().unwrap();
                let want = format!("{c}:{i}");
                match got {
                    WsMessage::Text(t) if i % 2 == 0 => assert_eq!(t.as_str(), want),
                    WsMessage::Binary(b) if i % 2 == 1 => assert_eq!(&b[..], want.as_bytes()),
                    other => panic!("client {c} message {i}: {other:?}"),
                }
            }
            client_close(&mut client, 1000, "").await;
            assert_eq!(u16::from(next_close(&mut client).await.code), 1000);
        }));
    }
    for t in tasks {
        within_for(Duration::from_secs(15), "a client", t)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_panicking_handler_still_closes_the_connection() {
    let server = serve("/ws", |mut ws: WebSocket| async move {
        ws.accept(None).await.unwrap();
        let _ = ws.receive().await;
        panic!("handler failure (expected by the test)");
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    client.send(WsMessage::text("boom")).await.unwrap();
    let frame = next_close(&mut client).await;
    // Like a Python handler that raises: 1011, internal error.
    let code = u16::from(frame.code);
    assert_eq!(code, 1011, "close code {code}");
    expect_end(&mut client).await;
}
