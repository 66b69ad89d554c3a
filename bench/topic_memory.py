"""What 10,000 subscriptions cost: server RSS with 10,000 open connections,
subscribed to one topic or not, and after publishing to all of them.

    python bench/topic_memory.py [N]

The server runs in this process (ferrosocket.serve); the clients run in a
child process (tests/many_subscribers.py), so only the server's memory is
read from /proc/self/status. Each case starts a fresh server; RSS is the
process's, so compare the cases with each other, not with zero.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import ferrosocket

CLIENTS = Path(__file__).resolve().parent.parent / "tests" / "many_subscribers.py"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def case(n: int, subscribe: bool) -> dict[str, int]:
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        if subscribe:
            ws.subscribe("everyone")
        await ws.receive()

    config = ferrosocket.WebSocketConfig(max_connections=n + 100, shutdown_timeout=1.0, close_timeout=1.0)
    async with ferrosocket.serve(handler, "127.0.0.1", 0, config=config) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CLIENTS), str(server.port), str(n), "/", "hello",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout and proc.stdin
        assert (await proc.stdout.readline()).strip() == b"ready"
        while server.stats()["connections_open"] < n or (subscribe and server.subscribers("everyone") < n):
            await asyncio.sleep(0.05)
        gc.collect()
        await asyncio.sleep(0.5)
        open_kib = rss_kib()
        queued = server.publish("everyone", "hello")
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        got = (await proc.stdout.readline()).decode().strip() if subscribe else "-"
        published_kib = rss_kib()
        proc.kill()
        await proc.wait()
    return {"open_kib": open_kib, "after_publish_kib": published_kib, "queued": queued, "got": got}  # type: ignore[dict-item]


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    plain = await case(n, subscribe=False)
    subscribed = await case(n, subscribe=True)
    print(f"{n} connections, not subscribed: RSS {plain['open_kib'] / 1024:.1f} MiB")
    print(f"{n} connections, subscribed:     RSS {subscribed['open_kib'] / 1024:.1f} MiB")
    delta = subscribed["open_kib"] - plain["open_kib"]
    print(f"subscriptions cost: {delta} KiB in all, {delta * 1024 / n:.0f} bytes each")
    print(
        f"publish to all: queued {subscribed['queued']}, clients {subscribed['got']}, "
        f"RSS after {subscribed['after_publish_kib'] / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
