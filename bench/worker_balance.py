"""How evenly connections spread over worker processes: one SO_REUSEPORT
socket per worker (what ``--workers N --port P`` does) against one shared
listening socket (what it does with ``--fd`` or ``--uds``).

    python bench/worker_balance.py --connections 1000 --workers 2

Both run ``python -m ferrosocket --workers N``: the SO_REUSEPORT case with
``--port``, the shared case on a socket bound here and passed with ``--fd``. The app answers each connection
with its worker's pid. Three patterns: connections one after another,
connections held open (opened `--batch` at a time), and, with one worker
stopped (SIGSTOP: alive but not accepting, as a worker restarting or stuck
is), how many of 100 new connections get an answer within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

APP = """
import os

async def app(ws):
    await ws.accept()
    await ws.send_text(str(os.getpid()))
    async for _ in ws:
        pass
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def pid_of(port: int, timeout: float = 10.0) -> str | None:
    try:
        async with asyncio.timeout(timeout), connect(f"ws://127.0.0.1:{port}/") as ws:
            return str(await ws.recv())
    except (OSError, TimeoutError):
        return None


async def sequential(port: int, n: int) -> collections.Counter[str | None]:
    return collections.Counter([await pid_of(port) for _ in range(n)])


async def held(port: int, n: int, batch: int) -> collections.Counter[str | None]:
    counts: collections.Counter[str | None] = collections.Counter()
    open_ = []
    for start in range(0, n, batch):
        clients = [connect(f"ws://127.0.0.1:{port}/") for _ in range(min(batch, n - start))]
        sockets = await asyncio.gather(*(c.__aenter__() for c in clients))
        for ws in sockets:
            counts[str(await ws.recv())] += 1
        open_ += sockets
    await asyncio.gather(*(ws.close() for ws in open_))
    return counts


async def one_stopped(port: int, pids: list[int]) -> collections.Counter[str | None]:
    os.kill(pids[0], signal.SIGSTOP)
    try:
        results = await asyncio.gather(*(pid_of(port, timeout=1.0) for _ in range(100)))
    finally:
        os.kill(pids[0], signal.SIGCONT)
    return collections.Counter("no answer in 1 s" if r is None else r for r in results)


def worker_pids(supervisor: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


async def measure(mode: str, a: argparse.Namespace, cwd: str) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=cwd)
    base = [sys.executable, "-m", "ferrosocket", "app:app", "--log-level", "warning", "--no-access-log"]
    if mode == "reuseport":
        process = subprocess.Popen([*base, "--port", str(port), "--workers", str(a.workers)], cwd=cwd, env=env)
    else:
        shared = socket.create_server(("127.0.0.1", port), backlog=1024)
        cmd = [*base, "--fd", str(shared.fileno()), "--workers", str(a.workers)]
        process = subprocess.Popen(cmd, cwd=cwd, env=env, pass_fds=(shared.fileno(),))
        shared.close()
    try:
        await wait_port(port)
        await asyncio.sleep(1.0)  # every worker up
        pids = worker_pids(process.pid)
        print(f"{mode}: sequential {a.connections}:", dict(await sequential(port, a.connections)))
        print(f"{mode}: held {a.connections} ({a.batch} at a time):", dict(await held(port, a.connections, a.batch)))
        print(f"{mode}: worker {pids[0]} stopped, 100 new:", dict(await one_stopped(port, pids)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as cwd:
        Path(cwd, "app.py").write_text(APP)
        for mode in ("shared", "reuseport"):
            await measure(mode, a, cwd)


if __name__ == "__main__":
    asyncio.run(main())
