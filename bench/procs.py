"""Process plumbing for the harness: build loadgen, start a pinned server and
wait for its port, read a process tree's RSS, stop a server.

Servers start in their own session so that stopping one signals its whole
process group (granian's workers included) by the group's own id.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SCRATCH = BENCH / "results" / "tmp"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def cargo(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cargo", *args], cwd=cwd, text=True, capture_output=True)


def build_loadgen() -> Path:
    """cargo build --release -p ferrosocket-loadgen, in the workspace; if the
    workspace does not load (a member crate missing) or does not list loadgen,
    in a scratch workspace under bench/results/tmp that lists only it."""
    args = ["build", "--release", "-p", "ferrosocket-loadgen"]
    r = cargo(args, ROOT)
    if r.returncode != 0:
        if not any(m in r.stderr for m in ("failed to load manifest", "did not match any packages")):
            raise SystemExit(f"loadgen build failed:\n{r.stderr[-3000:]}")
        ws = SCRATCH / "loadgen-workspace"
        (ws / "bench").mkdir(parents=True, exist_ok=True)
        link = ws / "bench" / "loadgen"
        if not link.is_symlink():
            link.symlink_to(BENCH / "loadgen")
        lines = (ROOT / "Cargo.toml").read_text().splitlines()
        lines = ['members = ["bench/loadgen"]' if ln.startswith("members") else ln for ln in lines]
        (ws / "Cargo.toml").write_text("\n".join(lines) + "\n")
        r = cargo(args, ws)
        if r.returncode != 0:
            raise SystemExit(f"loadgen build failed:\n{r.stderr[-3000:]}")
    return target_dir() / "release" / "loadgen"


def build_rust_echo() -> str | None:
    """Builds the Rust-only echo example; returns why not if it cannot."""
    r = cargo(["build", "--release", "-p", "ferrosocket", "--example", "echo"], ROOT)
    if r.returncode == 0:
        return None
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error")] or r.stderr.splitlines()[-1:]
    return "cargo build --release -p ferrosocket --example echo failed: " + " | ".join(errors)[:300]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Started:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.proc, self.log, self.port = proc, log, port

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 2) -> str:
        """The last lines of the server's output: for a traceback, the error."""
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(ln.strip() for ln in text[-lines:])[-400:]


def start(cmd: list[str], cpu: str, log: Path, timeout: float = 30.0) -> Started | str:
    """Starts ``cmd`` pinned to ``cpu``; returns it once its port accepts, or
    a reason it did not come up."""
    port = int(cmd[cmd.index("--port") + 1])
    log.parent.mkdir(parents=True, exist_ok=True)
    if not shutil.which(cmd[0]) and not Path(cmd[0]).exists():
        return f"{cmd[0]} not found"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *cmd],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    s = Started(proc, log, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}: {s.log_tail()}"
        if port_open(port):
            return s
        time.sleep(0.05)
    stop(s)
    return f"port {port} not open after {timeout:.0f}s: {s.log_tail()}"


def stop(s: Started) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(s.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            s.proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Wait for the port to be released so the next server can bind its own.
    for _ in range(50):
        if not port_open(s.port):
            break
        time.sleep(0.05)


def tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def rss_kib(root: int) -> int:
    """VmRSS summed over the process tree (shared pages count once per
    process: an overestimate for multi-process servers, noted in the README)."""
    total = 0
    for pid in tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def machine_busy(seconds: float) -> float:
    """Share of one core the whole machine kept busy over ``seconds``, from
    /proc/stat, taken before a run so a busy machine is noticed up front."""

    def sample() -> tuple[int, int]:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(v) - v[3] - v[4] - v[7], sum(v) - v[7]  # busy, total (steal excluded)

    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    cores = os.cpu_count() or 1
    return (b1 - b0) / max(1, t1 - t0) * cores
