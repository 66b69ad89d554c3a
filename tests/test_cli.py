"""`python -m ferrosocket` in a subprocess: it starts, serves, and stops
cleanly on SIGTERM/SIGINT, closing open connections with 1001; with no app it
serves the demo (page at /, chat at /chat, echo at /echo)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp
import pytest
import websockets
from clisupport import STARTUP, free_port
from support import TIMEOUT
from websockets.asyncio.client import connect


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("sig", "loop"),
    [
        (signal.SIGTERM, "asyncio"),
        (signal.SIGINT, "asyncio"),
        pytest.param(
            signal.SIGTERM, "uvloop", marks=pytest.mark.skipif(not has_uvloop(), reason="uvloop not installed")
        ),
    ],
    ids=["SIGTERM", "SIGINT", "SIGTERM-uvloop"],
)
async def test_echo_app_serves_and_stops_cleanly(cli, sig, loop):
    running = await cli("ferrosocket.examples:echo", "--loop", loop)
    async with connect(f"ws://127.0.0.1:{running.port}/any/path") as client:
        await client.send("text ✓")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "text ✓"
        await client.send(b"\x00binary")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"\x00binary"
        returncode = await running.stop(sig)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(client.recv(), TIMEOUT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    output = await running.output()
    assert returncode == 0, output
    assert "Traceback" not in output, output


async def test_sigterm_with_no_connections_exits_zero(cli):
    running = await cli("ferrosocket.examples:echo")
    # A handler ran, so the loop is past installing its signal handlers.
    async with connect(f"ws://127.0.0.1:{running.port}/") as client:
        await client.send("up?")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "up?"
    assert await running.stop() == 0, await running.output()


SLOW_LOG_APP = """
import logging
import time

from ferrosocket.examples import echo


class SlowSink(logging.Handler):
    def emit(self, record):
        if "serving on" in record.getMessage():
            time.sleep(1.0)  # a slow log sink, e.g. a blocked pipe


logging.getLogger("ferrosocket").addHandler(SlowSink())
"""


async def test_sigterm_as_soon_as_the_port_accepts_exits_zero(tmp_path, monkeypatch, cli):
    (tmp_path / "slow_log_app.py").write_text(SLOW_LOG_APP)
    monkeypatch.chdir(tmp_path)
    running = await cli("slow_log_app:echo", "--log-level", "info")
    assert await running.stop() == 0


async def test_demo_serves_page_echo_and_chat(cli):
    running = await cli()
    base = f"127.0.0.1:{running.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{base}/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            page = await response.text()
    assert "<html" in page.lower()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{base}/favicon.ico") as response:
            assert response.status == 200, "a browser asking for the icon gets one, not a 404"
            assert response.headers["Content-Type"] == "image/svg+xml"

    async with connect(f"ws://{base}/echo") as client:
        await client.send("echo?")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "echo?"

    async def next_of(client, kind: str, **fields) -> dict:
        """The next message of this type (and these fields), skipping others."""
        while True:
            message = json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))
            assert "type" in message, message
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message

    async with connect(f"ws://{base}/chat?name=alice") as alice, connect(f"ws://{base}/chat?name=bob") as bob:
        await next_of(alice, "notice", text="bob joined (2 here)")
        await alice.send("hello bob")  # plain text is a chat message too
        assert await next_of(bob, "chat", name="alice") == {"type": "chat", "name": "alice", "text": "hello bob"}
        await bob.send(json.dumps({"type": "say", "text": "   "}))  # whitespace only: dropped
        await bob.send(json.dumps({"type": "say", "text": "hi alice"}))
        assert (await next_of(alice, "chat", name="bob"))["text"] == "hi alice"

        # Renaming needs no reconnect: a notice, then the new name.
        await bob.send(json.dumps({"type": "name", "name": "  robert  "}))
        assert (await next_of(alice, "notice"))["text"] == "bob is now robert"
        await bob.send(json.dumps({"type": "say", "text": "same socket"}))
        assert (await next_of(alice, "chat"))["name"] == "robert"

        # Pings are answered to the sender only (the page's round trip).
        await alice.send(json.dumps({"type": "ping", "id": 7}))
        assert await next_of(alice, "pong") == {"type": "pong", "id": 7}

        # The live panel: the server's own counters, once a second.
        stats = await next_of(bob, "stats")
        assert stats["connections"] == 2
        assert stats["in_per_s"] >= 0 and stats["out_per_s"] > 0, stats
    assert await running.stop() == 0


async def test_bad_app_spec_exits_with_error():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "no_such_module_here:app",
        "--port",
        str(free_port()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode != 0
    assert b"no_such_module_here" in output
