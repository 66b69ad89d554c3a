"""Client benchmark: client CPU per message of ferrosocket.connect() beside
the websockets, aiohttp and picows clients, against one fixed server.

    python bench/client_run.py --rounds 3 --duration 5

The server is picows' echo (bench/servers/picows_server.py, uvloop), the
cheapest peer server, started once, pinned to ``--server-cpu``; it is the
same for every client, so differences are the clients'. Each run is a fresh
bench/clients.py process pinned to ``--client-cpu``, interleaved (for each
round, for each scenario, every client in turn). The cost is the client's
own CPU (all its threads) per round trip over the measured window; the
ratios divide by websockets' median and by the best other client's.
Writes bench/results/client.json and client.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
from clients import CLIENTS, CONNECTIONS  # noqa: E402
from report import _div, _pct, _ratio, _span, fmt, stats  # noqa: E402

OURS = ("ferrosocket", "ferrosocket-asyncio")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    p.add_argument("--scenarios", default=",".join(CONNECTIONS))
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--out", type=Path, default=procs.BENCH / "results")
    return p.parse_args()


def run_one(a: argparse.Namespace, client: str, scenario: str, server: procs.Started) -> dict[str, Any]:
    cmd = [
        "taskset", "-c", a.client_cpu, sys.executable, str(procs.BENCH / "clients.py"),
        "--client", client, "--scenario", scenario, "--port", str(server.port), "--server-pid", str(server.pid),
        "--warmup", str(a.warmup), "--duration", str(a.duration),
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.warmup + a.duration + 60)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"client": client, "scenario": scenario, "error": (r.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(lines[-1])


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    out = [
        f"Client benchmark, {meta['started']}: `{meta['command']}`; server: picows echo on CPU "
        f"{meta['server_cpu']}, clients on CPU {meta['client_cpu']}; the machine was "
        f"{meta['busy_before']:.0%} busy (of {meta['cores']} cores) before the run.",
        "",
        "| scenario | client | msgs/s | client µs CPU/msg | ÷ websockets | ÷ best other | client CPU | other CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, rows in doc["summary"].items():
        base = (rows.get("websockets") or {}).get("cost")
        for client, row in rows.items():
            cost = row.get("cost")
            others = [r["cost"]["median"] for c, r in rows.items() if c not in OURS and c != client and r.get("cost")]
            best = min(others) if others and client in OURS else None
            out.append(
                f"| {scenario} | {client} | {_span(row.get('rate'))} | {_span(cost)} | "
                f"{_ratio(_div(cost and cost['median'], base and base['median']))} | "
                f"{_ratio(_div(cost and cost['median'], best)) if best else '–'} | "
                f"{_pct(row.get('cpu'))} | {_pct(row.get('other'))} |"
            )
    for err in doc["errors"]:
        out.append(f"\nerror: {err}")
    return "\n".join(out) + "\n"


def main() -> None:
    a = parse()
    scenarios = [s for s in a.scenarios.split(",") if s]
    clients = [c for c in a.clients.split(",") if c]
    unknown = (set(scenarios) - set(CONNECTIONS)) | (set(clients) - set(CLIENTS))
    if unknown:
        raise SystemExit(f"unknown scenario or client: {', '.join(sorted(unknown))}")
    busy = procs.machine_busy(1.0)
    cmd = [sys.executable, str(procs.BENCH / "servers" / "picows_server.py"), "--port", str(procs.free_port())]
    server = procs.start(cmd, a.server_cpu, procs.SCRATCH / "logs" / "client-bench-picows.log")
    if isinstance(server, str):
        raise SystemExit(f"picows echo did not start: {server}")
    started = time.time()
    runs: list[dict[str, Any]] = []
    try:
        for rnd in range(1, a.rounds + 1):
            for scenario in scenarios:
                for client in clients:
                    rec = run_one(a, client, scenario, server) | {"round": rnd}
                    runs.append(rec)
                    shown = rec.get("error") or (
                        f"{fmt(rec['ops_per_s'])} msgs/s, {fmt(rec['cpu_us_per_msg'])} µs/msg, "
                        f"other CPU {rec['other_cpu_share']:.0%}"
                    )
                    print(f"[{rnd}] {scenario:8} {client:20} {shown}", flush=True)
    finally:
        procs.stop(server)
    summary: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        for client in clients:
            mine = [r for r in runs if r["scenario"] == scenario and r["client"] == client and "error" not in r]
            summary.setdefault(scenario, {})[client] = {
                "rate": stats([r["ops_per_s"] for r in mine]),
                "cost": stats([r["cpu_us_per_msg"] for r in mine]),
                "cpu": statistics.median([r["cpu_share"] for r in mine]) if mine else None,
                "other": statistics.median([r["other_cpu_share"] for r in mine]) if mine else None,
            }
    meta = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "busy_before": round(busy, 3),
        "cores": os.cpu_count(),
        "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu,
    }
    doc = {"meta": meta, "runs": runs, "summary": summary, "errors": [r["error"] for r in runs if "error" in r]}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "client.json").write_text(json.dumps(doc, indent=1) + "\n")
    (a.out / "client.md").write_text(markdown(doc))
    print(f"\nwrote {a.out / 'client.json'} and {a.out / 'client.md'}\n")
    print(markdown(doc))


if __name__ == "__main__":
    main()
