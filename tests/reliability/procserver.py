"""A ferrosocket server in its own process, so a test can read the server's
memory (/proc/PID/status) apart from its own clients'.

Usage: ``python procserver.py '{"config": {...}}'``. It binds 127.0.0.1 on a
free port, prints ``READY <port>``, then one ``EVENT <json>`` line per
finished connection (path, close code, what the handler saw), and serves
until SIGTERM, when it closes with 1001 and exits 0.

Routes:
  /echo      echoes every message;
  /firehose  sends ``?size=N`` byte messages until the connection fails and
             reports how many it sent and the largest ``buffered_amount``;
  /deaf      accepts and never receives;
  /stats     sends ``server.stats()`` as JSON, then closes.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from typing import Any

import ferrosocket
from ferrosocket import WebSocket, WebSocketConfig, WebSocketDisconnect

server: ferrosocket.Server | None = None


def event(**fields: Any) -> None:
    print("EVENT " + json.dumps(fields), flush=True)


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        async for message in ws:
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_bytes(message)
    except WebSocketDisconnect as exc:
        event(path="/echo", query=ws.query_string, error="send", code=exc.code)
        return
    event(path="/echo", query=ws.query_string, code=ws.close_code)


async def firehose(ws: WebSocket) -> None:
    await ws.accept()
    size = int(ws.query_params.get("size", "65536"))
    chunk = bytes(size)
    sent = 0
    most = 0
    try:
        while True:
            await ws.send_bytes(chunk)
            sent += 1
            most = max(most, ws.buffered_amount)
    except WebSocketDisconnect as exc:
        event(path="/firehose", code=exc.code, sent=sent, max_buffered=most)


async def deaf(ws: WebSocket) -> None:
    """Accepts and never receives: the inbound queue fills up."""
    await ws.accept()
    await ws.wait_closed()
    event(path="/deaf", code=ws.close_code)


async def stats(ws: WebSocket) -> None:
    await ws.accept()
    assert server is not None
    await ws.send_text(json.dumps(server.stats()))


async def main(spec: dict[str, Any]) -> None:
    global server
    # Room for thousands of idle connections.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    config = WebSocketConfig(**spec.get("config", {}))
    app = {"/echo": echo, "/firehose": firehose, "/deaf": deaf, "/stats": stats}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await ferrosocket.serve(app, "127.0.0.1", 0, config=config)
    print(f"READY {server.port}", flush=True)
    await stop.wait()
    server.close(1001)
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
