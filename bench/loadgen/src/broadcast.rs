//! broadcast: 1,000 receivers (broadcast-10k: 10,000) connect to
//! /broadcast, then one more client sends 64-byte text messages that the
//! server relays to all the others. Reports deliveries per second (messages
//! received, summed over receivers). Receivers count frames in bulk
//! ([`crate::recv`]) so the client can take several million deliveries/s.
//! Each message starts with a sequence number; receivers count messages
//! they missed or got out of order. broadcast-stalled adds one receiver
//! that never reads: a server that isolates slow consumers still delivers
//! every message to the others, in order. With `--spread-port`, every
//! other receiver connects to a second server that shares the topic
//! through a broker, so half the deliveries cross it.
//!
//! Flow control: the sender keeps at most `--inflight` (16) messages' worth
//! of deliveries outstanding, so a server is measured at the rate it can
//! sustain rather than at how much it can buffer. Before the window the
//! sender repeats a probe until every receiver has seen one, so a receiver
//! the server registered late cannot leave a permanent deficit.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::args::Args;
use crate::recv::{Reader, SEQ_DIGITS};
use crate::window::{self, Window};
use crate::ws::{self, Masked};

struct Tally {
    delivered: Cell<u64>,
    /// Receivers that have seen at least one message.
    reached: Cell<usize>,
    missing: Cell<u64>,
    out_of_order: Cell<u64>,
    /// The sender sleeps until `delivered` reaches this.
    wake_at: Cell<u64>,
    wake: Notify,
}

pub async fn run(args: &Args) -> Result<String, String> {
    let default = if args.scenario == "broadcast-10k" {
        10_000
    } else {
        1000
    };
    let n = args.connections.unwrap_or(default);
    let inflight = args.inflight.unwrap_or(16) as u64;
    let size = args.size.unwrap_or(64);
    let path = args.path_or("/broadcast");
    // With --spread-port, half the receivers are on a second server that
    // gets the messages through the broker.
    let (socks, failed, first) = match args.spread_port {
        None => ws::open_many(&args.host, args.port, &path, n, 50).await,
        Some(other) => {
            let (mut socks, f1, e1) = ws::open_many(&args.host, args.port, &path, n / 2, 50).await;
            let (more, f2, e2) = ws::open_many(&args.host, other, &path, n - n / 2, 50).await;
            socks.extend(more);
            (socks, f1 + f2, e1.or(e2))
        }
    };
    if failed > 0 {
        return Err(format!(
            "{failed} of {n} receivers failed: {}",
            first.unwrap_or_default()
        ));
    }
    let tally = Rc::new(Tally {
        delivered: Cell::new(0),
        reached: Cell::new(0),
        missing: Cell::new(0),
        out_of_order: Cell::new(0),
        wake_at: Cell::new(u64::MAX),
        wake: Notify::new(),
    });
    let win = Window::new();
    for s in socks {
        let (tally, win) = (tally.clone(), win.clone());
        tokio::task::spawn_local(async move {
            let mut reader = Reader::new(s);
            let mut seen = false;
            while let Ok(batch) = reader.next().await {
                if batch.messages > 0 && !seen {
                    seen = true;
                    tally.reached.set(tally.reached.get() + 1);
                }
                tally.missing.set(tally.missing.get() + batch.missing);
                tally
                    .out_of_order
                    .set(tally.out_of_order.get() + batch.out_of_order);
                let d = tally.delivered.get() + batch.messages;
                tally.delivered.set(d);
                win.done_many(batch.messages, batch.bytes);
                if batch.closed {
                    break;
                }
                if d >= tally.wake_at.get() {
                    tally.wake_at.set(u64::MAX);
                    tally.wake.notify_one();
                }
            }
        });
    }
    // Connected, never read: the server must not let it slow the others.
    let stalled = if args.scenario == "broadcast-stalled" {
        let sock = ws::connect_small_rcvbuf(&args.host, args.port, &path)
            .await
            .map_err(|e| format!("stalled receiver: {e}"))?;
        vec![sock]
    } else {
        Vec::new()
    };
    let sock = ws::connect(&args.host, args.port, &path)
        .await
        .map_err(|e| e.to_string())?;
    let mut sender = ws::client(sock);
    let filler = "b".repeat(size.saturating_sub(SEQ_DIGITS));
    let mut seq = 0u64;
    let mut next_msg = move || {
        seq += 1;
        Masked::text(&format!("{seq:0width$}{filler}", width = SEQ_DIGITS))
    };

    // Probe until every receiver is registered with the server's relay.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tally.reached.get() < n {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {n} receivers got a message",
                tally.reached.get()
            ));
        }
        let msg = next_msg();
        sender
            .write_frame(msg.frame())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let base = tally.delivered.get();

    let (s_win, s_tally) = (win.clone(), tally.clone());
    tokio::task::spawn_local(async move {
        let mut k = 0u64;
        while s_win.running() {
            // Message k may go once messages 0..k-inflight are all delivered.
            let need = base + k.saturating_sub(inflight) * n as u64;
            while s_tally.delivered.get() < need {
                s_tally.wake_at.set(need);
                s_tally.wake.notified().await;
            }
            let msg = next_msg();
            if sender.write_frame(msg.frame()).await.is_err() {
                s_win.error();
                return;
            }
            k += 1;
        }
    });
    let m = window::measure(&win, args).await;
    Ok(window::report(args, n, &win, &m)
        .int("size", size as u64)
        .int("inflight", inflight)
        .int("receivers", n as u64)
        .int("stalled", stalled.len() as u64)
        .int("missing", tally.missing.get())
        .int("out_of_order", tally.out_of_order.get())
        .finish())
}
