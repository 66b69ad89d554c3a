//! rtt-1 / rtt-100: N connections, each doing sequential round trips of a
//! 32-byte text message (one in flight per connection), all concurrently.
//! Reports round trips per second and p50/p99 latency. Latency includes the
//! client's own scheduling of the other connections, as for any real client.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::window::{self, Window};
use crate::ws::{self, Got, Masked};

pub async fn run(args: &Args) -> Result<String, String> {
    let n = args
        .connections
        .unwrap_or(if args.scenario == "rtt-1" { 1 } else { 100 });
    let size = args.size.unwrap_or(32);
    let path = args.path_or("/");
    let (socks, failed, first) = ws::open_many(&args.host, args.port, &path, n, 50).await;
    if failed > 0 {
        return Err(format!(
            "{failed} of {n} connections failed: {}",
            first.unwrap_or_default()
        ));
    }
    let msg = Rc::new(Masked::text(&"x".repeat(size)));
    let close = Rc::new(Masked::close_normal());
    let win = Window::new();
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|s| {
            tokio::task::spawn_local(echo_loop(
                ws::client(s),
                win.clone(),
                msg.clone(),
                close.clone(),
            ))
        })
        .collect();
    let m = window::measure(&win, args).await;
    // Let each connection finish its round trip and close cleanly.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        for t in tasks {
            let _ = t.await;
        }
    })
    .await;
    Ok(window::report(args, n, &win, &m)
        .int("size", size as u64)
        .finish())
}

async fn echo_loop(mut ws: ws::Ws, win: Rc<Window>, msg: Rc<Masked>, close: Rc<Masked>) {
    // One clock read per round trip: each one starts when the last ended.
    let mut t = Instant::now();
    while win.running() {
        if ws.write_frame(msg.frame()).await.is_err() {
            win.error();
            return;
        }
        let got = ws::read_data(&mut ws).await;
        let now = Instant::now();
        match got {
            Ok(Got::Data(len)) if len == msg.len() => win.done_timed(len, t, now),
            Ok(Got::Data(_)) => win.error(),
            _ => {
                win.error();
                return;
            }
        }
        t = now;
    }
    ws::close(&mut ws, &close).await;
}
