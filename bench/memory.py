"""Memory per connection, with compression off and on: idle, and after a few
compressed messages.

    python bench/memory.py [--connections 1000] [--messages 3] [--servers ...] [--no-context-takeover]

Each server runs pinned to CPU 0 with permessage-deflate enabled (picows has
none: its rows are compression off only). A websockets client, pinned to
CPU 1, opens `--connections` connections and holds them, three times per
server, each time against a fresh server process:

- **off**: the client offers no compression; the connections stay idle;
- **on, idle**: the client offers permessage-deflate (websockets' default
  offer) and the server accepts; the connections stay idle;
- **on, active**: the same, after each connection has sent `--messages`
  ~2 KiB JSON messages and received their echoes (compressed both ways).

With `--no-context-takeover` the client's offer also asks for
`server_no_context_takeover` and `client_no_context_takeover` (both sides
reset their compressor after every message); results then go to
bench/results/memory-nct.md.

The figure is the server's RSS (summed over its process tree) once all
connections are open (and, for active, all echoes received), minus its RSS
before the first connection, divided by the number of connections. The
results go to bench/results/memory.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import procs  # noqa: E402
from deflate import message  # noqa: E402

PY = sys.executable
SERVERS = {
    "ferrosocket": [PY, "-m", "ferrosocket", "ferrosocket.examples:echo", "--ping-interval", "0",
                    "--log-level", "warning", "--port", "{port}"],
    "ferrosocket-rust": [str(procs.target_dir() / "release" / "examples" / "echo"), "--ping-interval", "0",
                         "--port", "{port}"],
    "websockets": [PY, str(HERE / "servers" / "deflate_peers.py"), "websockets", "--port", "{port}"],
    "uvicorn": [PY, str(HERE / "servers" / "deflate_peers.py"), "uvicorn", "--port", "{port}"],
    "picows": [PY, str(HERE / "servers" / "picows_server.py"), "--port", "{port}"],
}  # fmt: skip
NO_DEFLATE = {"picows"}
MODES = ["off", "on, idle", "on, active"]


async def hold(port: int, connections: int, compress: bool, messages: int, nct: bool = False) -> None:
    """Open the connections (and exchange messages), print `ready`, wait for
    a line on stdin, close."""
    from websockets.asyncio.client import connect
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    # websockets' own offer (memLevel 5, client_max_window_bits), plus the
    # no-context-takeover flags when asked for.
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=nct, client_no_context_takeover=nct, compress_settings={"memLevel": 5}
    )

    payloads = [message(i) for i in range(8)]
    sem = asyncio.Semaphore(50)
    clients = []

    async def one(k: int) -> None:
        async with sem:
            extensions = [factory] if compress else None
            ws = await connect(
                f"ws://127.0.0.1:{port}/", ping_interval=None, max_size=None, compression=None, extensions=extensions
            )
            clients.append(ws)
            for i in range(messages):
                text = payloads[(k + i) % len(payloads)]
                await ws.send(text)
                assert await ws.recv() == text

    await asyncio.gather(*(one(k) for k in range(connections)))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)


def measure(name: str, mode: str, args: argparse.Namespace) -> float | str:
    import subprocess

    port = procs.free_port()
    cmd = [c.format(port=port) for c in SERVERS[name]]
    log = procs.SCRATCH / f"memory-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = procs.start(cmd, "0", log)
    if isinstance(started, str):
        return started
    try:
        time.sleep(0.5)
        before = procs.rss_kib(started.pid)
        compress = mode != "off"
        messages = args.messages if mode == "on, active" else 0
        code = (
            f"import asyncio, sys; sys.path.insert(0, {str(HERE)!r}); import memory; "
            f"asyncio.run(memory.hold({port}, {args.connections}, {compress}, {messages}, {args.no_context_takeover}))"
        )
        client = subprocess.Popen(
            ["taskset", "-c", "1", PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert client.stdout is not None and client.stdin is not None
        line = client.stdout.readline()
        if line.strip() != "ready":
            client.kill()
            return f"client failed: {line!r}"
        time.sleep(1.0)
        after = procs.rss_kib(started.pid)
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(60)
        return (after - before) / args.connections
    finally:
        procs.stop(started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--no-context-takeover", action="store_true")
    args = parser.parse_args()
    procs.raise_fd_limit()
    results: dict[str, dict[str, float | str]] = {}
    for name in args.servers.split(","):
        results[name] = {}
        for mode in MODES:
            if mode != "off" and name in NO_DEFLATE:
                results[name][mode] = "no permessage-deflate"
                continue
            results[name][mode] = measure(name, mode, args)
            print(name, mode, results[name][mode], flush=True)
    flag = " --no-context-takeover" if args.no_context_takeover else ""
    lines = [
        f"`python bench/memory.py --connections {args.connections} --messages {args.messages}{flag}`: "
        "server KiB RSS per connection (lower is better)",
        "",
        "| server | compression off, idle | on, idle | on, after a few compressed messages |",
        "|---|---|---|---|",
    ]
    for name, row in results.items():
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in (row[m] for m in MODES)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    stem = "memory-nct" if args.no_context_takeover else "memory"
    (HERE / "results" / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (HERE / "results" / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
