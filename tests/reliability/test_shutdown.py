"""Graceful shutdown (issue 6, item 7): server.close() closes every open
connection with 1001 (or the code given, e.g. 1012), stops accepting, waits
up to shutdown_timeout for handlers and cancels the rest; SIGTERM to the
CLI does the same and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time

import ferrosocket
import pytest
from relsupport import TIMEOUT
from support import Outcome, echo, fast_config
from websockets.asyncio.client import connect


async def _clients(port: int, n: int, path: str = "/echo") -> list:
    clients = []
    for i in range(n):
        c = await connect(f"ws://127.0.0.1:{port}{path}", open_timeout=TIMEOUT, ping_interval=None)
        await c.send(f"hi {i}")
        assert await asyncio.wait_for(c.recv(), TIMEOUT) == f"hi {i}"
        clients.append(c)
    return clients


@pytest.mark.parametrize(("args", "expected"), [((), 1001), ((1012,), 1012), ((1012, "restarting"), 1012)])
async def test_close_closes_every_client_with_the_code(args, expected):
    server = await ferrosocket.serve({"/echo": echo}, "127.0.0.1", 0, config=fast_config())
    port = server.port
    try:
        clients = await _clients(port, 3)
        server.close(*args)
        for c in clients:
            await asyncio.wait_for(c.wait_closed(), TIMEOUT)
            assert c.close_code == expected
            if len(args) > 1:
                assert c.close_reason == args[1]
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    finally:
        server.close()
    # Stopped accepting.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_handler_ignoring_the_close_is_cancelled_after_shutdown_timeout():
    shutdown_timeout = 0.5
    cancelled = asyncio.Event()

    async def stubborn(ws):
        await ws.accept()
        try:
            while True:  # ignores the close: never receives, just keeps running
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    outcome = Outcome(stubborn)
    server = await ferrosocket.serve(
        {"/s": outcome, "/echo": echo}, "127.0.0.1", 0, config=fast_config(shutdown_timeout=shutdown_timeout)
    )
    stubborn_client = await connect(f"ws://127.0.0.1:{server.port}/s", open_timeout=TIMEOUT, ping_interval=None)
    polite = await _clients(server.port, 1)
    started = time.monotonic()
    server.close()
    # Clients hear 1001 at once, whatever the handlers do.
    await asyncio.wait_for(stubborn_client.wait_closed(), TIMEOUT)
    assert stubborn_client.close_code == 1001
    await asyncio.wait_for(polite[0].wait_closed(), TIMEOUT)
    assert polite[0].close_code == 1001

    await asyncio.wait_for(server.wait_closed(), shutdown_timeout + 5)
    waited = time.monotonic() - started
    assert cancelled.is_set(), "the stubborn handler was cancelled"
    assert shutdown_timeout - 0.1 <= waited < shutdown_timeout + 2.5, waited
    with pytest.raises(asyncio.CancelledError):
        await outcome.result()


async def test_handler_finishing_cleanup_after_close_is_awaited():
    """A handler that takes a moment to clean up after the close is waited for
    (not cancelled) when within shutdown_timeout."""
    done = asyncio.Event()

    async def tidy(ws):
        await ws.accept()
        async for _ in ws:
            pass
        await asyncio.sleep(0.3)
        done.set()

    server = await ferrosocket.serve(tidy, "127.0.0.1", 0, config=fast_config(shutdown_timeout=5))
    client = await connect(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT, ping_interval=None)
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert done.is_set()
    assert client.close_code == 1001


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_to_the_cli_closes_clients_with_1001_and_exits_0(sig):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "ferrosocket.examples:echo",
        "--port",
        str(port),
        "--log-level",
        "info",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                clients = await _clients(port, 3)
                break
            except OSError:
                assert process.returncode is None, "the CLI exited"
                assert time.monotonic() < deadline, "the CLI did not start listening"
                await asyncio.sleep(0.05)
        process.send_signal(sig)
        for c in clients:
            await asyncio.wait_for(c.wait_closed(), TIMEOUT)
            assert c.close_code == 1001
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
        output = (await process.stdout.read()).decode()
        assert "closing 3 connection(s) with 1001" in output, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
