"""Benchmark ferrosocket against its peers: one command, interleaved rounds.

    python bench/run.py --rounds 3 --duration 5

For each round, each scenario, each server (A B C A B C ...): start the
server pinned to CPU 0, wait for its port, run loadgen pinned to CPU 1,
stop the server. loadgen reports the work done in the measured window, its
own CPU and the server process tree's CPU over that same window (it reads
/proc at the window's edges); the harness reads the server's RSS from
/proc before and after. A server whose command does not come up is skipped
for the rest of the run, and the report says why. Results go to
bench/results/latest.json and latest.md (see report.py); chart.py draws
the ratios. Nothing is installed here: see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
import report  # noqa: E402
from peers import SERVERS, Server  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    p.add_argument("--servers", default=",".join(s.name for s in SERVERS))
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--out", type=Path, default=procs.BENCH / "results")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--size", type=int, help="message size for the scenarios that take one (loadgen --size)")
    return p.parse_args()


def loadgen_cmd(lg: Path, a: argparse.Namespace, scenario: str, port: int, pid: int) -> list[str]:
    size = ["--size", str(a.size)] if a.size else []
    return [
        "taskset",
        "-c",
        a.client_cpu,
        str(lg),
        scenario,
        "--port",
        str(port),
        "--warmup",
        str(a.warmup),
        "--duration",
        str(a.duration),
        "--server-pid",
        str(pid),
        *size,
    ]


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def run_idle(cmd: list[str], pid: int, timeout: float) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
    """idle: wait for loadgen's ready line, let the server settle, read its
    RSS, then tell loadgen to finish (a line on its stdin)."""
    extra: dict[str, Any] = {}
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdin
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sel.select(timeout=1.0) == []:
        pass
    line = proc.stdout.readline() if time.monotonic() < deadline else ""
    ready = last_json(line) if line else None
    if ready and ready.get("event") == "ready":
        time.sleep(1.0)
        extra["rss_ready_kib"] = procs.rss_kib(pid)
    sel.close()
    try:
        # The line on stdin tells loadgen to finish; communicate() then closes it.
        out, err = proc.communicate(input="done\n", timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    out = line + out
    return last_json(out), extra, err


def run_one(lg: Path, a: argparse.Namespace, server: Server, scenario: str, log: Path) -> dict[str, Any]:
    rec: dict[str, Any] = {"server": server.name, "scenario": scenario}
    port = procs.free_port()
    subst = {"{port}": str(port), "{python}": sys.executable, "{target}": str(procs.target_dir())}
    cmd = []
    for arg in server.command(scenario) or ():
        for key, val in subst.items():
            arg = arg.replace(key, val)
        cmd.append(arg)
    started = procs.start(cmd, a.server_cpu, log)
    if isinstance(started, str):
        rec["start_error"] = started
        return rec
    try:
        time.sleep(0.2)  # let a just-started server finish its imports
        rec["rss_base_kib"] = procs.rss_kib(started.pid)
        cmd_lg = loadgen_cmd(lg, a, scenario, port, started.pid)
        budget = a.warmup + a.duration + 120
        if scenario == "idle":
            result, extra, err = run_idle(cmd_lg, started.pid, budget)
            rec.update(extra)
        else:
            try:
                p = subprocess.run(cmd_lg, capture_output=True, text=True, timeout=budget)
                result, err = last_json(p.stdout), p.stderr
            except subprocess.TimeoutExpired:
                result, err = None, "loadgen timed out"
        rec["rss_end_kib"] = procs.rss_kib(started.pid)
        rec["result"] = result
        if not result or "error" in result:
            rec["error"] = (result or {}).get("error") or err.strip()[-500:] or "no result"
            rec["server_log"] = started.log_tail()
    finally:
        procs.stop(started)
    return rec


def main() -> None:
    a = parse()
    scenarios = [s for s in a.scenarios.split(",") if s]
    wanted = set(a.servers.split(","))
    servers = [s for s in SERVERS if s.name in wanted]
    unknown = (set(scenarios) - {s.name for s in SCENARIOS}) | (wanted - {s.name for s in SERVERS})
    if unknown:
        raise SystemExit(f"unknown scenario or server: {', '.join(sorted(unknown))}")
    idle_before = procs.machine_busy(1.0)
    print(f"before the run, the machine was {idle_before:.0%} busy (of {os.cpu_count()} cores)", flush=True)
    fd_limit = procs.raise_fd_limit()
    skipped: dict[str, str] = {}
    if a.no_build:
        lg = procs.target_dir() / "release" / "loadgen"
    else:
        print("building loadgen (release)...", flush=True)
        lg = procs.build_loadgen()
        if any(s.name == "ferrosocket-rust" for s in servers):
            print("building the Rust echo example (release)...", flush=True)
            why = procs.build_rust_echo()
            if why:
                skipped["ferrosocket-rust"] = why
    started_at = time.time()
    runs: list[dict[str, Any]] = []
    dead: dict[tuple[str, ...], str] = {}  # command -> why it did not start
    for rnd in range(1, a.rounds + 1):
        for scenario in scenarios:
            for server in servers:
                cmd = server.command(scenario)
                if server.name in skipped:
                    continue
                if cmd is None:
                    continue  # no relay: not part of this scenario
                if cmd in dead:
                    continue
                log = procs.SCRATCH / "logs" / f"{server.name}-{scenario}-{rnd}.log"
                try:
                    rec = run_one(lg, a, server, scenario, log)
                except Exception as e:  # one broken run must not lose the others
                    rec = {"server": server.name, "scenario": scenario, "error": f"harness: {type(e).__name__}: {e}"}
                rec["round"] = rnd
                if "start_error" in rec:
                    dead[cmd] = rec["start_error"]
                    key = server.name if not scenario.startswith("broadcast") else f"{server.name} (broadcast)"
                    skipped[key] = rec["start_error"]
                runs.append(rec)
                print(report.progress_line(rec), flush=True)
    meta = report.machine_notes()
    meta.update(
        command=" ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        rounds=a.rounds,
        duration_s=a.duration,
        warmup_s=a.warmup,
        fd_limit=fd_limit,
        busy_before=round(idle_before, 3),
        server_cpu=a.server_cpu,
        client_cpu=a.client_cpu,
        started=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started_at)),
        elapsed_s=round(time.time() - started_at, 1),
    )
    doc = report.build(meta, runs, skipped, scenarios, [s.name for s in servers])
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "latest.json").write_text(json.dumps(doc, indent=1) + "\n")
    (a.out / "latest.md").write_text(report.markdown(doc))
    print(f"\nwrote {a.out / 'latest.json'} and {a.out / 'latest.md'}")
    print(report.markdown(doc))


if __name__ == "__main__":
    main()
