//! Helpers shared by the integration tests: servers on 127.0.0.1:0, a real
//! client (tokio-tungstenite), and a raw TCP client that writes frames by hand
//! for malformed input and reads the server's frames byte by byte.
//!
//! Every wait goes through [`within`], so a broken server fails a test
//! instead of hanging the suite.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use ferrosocket::{Router, Server, ServerConfig, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(5);

/// The RFC 6455 §1.3 example key and the accept value it must produce.
pub const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Await `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    within_for(WAIT, what, fut).await
}

/// Await `fut`, failing the test if it takes longer than `limit`.
pub async fn within_for<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for: {what}"),
    }
}

/// Serve one route with the default configuration.
pub async fn serve<F, Fut>(path: &str, handler: F) -> Server
where
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    serve_with(ServerConfig::default(), path, handler).await
}

/// Serve one route with `config`.
pub async fn serve_with<F, Fut>(config: ServerConfig, path: &str, handler: F) -> Server
where
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Router::new()
        .route(path, handler)
        .config(config)
        .bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// A plain echo handler: text as text, binary as binary, until close.
pub async fn echo(mut ws: WebSocket) {
    if ws.accept(None).await.is_err() {
        return;
    }
    while let Ok(msg) = ws.receive().await {
        let sent = match msg {
            ferrosocket::Message::Text(t) => ws.send_text(&t).await,
            ferrosocket::Message::Binary(b) => ws.send_bytes(&b).await,
            _ => break,
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Connect the real client to `path` on `server`.
pub async fn connect(server: &Server, path: &str) -> Client {
    let url = format!("ws://{}{}", server.local_addr(), path);
    let (ws, response) = within("client handshake", tokio_tungstenite::connect_async(url))
        .await
        .expect("client handshake failed");
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The next message the client reads (pings and pongs included).
pub async fn next_msg(ws: &mut Client) -> WsMessage {
    within("a message from the server", ws.next())
        .await
        .expect("stream ended before a message arrived")
        .expect("client read error")
}

/// Read until the server's close frame and return it; fails on data.
pub async fn next_close(ws: &mut Client) -> CloseFrame {
    loop {
        match next_msg(ws).await {
            WsMessage::Close(Some(frame)) => return frame,
            WsMessage::Close(None) => panic!("close frame without a code"),
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// After the close frame: the stream must end (the server closes TCP).
pub async fn expect_end(ws: &mut Client) {
    loop {
        match within("the server to close TCP", ws.next()).await {
            None | Some(Err(_)) => return,
            Some(Ok(WsMessage::Close(_))) => continue,
            Some(Ok(other)) => panic!("expected the end of the stream, got {other:?}"),
        }
    }
}

/// Send a close frame from the client and flush it.
pub async fn client_close(ws: &mut Client, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    within("client close", ws.send(WsMessage::Close(Some(frame))))
        .await
        .expect("send close");
}

// ----- raw TCP ------------------------------------------------------------------

/// An upgrade request for `path` with `key` and any extra header lines
/// (each ending in `\r\n`).
pub fn upgrade_request(path: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: 127.0.0.1\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// One frame as a client would write it (`mask: None` writes it unmasked,
/// which a server must refuse).
pub fn frame_bytes(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked client frame.
pub fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_bytes(fin, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// A close payload: the code, big-endian, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame (None when the payload is empty).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 0x8, "not a close frame: {self:?}");
        if self.payload.len() >= 2 {
            Some(u16::from_be_bytes([self.payload[0], self.payload[1]]))
        } else {
            None
        }
    }
}

/// A hand-driven TCP client.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = within("TCP connect", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        Raw::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connect, send an upgrade request for `path` with the RFC key, and
    /// check that the answer is a 101. Returns the client and the head.
    pub async fn upgrade(addr: SocketAddr, path: &str) -> (Raw, String) {
        let mut raw = Raw::connect(addr).await;
        raw.send(upgrade_request(path, RFC_KEY, "").as_bytes())
            .await;
        let head = raw.read_head().await;
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "expected 101, got {head:?}"
        );
        (raw, head)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        within("raw write", self.stream.write_all(bytes))
            .await
            .expect("raw write");
    }

    /// Read more bytes into the buffer; `false` at EOF (or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match within("raw read", self.stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Read an HTTP response head (through the blank line); the bytes after
    /// it stay buffered.
    pub async fn read_head(&mut self) -> String {
        loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..pos + 4).collect();
                return String::from_utf8(head).expect("response head is not UTF-8");
            }
            assert!(
                self.fill().await,
                "connection closed before a complete response head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Everything until EOF (buffered bytes included).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// The next frame, or None at EOF.
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                assert!(
                    self.buf.is_empty(),
                    "EOF in the middle of a frame: {:?}",
                    self.buf
                );
                return None;
            }
        }
    }

    /// The next frame, which must exist.
    pub async fn frame(&mut self) -> RawFrame {
        self.read_frame()
            .await
            .expect("connection closed before a frame arrived")
    }

    /// Read until a close frame (skipping anything else) and return its code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            let f = self.frame().await;
            assert!(!f.masked, "server frames must not be masked: {f:?}");
            if f.opcode == 0x8 {
                return f.close_code();
            }
        }
    }

    /// After a close frame: nothing but EOF may follow.
    pub async fn expect_eof(&mut self) {
        if let Some(f) = self.read_frame().await {
            panic!("expected EOF, got a frame {f:?}");
        }
    }
}

fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let rsv = (buf[0] >> 4) & 0x7;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return None;
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            if buf.len() < 10 {
                return None;
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let mask = if masked {
        if buf.len() < at + 4 {
            return None;
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < at + len {
        return None;
    }
    let mut payload = buf[at..at + len].to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    Some((
        RawFrame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        },
        at + len,
    ))
}

/// The value of header `name` in a response head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The status code of a response head.
pub fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"))
}

/// Send `request` on a fresh connection and read the whole response
/// (the server closes after a refusal). Returns (head, body).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut raw = Raw::connect(addr).await;
    raw.send(request.as_bytes()).await;
    let head = raw.read_head().await;
    let body = raw.read_to_end().await;
    (head, body)
}

/// The next value a handler reported on its channel.
pub async fn report<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    within("a report from the handler", rx.recv())
        .await
        .expect("the handler ended (or panicked) before reporting")
}
