//! CPU accounting: the loadgen's own (getrusage) and the server's, summed
//! over the server's process tree from /proc/PID/stat. utime+stime there
//! covers all threads of a process, and cutime+cstime the children it has
//! reaped, so a server with worker processes (granian) is counted whole.
//! Ticks are 10 ms; over a multi-second window that is well under 1%.

use std::collections::HashMap;
use std::fs;

pub fn raise_nofile_limit() {
    // idle opens 10,000 sockets; lift the soft limit to the hard one.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// This process's user+system CPU seconds.
pub fn self_cpu() -> f64 {
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// CPU seconds of `root` and all its descendants, or None if it is gone.
pub fn tree_cpu(root: u32) -> Option<f64> {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut procs: HashMap<u32, (u32, u64)> = HashMap::new(); // pid -> (ppid, ticks)
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(v) = stat_ticks(pid) {
            procs.insert(pid, v);
        }
    }
    procs.get(&root)?;
    let mut total = 0u64;
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some(&(_, t)) = procs.get(&p) {
            total += t;
        }
        stack.extend(
            procs
                .iter()
                .filter(|(_, (pp, _))| *pp == p)
                .map(|(c, _)| *c),
        );
    }
    Some(total as f64 / tick)
}

/// (ppid, utime+stime+cutime+cstime) from /proc/PID/stat.
fn stat_ticks(pid: u32) -> Option<(u32, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // f[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17.
    let ppid = f.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for i in 11..15 {
        ticks += f.get(i)?.parse::<i64>().ok()?.max(0) as u64;
    }
    Some((ppid, ticks))
}

/// Machine-wide CPU seconds from /proc/stat: (busy, steal), summed over all
/// CPUs. The harness shares the machine with whatever else runs; busy time
/// that is neither the server's nor ours shows how noisy a window was.
pub fn machine_cpu() -> Option<(f64, f64)> {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    // Steal is time the vCPU did not run at all: reported apart, not as busy.
    let busy = v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)? - v.get(7)?;
    Some((busy as f64 / tick, *v.get(7)? as f64 / tick))
}
