"""Broadcast across processes: one server vs two sharing a broker.

    python bench/broker.py --rounds 3 --duration 5

Interleaved rounds of the broadcast scenario (1,000 receivers, one sender,
64-byte messages) against three set-ups, each started fresh per run by
bench/servers/ferrosocket_group.py and pinned to CPU 0 with loadgen on CPU 1:

- ``single``: one ferrosocket process (the figure of bench/run.py);
- ``redis``: two ferrosocket processes sharing one redis-server; the sender
  and half the receivers on the first, the other half on the second
  (loadgen ``--spread-port``), so half of the deliveries cross Redis;
- ``bus``: the same two processes sharing a `ferrosocket.Bus` hub.

Server CPU is summed over the group's process tree, so the broker's CPU (Redis
or the hub) is counted. Results go to bench/results/broker.json and broker.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
from run import last_json, loadgen_cmd  # noqa: E402

SETUPS = ("single", "redis", "bus")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--setups", default=",".join(SETUPS))
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--out", type=Path, default=procs.BENCH / "results")
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    a.size = None
    return a


def run_one(lg: Path, a: argparse.Namespace, setup: str, log: Path) -> dict[str, Any]:
    port, port2 = procs.free_port(), procs.free_port()
    cmd = [sys.executable, "bench/servers/ferrosocket_group.py", "--port", str(port)]
    if setup != "single":
        cmd += ["--port2", str(port2), "--via", setup]
    rec: dict[str, Any] = {"setup": setup}
    started = procs.start(cmd, a.server_cpu, log)
    if isinstance(started, str):
        rec["error"] = started
        return rec
    try:
        time.sleep(0.5)
        cmd_lg = loadgen_cmd(lg, a, "broadcast", port, started.pid)
        if setup != "single":
            cmd_lg += ["--spread-port", str(port2)]
        p = subprocess.run(cmd_lg, capture_output=True, text=True, timeout=a.warmup + a.duration + 120)
        rec["result"] = last_json(p.stdout)
        if not rec["result"] or "error" in rec["result"]:
            rec["error"] = (rec["result"] or {}).get("error") or p.stderr.strip()[-500:] or started.log_tail()
    finally:
        procs.stop(started)
    return rec


def main() -> None:
    a = parse()
    lg = procs.target_dir() / "release" / "loadgen"
    if not a.no_build:
        lg = procs.build_loadgen()
    setups = a.setups.split(",")
    records = []
    for r in range(a.rounds):
        for setup in setups:
            rec = run_one(lg, a, setup, a.out / "logs" / f"broker-{setup}-{r}.log")
            records.append(rec)
            res = rec.get("result") or {}
            print(setup, r, rec.get("error") or f"{res.get('ops_per_s', 0):.0f}/s", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "broker.json").write_text(json.dumps(records, indent=1))
    lines = [
        "| set-up | deliveries/s (median, min..max) | server+broker µs CPU/delivery | missing | out of order |",
        "|---|---|---|---|---|",
    ]
    for setup in setups:
        ok = [rec["result"] for rec in records if rec["setup"] == setup and "error" not in rec]
        if not ok:
            lines.append(f"| {setup} | failed | | | |")
            continue
        rates = [res["ops_per_s"] for res in ok]
        cost = [res["server_cpu_s"] * 1e6 / max(1, res["ops"]) for res in ok]
        missing = sum(res.get("missing", 0) for res in ok)
        disorder = sum(res.get("out_of_order", 0) for res in ok)
        lines.append(
            f"| {setup} | {statistics.median(rates):,.0f} ({min(rates):,.0f}..{max(rates):,.0f}) "
            f"| {statistics.median(cost):.3f} | {missing} | {disorder} |"
        )
    table = "\n".join(lines)
    (a.out / "broker.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
