"""Turns the harness's run records into the report: medians and min..max
per scenario and server, ratios to websockets and to the best peer, and a
Markdown table. ``python bench/report.py [latest.json]`` re-renders the
Markdown from a saved JSON.

A throughput ratio above 1 is better; a cost ratio (server CPU per unit of
work, or RSS per idle connection) below 1 is better. "Best peer" is the
best median among the peers only (ferrosocket entries excluded), picked
separately for throughput and for cost.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import BASELINE, SERVERS  # noqa: E402
from scenarios import BY_NAME  # noqa: E402

KIND = {s.name: s.kind for s in SERVERS}
CLIENT_BOUND = 0.9  # loadgen busy this share of its core: it may be the limit


def stats(xs: list[float]) -> dict[str, float] | None:
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def _median(recs: list[dict[str, Any]], key: str) -> float | None:
    xs = [r["result"][key] for r in recs if r["result"].get(key) is not None]
    return statistics.median(xs) if xs else None


def build(
    meta: dict[str, Any], runs: list[dict[str, Any]], skipped: dict[str, str], scenarios: list[str], servers: list[str]
) -> dict[str, Any]:
    summary: dict[str, dict[str, Any]] = {}
    for sc in scenarios:
        spec = BY_NAME[sc]
        row: dict[str, Any] = {}
        for name in servers:
            ok = [
                r for r in runs if r["scenario"] == sc and r["server"] == name and r.get("result") and "error" not in r
            ]
            if not ok:
                continue
            row[name] = {
                "throughput": stats([spec.throughput(r["result"]) for r in ok]),
                "cost": stats([spec.cost(r["result"], r) for r in ok]),
                "p50_us": _median(ok, "p50_us"),
                "p99_us": _median(ok, "p99_us"),
                "loadgen_cpu_share": _median(ok, "loadgen_cpu_share"),
                "server_cpu_share": _median(ok, "server_cpu_share"),
                "other_cpu_share": _median(ok, "other_cpu_share"),
                "steal_share": _median(ok, "steal_share"),
                "errors": sum(r["result"].get("errors", 0) for r in ok),
            }
        _ratios(row)
        summary[sc] = row
    failed = [r for r in runs if "error" in r]
    return {"meta": meta, "skipped": skipped, "summary": summary, "failed": failed, "runs": runs}


def _med(entry: dict[str, Any], key: str) -> float | None:
    s = entry.get(key)
    return s["median"] if s else None


def _ratios(row: dict[str, Any]) -> None:
    peers = {n: e for n, e in row.items() if KIND.get(n) == "peer"}
    thr = {n: _med(e, "throughput") for n, e in peers.items() if _med(e, "throughput")}
    cost = {n: _med(e, "cost") for n, e in peers.items() if _med(e, "cost")}
    best_thr = max(thr, key=thr.__getitem__) if thr else None
    best_cost = min(cost, key=cost.__getitem__) if cost else None
    base = row.get(BASELINE, {})
    for e in row.values():
        t, c = _med(e, "throughput"), _med(e, "cost")
        e["best_peer_throughput"], e["best_peer_cost"] = best_thr, best_cost
        e["throughput_vs_websockets"] = _div(t, _med(base, "throughput") if base else None)
        e["throughput_vs_best"] = _div(t, thr.get(best_thr) if best_thr else None)
        e["cost_vs_websockets"] = _div(c, _med(base, "cost") if base else None)
        e["cost_vs_best"] = _div(c, cost.get(best_cost) if best_cost else None)


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _span(s: dict[str, float] | None) -> str:
    if not s:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}..{fmt(s['max'])})"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    out = [
        "# ferrosocket benchmark: latest run",
        "",
        f"Command: `{m.get('command')}`  ",
        f"Started {m.get('started')}, {m.get('elapsed_s')} s; {m.get('rounds')} round(s), "
        f"{m.get('warmup_s')} s warm-up + {m.get('duration_s')} s measured per run; "
        f"server on CPU {m.get('server_cpu')}, loadgen on CPU {m.get('client_cpu')}.  ",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}, "
        f"Python {m.get('python')}, {m.get('rustc')}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()) + ".",
        "",
        "Throughput ratios: higher is better. Cost ratios (server CPU per unit of work, all "
        "threads and child processes; RSS per connection for idle): lower is better. "
        f"'Best peer' excludes ferrosocket. † = loadgen used ≥{CLIENT_BOUND:.0%} of its core: "
        "the client may be the limit there, so throughput is a lower bound while CPU per unit "
        "of work stays valid. CPU columns are shares of one core over the measured window; "
        "'other CPU' is busy time of everything else on the machine (noise).",
        "",
    ]
    if m.get("busy_before") is not None:
        out += [f"Before the run the machine was {m['busy_before']:.0%} busy (share of one core).", ""]
    noise = [r["result"]["other_cpu_share"] for r in doc["runs"] if (r.get("result") or {}).get("other_cpu_share")]
    if noise:
        out += [
            f"Noise: other processes used a median {statistics.median(noise):.0%} of a core during the "
            f"measured windows (max {max(noise):.0%}); above ~10%, treat throughput as approximate.",
            "",
        ]
    for sc, row in doc["summary"].items():
        spec = BY_NAME[sc]
        out += [f"## {sc}: {spec.what}", ""]
        if not row:
            out += ["No successful runs.", ""]
            continue
        any_lat = any(e.get("p50_us") for e in row.values())
        head = (
            ["server", spec.throughput_unit, spec.cost_unit, "thr ×ws", "thr ×best", "cost ×ws", "cost ×best"]
            + (["p50/p99 µs"] if any_lat else [])
            + ["server CPU", "loadgen CPU", "other CPU"]
        )
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, e in row.items():
            share = e.get("loadgen_cpu_share")
            mark = " †" if share is not None and share >= CLIENT_BOUND else ""
            cells = [
                name + (f" ({e['errors']} errors)" if e.get("errors") else ""),
                _span(e["throughput"]) + mark,
                _span(e["cost"]),
                _ratio(e["throughput_vs_websockets"]),
                _ratio(e["throughput_vs_best"]),
                _ratio(e["cost_vs_websockets"]),
                _ratio(e["cost_vs_best"]),
            ]
            if any_lat:
                cells.append(f"{fmt(e.get('p50_us'))} / {fmt(e.get('p99_us'))}")
            cells += [_pct(e.get("server_cpu_share")), _pct(share), _pct(e.get("other_cpu_share"))]
            out.append("| " + " | ".join(cells) + " |")
        first = next(iter(row.values()))
        out += ["", f"Best peer: throughput {first['best_peer_throughput']}, cost {first['best_peer_cost']}.", ""]
    if doc.get("skipped"):
        out += ["## Skipped", ""]
        out += [f"- **{k}**: {v[:300]}" for k, v in doc["skipped"].items()]
        out.append("")
    if doc.get("failed"):
        out += ["## Failed runs", ""]
        out += [
            f"- {r['server']} / {r['scenario']} (round {r.get('round')}): {str(r['error'])[:300]}"
            for r in doc["failed"]
        ]
        out.append("")
    return "\n".join(out)


def progress_line(rec: dict[str, Any]) -> str:
    head = f"[round {rec.get('round')}] {rec['scenario']:<10} {rec['server']:<20}"
    if "start_error" in rec:
        return f"{head} SKIPPED: {rec['start_error'][:200]}"
    if "error" in rec:
        return f"{head} FAILED: {str(rec['error'])[:200]}"
    spec, r = BY_NAME[rec["scenario"]], rec["result"]
    return (
        f"{head} {fmt(spec.throughput(r))} {spec.throughput_unit}, "
        f"{fmt(spec.cost(r, rec))} {spec.cost_unit}, "
        f"loadgen CPU {r.get('loadgen_cpu_share', 0):.0%}"
    )


def machine_notes() -> dict[str, Any]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in (
        "ferrosocket",
        "websockets",
        "picows",
        "aiohttp",
        "uvicorn",
        "starlette",
        "wsproto",
        "granian",
        "uvloop",
        "httptools",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    versions["loadgen client"] = "fastwebsockets 0.10 (Rust, tokio current_thread)"

    def cmd(*c: str) -> str:
        try:
            return subprocess.run(c, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rustc": cmd("rustc", "--version"),
        "git": cmd("git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"),
        "versions": versions,
    }


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results/latest.json"
    print(markdown(json.loads(path.read_text())))
