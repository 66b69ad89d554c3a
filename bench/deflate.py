"""Compressed JSON echo: server CPU per message with permessage-deflate on.

    python bench/deflate.py [--rounds 3] [--duration 5] [--connections 20] [--before PYTHON]

Each server runs pinned to CPU 0 with compression at its default settings:
ferrosocket (deflate on by default: 12-bit window, memLevel 5, level 6;
compression on its I/O thread), ferrosocket at levels 3 and 1, (with
`--before`) another build of ferrosocket at its former 12 / 5 / 3 settings,
websockets 17 (``compression="deflate"``), uvicorn + Starlette with
``ws="websockets"`` and ``ws_per_message_deflate=True``. The client, pinned
to CPU 1, is websockets with compression on: `--connections` connections each
send a ~2 KiB JSON message and wait for its echo, over and over. A Python
client cannot saturate these servers, so throughput here mostly measures the
client; server CPU per message (all threads, /proc) is the comparison.
Rounds are interleaved (A B C A B C …); medians and min..max are printed
and written to bench/results/deflate.md, with the compression ratio each
server achieved (raw message bytes over the compressed payload bytes the
client received). `--servers` picks some.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")

FERRO = ["-m", "ferrosocket", "ferrosocket.examples:echo", "--ping-interval", "0", "--log-level", "warning"]
SERVERS = {
    "ferrosocket": [sys.executable, *FERRO, "--port", "{port}"],
    "ferrosocket-level3": [sys.executable, *FERRO, "--compression-level", "3", "--port", "{port}"],
    "ferrosocket-level1": [sys.executable, *FERRO, "--compression-level", "1", "--port", "{port}"],
    "websockets": [sys.executable, str(HERE / "servers" / "deflate_peers.py"), "websockets", "{port}"],
    "uvicorn": [sys.executable, str(HERE / "servers" / "deflate_peers.py"), "uvicorn", "{port}"],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its descendants (all threads)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def message(i: int) -> str:
    rng = random.Random(i)
    rows = [
        {"id": rng.randrange(10**6), "symbol": rng.choice(["ABC", "XYZ", "FOO"]), "price": round(rng.random() * 1e3, 2),
         "size": rng.randrange(1, 500), "side": rng.choice(["buy", "sell"]), "venue": "primary"}
        for _ in range(16)
    ]  # fmt: skip
    return json.dumps({"type": "book", "seq": i, "rows": rows})


async def client(port: int, server_pid: int, connections: int, warmup: float, duration: float) -> dict[str, float]:
    from websockets.asyncio.client import connect

    payloads = [message(i) for i in range(64)]
    count = raw = wire = 0
    measuring = False

    async def one(k: int) -> None:
        nonlocal count, raw
        async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None, max_size=None) as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
            # Count the payload bytes of what the server sent before they are
            # inflated: the ratio each server actually achieves.
            extension = ws.protocol.extensions[0]
            inflate = extension.decode

            def decode(frame, *, max_size=None):  # noqa: ANN001, ANN202
                nonlocal wire
                if measuring:
                    wire += len(frame.data)
                return inflate(frame, max_size=max_size)

            extension.decode = decode  # type: ignore[method-assign]
            i = k
            while True:
                text = payloads[i % len(payloads)]
                await ws.send(text)
                assert await ws.recv() == text
                i += 1
                if measuring:
                    count += 1
                    raw += len(text)

    tasks = [asyncio.create_task(one(k)) for k in range(connections)]
    await asyncio.sleep(warmup)
    cpu0, t0 = tree_cpu(server_pid), time.monotonic()
    measuring = True
    await asyncio.sleep(duration)
    measuring = False
    cpu1, t1 = tree_cpu(server_pid), time.monotonic()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "msgs_per_s": count / (t1 - t0),
        "us_per_msg": (cpu1 - cpu0) * 1e6 / max(count, 1),
        "ratio": raw / max(wire, 1),
    }


def zlib_ratio(wbits: int, mem: int, level: int) -> float:
    """Compression ratio of the benchmark's message stream (context kept
    across messages, as in the run) with Python's zlib at these settings:
    what stock zlib gives, to compare with each server's measured ratio."""
    import zlib

    z = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem)
    raw = out = 0
    for i in range(256):
        m = message(i % 64).encode()
        raw += len(m)
        out += len(z.compress(m)) + len(z.flush(zlib.Z_SYNC_FLUSH)) - 4
    return raw / out


def run_one(name: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    cmd = [c.format(port=port) for c in SERVERS[name]]
    server = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)
        call = f"deflate.client({port}, {server.pid}, {args.connections}, {args.warmup}, {args.duration})"
        code = f"import asyncio, json, sys; sys.path.insert(0, {str(HERE)!r}); import deflate; "
        code += f"print(json.dumps(asyncio.run({call})))"
        out = subprocess.run(["taskset", "-c", "1", sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument(
        "--before",
        metavar="PYTHON",
        help="also run ferrosocket as 'ferrosocket-before' with this interpreter (another build), at 12 / 5 / level 3",
    )
    args = parser.parse_args()
    names = args.servers.split(",")
    if args.before:
        SERVERS["ferrosocket-before"] = [args.before, *FERRO, "--compression-window-bits", "12",
                                         "--compression-mem-level", "5", "--compression-level", "3",
                                         "--port", "{port}"]  # fmt: skip
        names.append("ferrosocket-before")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            res = run_one(name, args)
            results[name].append(res)
            print(
                f"[round {r + 1}] {name:18} {res['msgs_per_s']:8,.0f} msgs/s  {res['us_per_msg']:6.1f} us CPU/msg"
                f"  ratio {res['ratio']:.2f}"
            )
    size = len(message(0))
    lines = [
        "# Compressed JSON echo (permessage-deflate on)",
        "",
        f"Command: `python bench/deflate.py --rounds {args.rounds} --duration {args.duration} "
        f"--connections {args.connections}{' --before PYTHON' if args.before else ''}`; ~{size} B JSON messages; "
        "server on CPU 0, websockets client on CPU 1. Ratio: message bytes / compressed payload bytes the "
        f"server sent (stock zlib on this stream: 12 / 5 / level 6 gives {zlib_ratio(12, 5, 6):.2f}, "
        f"level 3 {zlib_ratio(12, 5, 3):.2f}).",
        "",
        "| server | msgs/s (client-bound) | µs server CPU/msg | cost ×websockets | ratio |",
        "|---|---|---|---|---|",
    ]
    base = statistics.median(r["us_per_msg"] for r in results["websockets"])
    for name, runs in results.items():
        thr = [r["msgs_per_s"] for r in runs]
        cost = [r["us_per_msg"] for r in runs]
        median = statistics.median(cost)
        lines.append(
            f"| {name} | {statistics.median(thr):,.0f} ({min(thr):,.0f}..{max(thr):,.0f}) | "
            f"{median:.1f} ({min(cost):.1f}..{max(cost):.1f}) | {median / base:.2f}× | "
            f"{statistics.median(r['ratio'] for r in runs):.2f} |"
        )
    table = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "deflate.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
