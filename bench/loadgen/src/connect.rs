//! connect: 20 workers, each in a loop: TCP connect, handshake, one 32-byte
//! echo, close handshake, wait for the server's FIN. Reports completed
//! connections per second and p50/p99 of the whole cycle. Servers close TCP
//! first after the close handshake (RFC 6455 §7.1.1), which keeps TIME_WAIT
//! off the client's ephemeral ports; we also half-close so a server that
//! waits for our FIN does not stall the cycle.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fastwebsockets::OpCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::Args;
use crate::window::{self, Window};
use crate::ws::{self, Got, Masked};

pub async fn run(args: &Args) -> Result<String, String> {
    let workers = args.connections.unwrap_or(20);
    let path = Rc::new(args.path_or("/"));
    let msg = Rc::new(Masked::text(&"x".repeat(args.size.unwrap_or(32))));
    let close = Rc::new(Masked::close_normal());
    let win = Window::new();
    for _ in 0..workers {
        let (win, msg, close, path) = (win.clone(), msg.clone(), close.clone(), path.clone());
        let host = args.host.clone();
        let port = args.port;
        tokio::task::spawn_local(async move {
            while win.running() {
                let t = Instant::now();
                match cycle(&host, port, &path, &msg, &close).await {
                    Ok(()) => win.done_timed(msg.len(), t, Instant::now()),
                    Err(_) => {
                        win.error();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }
    let m = window::measure(&win, args).await;
    Ok(window::report(args, workers, &win, &m).finish())
}

async fn cycle(host: &str, port: u16, path: &str, msg: &Masked, close: &Masked) -> io::Result<()> {
    let mut ws = ws::client(ws::connect(host, port, path).await?);
    ws.write_frame(msg.frame()).await.map_err(ws::to_io)?;
    match ws::read_data(&mut ws).await? {
        Got::Data(n) if n == msg.len() => {}
        _ => return Err(ws::bad("no echo")),
    }
    ws.write_frame(close.frame()).await.map_err(ws::to_io)?;
    loop {
        let f = ws.read_frame().await.map_err(ws::to_io)?;
        if f.opcode == OpCode::Close {
            break;
        }
    }
    let mut sock = ws.into_inner();
    let _ = sock.shutdown().await;
    let mut buf = [0u8; 64];
    let eof = async {
        while sock.read(&mut buf).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(2), eof)
        .await
        .map_err(|_| ws::bad("no FIN after close"))?
}
