"""Unix domain sockets and inherited sockets (issue 6, item 6): serve(unix=),
serve(sock=) with a TCP or Unix listener the caller opened, and the CLI's
``--fd N`` as systemd or gunicorn would pass it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile

import aiohttp
import ferrosocket
import pytest
from relsupport import TIMEOUT, echo_ok
from support import echo, fast_config
from websockets.asyncio.client import connect, unix_connect


@pytest.fixture
def sock_path():
    # AF_UNIX paths are limited to ~107 bytes: keep it short.
    directory = tempfile.mkdtemp(prefix="fs-")
    path = os.path.join(directory, "ws.sock")
    yield path
    if os.path.exists(path):
        os.unlink(path)
    os.rmdir(directory)


async def _unix_echo_websockets(path: str) -> None:
    async with unix_connect(path, uri="ws://localhost/echo", open_timeout=TIMEOUT, ping_interval=None) as ws:
        for message in ("over a unix socket", b"\x00\x01" * 5000):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message


async def _unix_echo_aiohttp(path: str) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session:
        async with session.ws_connect("http://localhost/echo", timeout=aiohttp.ClientWSTimeout(ws_close=TIMEOUT)) as ws:
            await ws.send_str("aiohttp over unix")
            assert (await ws.receive(timeout=TIMEOUT)).data == "aiohttp over unix"
            await ws.send_bytes(b"\xff" * 70_000)
            assert (await ws.receive(timeout=TIMEOUT)).data == b"\xff" * 70_000


async def test_unix_socket_serves_websockets_and_aiohttp(sock_path):
    async with ferrosocket.serve({"/echo": echo}, unix=sock_path, config=fast_config()) as server:
        assert server.address == f"unix:{sock_path}"
        assert os.path.exists(sock_path)
        await _unix_echo_websockets(sock_path)
        await _unix_echo_aiohttp(sock_path)
        assert server.stats()["connections_total"] == 2


async def test_unix_socket_client_is_closed_with_1001_on_shutdown(sock_path):
    async with ferrosocket.serve({"/echo": echo}, unix=sock_path, config=fast_config()) as server:
        client = await unix_connect(sock_path, uri="ws://localhost/echo", open_timeout=TIMEOUT, ping_interval=None)
        server.close()
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
        assert client.close_code == 1001
        await server.wait_closed()


async def test_serving_on_an_already_listening_tcp_socket():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    try:
        async with ferrosocket.serve({"/echo": echo}, sock=listener, config=fast_config()) as server:
            assert server.port == port
            await echo_ok(port)
            async with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=TIMEOUT, ping_interval=None) as ws:
                await ws.send("adopted")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "adopted"
        # The caller still owns its descriptor (the engine used a duplicate).
        assert listener.fileno() >= 0
        assert listener.getsockname()[1] == port
    finally:
        listener.close()


async def test_serving_on_an_already_listening_unix_socket(sock_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(128)
    try:
        async with ferrosocket.serve({"/echo": echo}, sock=listener, config=fast_config()):
            await _unix_echo_websockets(sock_path)
    finally:
        listener.close()


async def test_cli_serves_on_an_inherited_descriptor():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "ferrosocket.examples:echo",
        "--fd",
        str(fd),
        "--log-level",
        "warning",
        pass_fds=(fd,),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    # The child has its own copy now; the backlog queues connections until it accepts.
    listener.close()
    try:
        async with connect(f"ws://127.0.0.1:{port}/any", open_timeout=30, ping_interval=None) as ws:
            await ws.send("via --fd")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "via --fd"
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_restart_on_the_same_unix_path(sock_path):
    async with ferrosocket.serve({"/echo": echo}, unix=sock_path, config=fast_config()):
        await _unix_echo_websockets(sock_path)
    # The same path again, as a restarted service would.
    async with ferrosocket.serve({"/echo": echo}, unix=sock_path, config=fast_config()):
        await _unix_echo_websockets(sock_path)
