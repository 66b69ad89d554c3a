//! idle: open 10,000 connections (100 handshakes at a time) and hold them.
//! When all are open, print a `{"event": "ready", ...}` line so the harness
//! can read the server's RSS, then hold until stdin gets a line or closes
//! (or `--hold` seconds pass), then print the result line. Nothing is sent
//! on the connections: this measures what an idle connection costs.

use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use crate::args::Args;
use crate::cpu;
use crate::json::Obj;
use crate::ws;

pub async fn run(args: &Args) -> Result<String, String> {
    let n = args.connections.unwrap_or(10_000);
    let path = args.path_or("/");
    let server0 = args.server_pid.and_then(cpu::tree_cpu);
    let self0 = cpu::self_cpu();
    let t0 = Instant::now();
    let (socks, failed, first) = ws::open_many(&args.host, args.port, &path, n, 100).await;
    let setup = t0.elapsed().as_secs_f64();
    let self_cpu = cpu::self_cpu() - self0;
    let server_cpu = match (server0, args.server_pid.and_then(cpu::tree_cpu)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let fields = |o: Obj| {
        o.int("connections", n as u64)
            .int("open", socks.len() as u64)
            .int("errors", failed as u64)
            .str("first_error", first.as_deref().unwrap_or(""))
            .num("setup_s", setup)
            .num("ops_per_s", socks.len() as f64 / setup)
            .num("loadgen_cpu_s", self_cpu)
            .num("loadgen_cpu_share", self_cpu / setup)
            .opt("server_cpu_s", server_cpu)
            .opt("server_cpu_share", server_cpu.map(|c| c / setup))
    };
    println!("{}", fields(Obj::new().str("event", "ready")).finish());
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let _ = tokio::time::timeout(
        Duration::from_secs_f64(args.hold),
        stdin.read_line(&mut line),
    )
    .await;
    Ok(fields(Obj::new().str("scenario", "idle"))
        .int("ops", socks.len() as u64)
        .finish())
}
