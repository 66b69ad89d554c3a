//! Client side of the connection: TCP connect, the HTTP/1.1 upgrade, and
//! frames that are masked once and then sent many times.
//!
//! The handshake is written here instead of using fastwebsockets' `upgrade`
//! feature because that pulls in hyper, and the `connect` scenario measures
//! handshakes per second: a plain request and a peek-then-read of the
//! response costs the client three syscalls. No `Sec-WebSocket-Extensions`
//! is offered, so compression is off whatever the server's defaults.

use std::cell::Cell;
use std::io;

use base64::Engine;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type Ws = WebSocket<TcpStream>;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Opens a TCP connection and performs the opening handshake on `path`.
/// Bytes the server sends after its 101 response stay in the socket, so a
/// broadcast that races the handshake is not lost.
pub async fn connect(host: &str, port: u16, path: &str) -> io::Result<TcpStream> {
    let sock = TcpStream::connect((host, port)).await?;
    upgrade(sock, host, port, path).await
}

/// [`connect`] with a small kernel receive buffer (set before connecting so
/// the TCP window respects it): a client that stops reading fills it fast.
pub async fn connect_small_rcvbuf(host: &str, port: u16, path: &str) -> io::Result<TcpStream> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| bad("no address"))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_recv_buffer_size(4096)?;
    let sock = socket.connect(addr).await?;
    upgrade(sock, host, port, path).await
}

async fn upgrade(mut sock: TcpStream, host: &str, port: u16, path: &str) -> io::Result<TcpStream> {
    sock.set_nodelay(true)?;
    let key = base64::engine::general_purpose::STANDARD.encode(random_bytes());
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await?;
    let head = read_head(&mut sock).await?;
    check_response(&head, &key)?;
    Ok(sock)
}

/// A WebSocket over an upgraded stream. Masking is ours (`Masked`), so the
/// crate's per-frame masking and its automatic (unmasked, hence invalid from
/// a client) pong/close replies are turned off.
pub fn client(sock: TcpStream) -> Ws {
    let mut ws = WebSocket::after_handshake(sock, Role::Client);
    ws.set_auto_apply_mask(false);
    ws.set_auto_pong(false);
    ws.set_auto_close(false);
    ws
}

/// Reads the response head (up to the blank line) and nothing after it:
/// peek to find the end, then read exactly that many bytes.
async fn read_head(sock: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let n = sock.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during handshake",
            ));
        }
        let old = head.len();
        head.extend_from_slice(&buf[..n]);
        // The terminator may straddle what we consumed before and this peek.
        let from = old.saturating_sub(3);
        if let Some(pos) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + pos + 4;
            head.truncate(end);
            sock.read_exact(&mut buf[..end - old]).await?;
            return Ok(head);
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too long",
            ));
        }
        sock.read_exact(&mut buf[..n]).await?; // consume, so the next peek waits
    }
}

fn check_response(head: &[u8], key: &str) -> io::Result<()> {
    let text = std::str::from_utf8(head).map_err(|_| bad("non-UTF-8 response head"))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(bad(&format!("handshake refused: {status}")));
    }
    let want = base64::engine::general_purpose::STANDARD
        .encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
    let ok = lines
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == want
        });
    if ok {
        Ok(())
    } else {
        Err(bad("bad Sec-WebSocket-Accept"))
    }
}

pub fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A payload masked once with a fixed key. Servers cannot tell a reused key
/// from a fresh one, and this saves the client a pass over every payload it
/// sends (1 MiB per message in stream-1m).
pub struct Masked {
    opcode: OpCode,
    key: [u8; 4],
    masked: Vec<u8>,
}

impl Masked {
    pub fn new(opcode: OpCode, payload: &[u8]) -> Masked {
        let key = random_bytes()[..4].try_into().unwrap();
        let mut masked = payload.to_vec();
        fastwebsockets::unmask(&mut masked, key);
        Masked {
            opcode,
            key,
            masked,
        }
    }
    pub fn text(s: &str) -> Masked {
        Masked::new(OpCode::Text, s.as_bytes())
    }
    pub fn close_normal() -> Masked {
        Masked::new(OpCode::Close, &1000u16.to_be_bytes())
    }
    pub fn frame(&self) -> Frame<'_> {
        Frame::new(
            true,
            self.opcode,
            Some(self.key),
            Payload::Borrowed(&self.masked),
        )
    }
    pub fn len(&self) -> usize {
        self.masked.len()
    }
    pub fn key(&self) -> [u8; 4] {
        self.key
    }
    pub fn masked(&self) -> &[u8] {
        &self.masked
    }
}

/// What a data-frame read found.
pub enum Got {
    Data(usize),
    Closed,
}

/// Reads until a data frame (returns its length) or a close. Pings are
/// answered with a masked pong; servers run with keepalive off, so this
/// path is cold.
pub async fn read_data(ws: &mut Ws) -> io::Result<Got> {
    loop {
        let frame = ws.read_frame().await.map_err(to_io)?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => return Ok(Got::Data(frame.payload.len())),
            OpCode::Close => return Ok(Got::Closed),
            OpCode::Ping => {
                let pong = Masked::new(OpCode::Pong, &frame.payload);
                ws.write_frame(pong.frame()).await.map_err(to_io)?;
            }
            _ => {}
        }
    }
}

/// Sends a close frame and waits (bounded) for the server's close or EOF.
pub async fn close(ws: &mut Ws, close: &Masked) {
    if ws.write_frame(close.frame()).await.is_err() {
        return;
    }
    let wait = async {
        loop {
            match ws.read_frame().await {
                Ok(f) if f.opcode == OpCode::Close => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wait).await;
}

pub fn to_io(e: fastwebsockets::WebSocketError) -> io::Error {
    match e {
        fastwebsockets::WebSocketError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    t ^ ((std::process::id() as u64) << 32) | 1
}

/// 16 bytes from xorshift64*: handshake keys and mask keys only need to be
/// unpredictable enough that no cache in between could collide.
pub fn random_bytes() -> [u8; 16] {
    RNG.with(|r| {
        let mut out = [0u8; 16];
        for chunk in out.chunks_mut(8) {
            let mut x = r.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            r.set(x);
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        out
    })
}

/// Opens `n` connections with at most `parallel` handshakes at once (a burst
/// of SYNs would overflow a Python server's accept backlog and turn into
/// 1-second SYN retries). Returns the streams and the first few errors.
pub async fn open_many(
    host: &str,
    port: u16,
    path: &str,
    n: usize,
    parallel: usize,
) -> (Vec<TcpStream>, usize, Option<String>) {
    let gate = std::rc::Rc::new(tokio::sync::Semaphore::new(parallel));
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (gate, host, path) = (gate.clone(), host.to_string(), path.to_string());
        handles.push(tokio::task::spawn_local(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            connect(&host, port, &path).await
        }));
    }
    let (mut socks, mut failed, mut first) = (Vec::with_capacity(n), 0, None);
    for h in handles {
        match h.await {
            Ok(Ok(s)) => socks.push(s),
            Ok(Err(e)) => {
                failed += 1;
                first.get_or_insert(e.to_string());
            }
            Err(e) => {
                failed += 1;
                first.get_or_insert(e.to_string());
            }
        }
    }
    (socks, failed, first)
}
