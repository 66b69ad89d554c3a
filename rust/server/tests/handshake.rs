//! The opening handshake: 101 and its accept key, refusals (403, reject,
//! 404, 426, 400), subprotocols, request data, misuse before/after accept,
//! `WebSocket::new` on a stream the test upgraded itself, and the handshake
//! timeout.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrosocket::{CloseCode, Message, ServerConfig, WebSocket, WebSocketConfig, WebSocketError};
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

#[tokio::test]
async fn accept_writes_101_with_the_rfc_accept_key() {
    let server = serve("/ws", echo).await;
    let (mut raw, head) = Raw::upgrade(server.local_addr(), "/ws").await;
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), Some(RFC_ACCEPT));
    assert!(header(&head, "Upgrade")
        .unwrap()
        .eq_ignore_ascii_case("websocket"));
    assert!(header(&head, "Connection")
        .unwrap()
        .to_ascii_lowercase()
        .contains("upgrade"));
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), None);
    // The connection works after it.
    raw.send(&masked(true, 0x1, b"ok")).await;
    let f = raw.frame().await;
    assert_eq!(
        (f.fin, f.opcode, f.masked, f.payload.as_slice()),
        (true, 0x1, false, &b"ok"[..])
    );
}

#[tokio::test]
async fn frames_sent_with_the_request_are_not_lost() {
    let server = serve("/echo", echo).await;
    let mut raw = Raw::connect(server.local_addr()).await;
    let mut bytes = upgrade_request("/echo", RFC_KEY, "").into_bytes();
    bytes.extend(masked(true, 0x2, &[1, 2, 3]));
    raw.send(&bytes).await;
    assert_eq!(status(&raw.read_head().await), 101);
    let f = raw.frame().await;
    assert_eq!((f.opcode, f.payload), (0x2, vec![1, 2, 3]));
}

/// Read a request head from `stream` one byte at a time, so nothing after
/// it is consumed, and return the `Sec-WebSocket-Key`.
async fn read_key_myself(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = within("request head", stream.read_u8()).await.unwrap();
        head.push(b);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("GET "), "{head}");
    header(&head, "Sec-WebSocket-Key")
        .expect("no Sec-WebSocket-Key")
        .to_owned()
}

#[tokio::test]
async fn websocket_new_on_a_stream_upgraded_by_the_caller() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.send(upgrade_request("/anything", RFC_KEY, "").as_bytes())
            .await;
        let head = raw.read_head().await;
        raw.send(&masked(true, 0x1, b"hi")).await;
        let reply = raw.frame().await;
        raw.send(&masked(true, 0x8, &close_payload(1000, ""))).await;
        let close = raw.expect_close().await;
        raw.expect_eof().await;
        (head, reply, close)
    });

    let (mut stream, _) = within("accept", listener.accept()).await.unwrap();
    let key = read_key_myself(&mut stream).await;
    assert_eq!(key, RFC_KEY);
    let mut ws = WebSocket::new(stream, key);
    assert_eq!(ws.state(), "CONNECTING");
    assert_eq!(ws.request().key(), RFC_KEY);
    ws.accept(None).await.unwrap();
    assert!(ws.is_open());
    assert_eq!(
        within("receive", ws.receive()).await.unwrap(),
        Message::Text("hi".into())
    );
    ws.send_text("back").await.unwrap();
    assert_eq!(
        within("receive close", ws.receive()).await.unwrap(),
        Message::Close(CloseCode::Normal, String::new())
    );
    within("wait_closed", ws.wait_closed()).await;

    let (head, reply, close) = within("client", client).await.unwrap();
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), Some(RFC_ACCEPT));
    assert_eq!(
        (reply.opcode, reply.payload.as_slice()),
        (0x1, &b"back"[..])
    );
    assert_eq!(close, Some(1000));
}

#[tokio::test]
async fn websocket_with_config_and_a_real_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/x"), stream)
            .await
            .expect("tungstenite checks the accept key");
        ws.send(WsMessage::text("small")).await.unwrap();
        let echo = ws_next(&mut ws).await;
        ws.send(WsMessage::binary(vec![0u8; 100])).await.unwrap();
        let close = ws_next(&mut ws).await;
        (echo, close)
    });

    let (mut stream, _) = within("accept", listener.accept()).await.unwrap();
    let key = read_key_myself(&mut stream).await;
    let config = WebSocketConfig {
        max_message_size: 64,
        ..WebSocketConfig::default()
    };
    let mut ws = WebSocket::with_config(stream, key, config);
    ws.accept(None).await.unwrap();
    let text = within("receive_text", ws.receive_text()).await.unwrap();
    ws.send_text(&text).await.unwrap();
    // 100 bytes is over the 64-byte limit: the connection fails with 1009.
    match within("receive", ws.receive()).await {
        Ok(Message::Close(CloseCode::Size, _)) => {}
        other => panic!("expected Close(1009), got {other:?}"),
    }

    let (echo, close) = within("client", client).await.unwrap();
    assert_eq!(echo, WsMessage::text("small"));
    match close {
        WsMessage::Close(Some(f)) => assert_eq!(f.code, WsCloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

async fn ws_next<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> WsMessage
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    within("client message", ws.next())
        .await
        .expect("stream ended")
        .expect("client error")
}

#[tokio::test]
async fn dropping_the_websocket_before_accept_refuses_with_403() {
    let server = serve("/ws", |ws: WebSocket| async move { drop(ws) }).await;
    let url = format!("ws://{}/ws", server.local_addr());
    match within("client handshake", tokio_tungstenite::connect_async(url)).await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 403),
        Err(other) => panic!("expected an HTTP 403 error, got {other:?}"),
        Ok(_) => panic!("the handshake must be refused"),
    }
    let (head, _) = http_exchange(server.local_addr(), &upgrade_request("/ws", RFC_KEY, "")).await;
    assert_eq!(status(&head), 403, "{head}");
}

#[tokio::test]
async fn close_before_accept_refuses_with_403() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let closed = ws.close(CloseCode::Normal, None).await;
            let _ = tx.send((closed.is_ok(), ws.state()));
        }
    })
    .await;
    let (head, _) = http_exchange(server.local_addr(), &upgrade_request("/ws", RFC_KEY, "")).await;
    assert_eq!(status(&head), 403, "{head}");
    assert_eq!(report(&mut rx).await, (true, "CLOSED"));
}

#[tokio::test]
async fn reject_sends_the_given_status_and_body() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            ws.reject(418, b"short and stout").await.unwrap();
            let state = (ws.state(), ws.is_open());
            let again = ws.reject(500, b"").await;
            let accept = ws.accept(None).await;
            let recv = ws.receive().await;
            let send = ws.send_text("x").await;
            let _ = tx.send((state, again, accept, recv, send));
        }
    })
    .await;
    let (head, body) =
        http_exchange(server.local_addr(), &upgrade_request("/ws", RFC_KEY, "")).await;
    assert_eq!(status(&head), 418, "{head}");
    assert_eq!(body, b"short and stout");
    assert_eq!(header(&head, "Content-Length"), Some("15"));

    let (state, again, accept, recv, send) = report(&mut rx).await;
    assert_eq!(state, ("CLOSED", false));
    assert!(
        matches!(again, Err(WebSocketError::AlreadyAccepted)),
        "{again:?}"
    );
    assert!(
        matches!(accept, Err(WebSocketError::AlreadyAccepted)),
        "{accept:?}"
    );
    assert!(
        matches!(recv, Err(WebSocketError::ConnectionClosed(..))),
        "{recv:?}"
    );
    assert!(send.is_err(), "send after reject: {send:?}");
}

#[tokio::test]
async fn handler_refusals_are_counted_as_such() {
    let server = serve("/ws", |mut ws: WebSocket| async move {
        if ws.request().query().contains("close") {
            let _ = ws.close(CloseCode::Normal, None).await; // before accept: 403
        } else {
            let _ = ws.reject(401, b"no token").await;
        }
    })
    .await;
    for (target, expected) in [("/ws", 401), ("/ws?close", 403)] {
        let (head, _) =
            http_exchange(server.local_addr(), &upgrade_request(target, RFC_KEY, "")).await;
        assert_eq!(status(&head), expected, "{head}");
    }
    let handler = || {
        let refused = server.stats().refused;
        refused
            .iter()
            .find(|(r, _)| r.as_str() == "handler")
            .map(|(_, n)| *n)
    };
    within("two handler refusals counted", async {
        while handler() != Some(2) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let others: u64 = server
        .stats()
        .refused
        .iter()
        .filter(|(r, _)| r.as_str() != "handler")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(others, 0);
}

#[tokio::test]
async fn misuse_before_and_after_accept() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let recv = ws.receive().await;
            let send = ws.send_text("early").await;
            let bad_proto = ws.accept(Some("bad token")).await;
            let state = ws.state();
            ws.accept(None).await.unwrap();
            let twice = ws.accept(None).await;
            let _ = tx.send((recv, send, bad_proto, state, twice));
            let _ = ws.receive().await;
        }
    })
    .await;
    let mut client = connect(&server, "/ws").await;
    let (recv, send, bad_proto, state, twice) = report(&mut rx).await;
    assert!(matches!(recv, Err(WebSocketError::NotAccepted)), "{recv:?}");
    assert!(matches!(send, Err(WebSocketError::NotAccepted)), "{send:?}");
    assert!(
        bad_proto.is_err(),
        "a subprotocol with a space is not a token"
    );
    assert_eq!(state, "CONNECTING");
    assert!(
        matches!(twice, Err(WebSocketError::AlreadyAccepted)),
        "{twice:?}"
    );
    client_close(&mut client, 1000, "").await;
    next_close(&mut client).await;
}

#[tokio::test]
async fn router_refuses_unknown_paths_with_404() {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let server = serve("/ws", move |ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            drop(ws);
        }
    })
    .await;
    let (head, _) =
        http_exchange(server.local_addr(), &upgrade_request("/nope", RFC_KEY, "")).await;
    assert_eq!(status(&head), 404, "{head}");
    let (head, _) = http_exchange(server.local_addr(), &upgrade_request("/ws/", RFC_KEY, "")).await;
    assert_eq!(status(&head), 404, "{head}");
    assert!(
        rx.try_recv().is_err(),
        "no handler may run for an unknown path"
    );
}

#[tokio::test]
async fn plain_get_gets_426_with_the_supported_version() {
    let server = serve("/ws", echo).await;
    let (head, _) = http_exchange(
        server.local_addr(),
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(status(&head), 426, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Version"), Some("13"));

    // An upgrade with an unsupported version gets the same answer.
    let request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 8\r\n\r\n";
    let (head, _) = http_exchange(server.local_addr(), request).await;
    assert_eq!(status(&head), 426, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Version"), Some("13"));
}

#[tokio::test]
async fn malformed_upgrade_requests_get_400() {
    let server = serve("/ws", echo).await;
    for key in ["", "not base64!", "c2hvcnQ="] {
        let (head, _) = http_exchange(server.local_addr(), &upgrade_request("/ws", key, "")).await;
        assert_eq!(status(&head), 400, "key {key:?}: {head}");
    }
    // Duplicate keys are refused too.
    let dup = upgrade_request(
        "/ws",
        RFC_KEY,
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n",
    );
    let (head, _) = http_exchange(server.local_addr(), &dup).await;
    assert_eq!(status(&head), 400, "duplicate key: {head}");
}

#[tokio::test]
async fn subprotocol_is_negotiated() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/ws", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let offered = ws.request().subprotocols().to_vec();
            let pick = offered.iter().find(|p| *p == "superchat").cloned();
            ws.accept(pick.as_deref()).await.unwrap();
            let _ = tx.send(offered);
            let _ = ws.receive().await;
        }
    })
    .await;
    let mut request = format!("ws://{}/ws", server.local_addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat, superchat".parse().unwrap());
    let (_client, response) = within(
        "client handshake",
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("handshake with a subprotocol");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("superchat")
    );
    assert_eq!(report(&mut rx).await, vec!["chat", "superchat"]);
}

#[tokio::test]
async fn request_data_is_available_to_the_handler() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve("/room", move |mut ws: WebSocket| {
        let tx = tx.clone();
        async move {
            let r = ws.request();
            let _ = tx.send((
                r.path().to_owned(),
                r.query().to_owned(),
                r.header("x-custom").map(str::to_owned),
                r.peer_addr(),
            ));
            ws.accept(None).await.unwrap();
        }
    })
    .await;
    let mut raw = Raw::connect(server.local_addr()).await;
    let local = raw.stream.local_addr().unwrap();
    raw.send(upgrade_request("/room?id=7&x=y", RFC_KEY, "X-Custom: hello\r\n").as_bytes())
        .await;
    assert_eq!(status(&raw.read_head().await), 101);
    let (path, query, custom, peer) = report(&mut rx).await;
    assert_eq!(path, "/room");
    assert_eq!(query, "id=7&x=y");
    assert_eq!(custom.as_deref(), Some("hello"));
    assert_eq!(peer, Some(local));
}

#[tokio::test]
async fn handshake_timeout_drops_a_slow_client() {
    let handshake_timeout = Duration::from_millis(300);
    let config = ServerConfig {
        handshake_timeout,
        ..ServerConfig::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let server = serve_with(config, "/ws", move |ws: WebSocket| {
        let _ = tx.send(());
        echo(ws)
    })
    .await;
    let mut raw = Raw::connect(server.local_addr()).await;
    // Half a request, then silence.
    raw.send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await;
    let start = Instant::now();
    let rest = raw.read_to_end().await;
    let waited = start.elapsed();
    assert!(rest.is_empty(), "no response is owed: {rest:?}");
    assert!(
        waited >= handshake_timeout / 2,
        "dropped after {waited:?}, before the {handshake_timeout:?} timeout"
    );
    assert!(rx.try_recv().is_err(), "the handler must never run");

    // A client that completes its request in time is served.
    let mut client = connect(&server, "/ws").await;
    client.send(WsMessage::text("in time")).await.unwrap();
    assert_eq!(next_msg(&mut client).await, WsMessage::text("in time"));
}

#[tokio::test]
async fn header_token_lists_and_case_are_accepted() {
    let server = serve("/ws", echo).await;
    let request = "GET /ws HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\n\
                   connection: keep-alive, Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   sec-websocket-version: 13\r\n\r\n";
    let mut raw = Raw::connect(server.local_addr()).await;
    raw.send(request.as_bytes()).await;
    let head = raw.read_head().await;
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), Some(RFC_ACCEPT));
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let server = serve("/ws", echo).await;
    let big = format!("X-Big: {}\r\n", "b".repeat(64 << 10));
    let mut raw = Raw::connect(server.local_addr()).await;
    // The server may answer (and close) before it has read everything we
    // send, so a failed write is fine; the answer is what counts.
    let _ = raw
        .stream
        .write_all(upgrade_request("/ws", RFC_KEY, &big).as_bytes())
        .await;
    let head = raw.read_head().await;
    assert_eq!(status(&head), 431, "{head}");
}

#[tokio::test]
async fn connections_beyond_max_connections_get_503() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let server = serve_with(config, "/ws", echo).await;
    let mut first = connect(&server, "/ws").await;
    let (head, _) = http_exchange(server.local_addr(), &upgrade_request("/ws", RFC_KEY, "")).await;
    assert_eq!(status(&head), 503, "{head}");
    // The first connection is unaffected.
    first.send(WsMessage::text("still here")).await.unwrap();
    assert_eq!(next_msg(&mut first).await, WsMessage::text("still here"));
}

#[tokio::test]
async fn accept_with_headers_adds_headers_but_never_splits_the_response() {
    let server = serve("/ws", |mut ws: WebSocket| async move {
        // A CR/LF in a value is refused with an error (not dropped), and the
        // connection can still be accepted with valid headers.
        let evil = vec![("X-Evil".to_owned(), "a\r\nX-Injected: yes".to_owned())];
        let err = ws.accept_with_headers(None, &evil).await.unwrap_err();
        assert!(err.to_string().contains("CR, LF"), "{err}");
        let headers = vec![("X-Served-By".to_owned(), "ferrosocket-test".to_owned())];
        ws.accept_with_headers(None, &headers).await.unwrap();
        let _ = ws.receive().await;
    })
    .await;
    let (mut raw, head) = Raw::upgrade(server.local_addr(), "/ws").await;
    assert_eq!(header(&head, "X-Served-By"), Some("ferrosocket-test"));
    assert_eq!(header(&head, "X-Injected"), None, "{head}");
    assert_eq!(header(&head, "Sec-WebSocket-Accept"), Some(RFC_ACCEPT));
    // Still a working connection after the head.
    raw.send(&masked(true, 0x9, b"?")).await;
    assert_eq!(raw.frame().await.opcode, 0xa);
}

#[tokio::test]
async fn upgrade_with_a_method_other_than_get_is_refused() {
    let server = serve("/ws", echo).await;
    let request = upgrade_request("/ws", RFC_KEY, "").replacen("GET", "POST", 1);
    let (head, _) = http_exchange(server.local_addr(), &request).await;
    let code = status(&head);
    assert!((400..500).contains(&code), "POST upgrade answered {head}");
}
