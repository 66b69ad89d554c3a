//! `loadgen`: the benchmark client of bench/run.py.
//!
//! One process, one current_thread tokio runtime (the harness pins it to one
//! core with `taskset`), one scenario per run. Every run has a warm-up, then a
//! fixed measured window, then prints exactly one JSON line on stdout with the
//! work done in the window, latency percentiles where they mean something, the
//! loadgen's own CPU time (getrusage) and the server's CPU time (read from
//! /proc for the process tree given by `--server-pid`). Reading the server's
//! CPU here rather than in the harness puts both snapshots exactly on the
//! window's edges.
//!
//! The client must not be the bottleneck, so the hot loops avoid per-message
//! work: payloads are masked once up front (see `ws::Masked`), frames are read
//! from fastwebsockets' reused buffer, and counters are plain `Cell`s shared
//! through `Rc` on the single thread.

mod args;
mod broadcast;
mod connect;
mod cpu;
mod hist;
mod idle;
mod json;
mod recv;
mod rtt;
mod stream;
mod window;
mod ws;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("loadgen: {msg}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    cpu::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async move {
        match args.scenario.as_str() {
            "rtt-1" | "rtt-100" => rtt::run(&args).await,
            "stream-64k" | "stream-1m" => stream::run(&args).await,
            "connect" => connect::run(&args).await,
            "broadcast" | "broadcast-10k" | "broadcast-stalled" => broadcast::run(&args).await,
            "idle" => idle::run(&args).await,
            other => Err(format!("unknown scenario {other}")),
        }
    });
    match result {
        Ok(line) => {
            println!("{line}");
            // Exit without dropping the runtime: open sockets are closed by
            // the kernel, and we do not wait on tasks stuck in a read.
            std::process::exit(0)
        }
        Err(msg) => {
            eprintln!("loadgen: {msg}");
            println!("{}", json::Obj::new().str("error", &msg).finish());
            std::process::exit(1)
        }
    }
}
