//! The measured window shared by a scenario's tasks: a phase flag (warm-up,
//! measure, done) and counters that only move while measuring. Everything
//! runs on one thread, so `Cell`/`RefCell` behind an `Rc` replace atomics.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::cpu;
use crate::hist::Hist;
use crate::json::Obj;

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

pub struct Window {
    phase: Cell<Phase>,
    ops: Cell<u64>,
    bytes: Cell<u64>,
    errors: Cell<u64>,
    hist: RefCell<Hist>,
}

impl Window {
    pub fn new() -> Rc<Window> {
        Rc::new(Window {
            phase: Cell::new(Phase::Warmup),
            ops: Cell::new(0),
            bytes: Cell::new(0),
            errors: Cell::new(0),
            hist: RefCell::new(Hist::new()),
        })
    }

    pub fn running(&self) -> bool {
        self.phase.get() != Phase::Done
    }

    /// Counts one unit of work finished now, if now is inside the window.
    pub fn done(&self, bytes: usize) {
        if self.phase.get() == Phase::Measure {
            self.ops.set(self.ops.get() + 1);
            self.bytes.set(self.bytes.get() + bytes as u64);
        }
    }

    /// Counts `n` units of work (`bytes` in all) finished now.
    pub fn done_many(&self, n: u64, bytes: u64) {
        if self.phase.get() == Phase::Measure {
            self.ops.set(self.ops.get() + n);
            self.bytes.set(self.bytes.get() + bytes);
        }
    }

    /// Like `done`, and records how long the unit took (`started` to `now`).
    pub fn done_timed(&self, bytes: usize, started: Instant, now: Instant) {
        if self.phase.get() == Phase::Measure {
            self.done(bytes);
            self.hist
                .borrow_mut()
                .record((now - started).as_nanos() as u64);
        }
    }

    pub fn error(&self) {
        self.errors.set(self.errors.get() + 1);
    }
}

/// What the window saw, with both processes' CPU over exactly that span.
pub struct Measured {
    pub wall: f64,
    pub self_cpu: f64,
    pub server_cpu: Option<f64>,
    /// Busy CPU on the machine that was neither the server's nor ours, and
    /// hypervisor steal, both in seconds over the window.
    pub other_cpu: Option<f64>,
    pub steal: Option<f64>,
}

/// Sleeps through warm-up, opens the window, sleeps `duration`, closes it.
pub async fn measure(win: &Window, args: &Args) -> Measured {
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let server0 = args.server_pid.and_then(cpu::tree_cpu);
    let self0 = cpu::self_cpu();
    let machine0 = cpu::machine_cpu();
    let t0 = Instant::now();
    win.phase.set(Phase::Measure);
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    win.phase.set(Phase::Done);
    let wall = t0.elapsed().as_secs_f64();
    let self_cpu = cpu::self_cpu() - self0;
    let machine1 = cpu::machine_cpu();
    let server1 = args.server_pid.and_then(cpu::tree_cpu);
    let server_cpu = match (server0, server1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let (other_cpu, steal) = match (machine0, machine1) {
        (Some((b0, s0)), Some((b1, s1))) => {
            let other = b1 - b0 - self_cpu - server_cpu.unwrap_or(0.0);
            (Some(other.max(0.0)), Some(s1 - s0))
        }
        _ => (None, None),
    };
    Measured {
        wall,
        self_cpu,
        server_cpu,
        other_cpu,
        steal,
    }
}

/// The fields every scenario reports.
pub fn report(args: &Args, conns: usize, win: &Window, m: &Measured) -> Obj {
    let ops = win.ops.get();
    let bytes = win.bytes.get();
    let mut o = Obj::new()
        .str("scenario", &args.scenario)
        .int("connections", conns as u64)
        .num("window_s", m.wall)
        .int("ops", ops)
        .num("ops_per_s", ops as f64 / m.wall)
        .int("bytes", bytes)
        .num("mib_per_s", bytes as f64 / m.wall / (1 << 20) as f64)
        .int("errors", win.errors.get())
        .num("loadgen_cpu_s", m.self_cpu)
        .num("loadgen_cpu_share", m.self_cpu / m.wall)
        .opt("server_cpu_s", m.server_cpu)
        .opt("server_cpu_share", m.server_cpu.map(|c| c / m.wall))
        .opt("other_cpu_share", m.other_cpu.map(|c| c / m.wall))
        .opt("steal_share", m.steal.map(|c| c / m.wall));
    let h = win.hist.borrow();
    if h.count() > 0 {
        o = o
            .num("p50_us", h.quantile(0.50) as f64 / 1e3)
            .num("p99_us", h.quantile(0.99) as f64 / 1e3);
    }
    o
}
