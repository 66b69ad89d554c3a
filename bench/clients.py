"""One client library driving round trips against an echo server, measuring
its own CPU: the load side of bench/client_run.py.

    python bench/clients.py --client ferrosocket --scenario rtt-100 --port 9001

``rtt-1``: one connection, sequential 32-byte text round trips; ``rtt-100``:
100 connections doing the same concurrently. After ``--warmup`` seconds a
window of ``--duration`` seconds is measured: round trips completed in it,
and this process's CPU (getrusage: every thread, so ferrosocket's engine
thread counts too); with ``--server-pid``, also the server's CPU and the
busy CPU of everything else on the machine (noise), from /proc. Prints one
JSON line.

Each library is driven its own idiomatic way: a coroutine awaiting each echo
for ferrosocket, websockets and aiohttp; a frame callback that sends the next
message for picows, which has no per-message coroutine (its fastest path).
Compression is off everywhere (picows has none) and so is keepalive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

PAYLOAD = "x" * 32
CLIENTS = ("ferrosocket", "ferrosocket-asyncio", "websockets", "aiohttp", "picows")
CONNECTIONS = {"rtt-1": 1, "rtt-100": 100}


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.running = True


async def ferrosocket_conn(uri: str, c: Counter) -> Callable[[], Awaitable[None]]:
    import ferrosocket

    ws = await ferrosocket.connect(uri, compression=None, ping_interval=None)

    async def loop() -> None:
        while c.running:
            await ws.send_text(PAYLOAD)
            await ws.receive_text()
            c.n += 1
        await ws.close()

    return loop


async def websockets_conn(uri: str, c: Counter) -> Callable[[], Awaitable[None]]:
    from websockets.asyncio.client import connect

    ws = await connect(uri, compression=None, ping_interval=None)

    async def loop() -> None:
        while c.running:
            await ws.send(PAYLOAD)
            await ws.recv()
            c.n += 1
        await ws.close()

    return loop


async def aiohttp_conn(uri: str, c: Counter) -> Callable[[], Awaitable[None]]:
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(uri, compress=0, autoping=False)

    async def loop() -> None:
        while c.running:
            await ws.send_str(PAYLOAD)
            await ws.receive_str()
            c.n += 1
        await ws.close()
        await session.close()

    return loop


async def picows_conn(uri: str, c: Counter) -> Callable[[], Awaitable[None]]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    data = PAYLOAD.encode()

    class Client(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                c.n += 1
                if c.running:
                    transport.send(WSMsgType.TEXT, data)

    transport, _ = await ws_connect(Client, uri, enable_auto_ping=False)

    async def loop() -> None:
        transport.send(WSMsgType.TEXT, data)
        while c.running:
            await asyncio.sleep(0.05)
        transport.send_close()
        transport.disconnect()

    return loop


OPEN = {
    "ferrosocket": ferrosocket_conn,
    "ferrosocket-asyncio": ferrosocket_conn,
    "websockets": websockets_conn,
    "aiohttp": aiohttp_conn,
    "picows": picows_conn,
}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(v) - v[3] - v[4] - v[7]) / TICK  # all but idle, iowait and steal


def process_cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime


async def main(a: argparse.Namespace) -> dict[str, float | int | str]:
    uri = f"ws://127.0.0.1:{a.port}/"
    c = Counter()
    loops = [await OPEN[a.client](uri, c) for _ in range(CONNECTIONS[a.scenario])]
    tasks = [asyncio.ensure_future(loop()) for loop in loops]
    await asyncio.sleep(a.warmup)
    n0, cpu0, t0, busy0, srv0 = c.n, cpu_s(), time.monotonic(), machine_busy_s(), process_cpu_s(a.server_pid)
    await asyncio.sleep(a.duration)
    n1, cpu1, t1, busy1, srv1 = c.n, cpu_s(), time.monotonic(), machine_busy_s(), process_cpu_s(a.server_pid)
    c.running = False
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    ops, cpu, wall, server = n1 - n0, cpu1 - cpu0, t1 - t0, srv1 - srv0
    return {
        "client": a.client,
        "scenario": a.scenario,
        "ops": ops,
        "ops_per_s": ops / wall,
        "client_cpu_s": cpu,
        "cpu_us_per_msg": cpu * 1e6 / ops if ops else float("nan"),
        "cpu_share": cpu / wall,
        "server_cpu_share": server / wall,
        "other_cpu_share": max(0.0, busy1 - busy0 - cpu - server) / wall,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--client", choices=CLIENTS, required=True)
    p.add_argument("--scenario", choices=tuple(CONNECTIONS), required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--server-pid", type=int, help="the echo server's pid, to tell its CPU from other load")
    args = p.parse_args()
    if args.client == "ferrosocket-asyncio":
        result = asyncio.run(main(args))
    else:
        import uvloop

        result = uvloop.run(main(args))
    print(json.dumps(result), flush=True)
