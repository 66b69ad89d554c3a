//! stream-64k / stream-1m: binary echo on one connection with 16 messages in
//! flight, so neither side waits a round trip between messages. A writer
//! task and a reader task share the connection (split halves); a semaphore
//! holds the in-flight count. Reports echoed MiB/s (payload bytes that made
//! the full round trip).

use std::rc::Rc;

use fastwebsockets::{OpCode, WebSocketError};
use tokio::sync::Semaphore;

use crate::args::Args;
use crate::window::{self, Window};
use crate::ws::{self, Masked};

pub async fn run(args: &Args) -> Result<String, String> {
    let size = args.size.unwrap_or(if args.scenario == "stream-1m" {
        1 << 20
    } else {
        64 << 10
    });
    let inflight = args.inflight.unwrap_or(16);
    let n = args.connections.unwrap_or(1);
    let path = args.path_or("/");
    let (socks, failed, first) = ws::open_many(&args.host, args.port, &path, n, 50).await;
    if failed > 0 {
        return Err(format!(
            "{failed} of {n} connections failed: {}",
            first.unwrap_or_default()
        ));
    }
    // Content is irrelevant to a binary echo; a byte pattern is enough.
    let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let msg = Rc::new(Masked::new(OpCode::Binary, &payload));
    let win = Window::new();
    for s in socks {
        let (mut rd, mut wr) = ws::client(s).split(|s| s.into_split());
        let credit = Rc::new(Semaphore::new(inflight));
        let (w_win, w_msg, w_credit) = (win.clone(), msg.clone(), credit.clone());
        tokio::task::spawn_local(async move {
            while w_win.running() {
                w_credit.acquire().await.expect("semaphore").forget();
                if wr.write_frame(w_msg.frame()).await.is_err() {
                    w_win.error();
                    return;
                }
            }
        });
        let r_win = win.clone();
        tokio::task::spawn_local(async move {
            // Servers run with keepalive off; any control frame is ignored.
            let mut no_reply = |_| async { Ok::<(), WebSocketError>(()) };
            loop {
                match rd.read_frame(&mut no_reply).await {
                    Ok(f) if matches!(f.opcode, OpCode::Binary | OpCode::Text) => {
                        if f.payload.len() == size {
                            r_win.done(size);
                        } else {
                            r_win.error();
                        }
                        credit.add_permits(1);
                    }
                    Ok(f) if f.opcode == OpCode::Close => return,
                    Ok(_) => {}
                    Err(_) => {
                        if r_win.running() {
                            r_win.error();
                        }
                        return;
                    }
                }
            }
        });
    }
    let m = window::measure(&win, args).await;
    Ok(window::report(args, n, &win, &m)
        .int("size", size as u64)
        .int("inflight", inflight as u64)
        .finish())
}
