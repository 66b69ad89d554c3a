"""The hardening settings from the command line (issue 6: "each setting ...
is exposed in WebSocketConfig / serve() / the CLI"): the flags that exist
take effect, and every WebSocketConfig field has a flag."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import websockets
from ferrosocket import WebSocketConfig
from relsupport import TIMEOUT, raw_request, request_bytes
from websockets.asyncio.client import connect, unix_connect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "ferrosocket.examples:echo",
        "--log-level",
        "warning",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _connect_when_up(uri: str, process: asyncio.subprocess.Process, **kwargs):
    deadline = time.monotonic() + 20
    while True:
        try:
            return await connect(uri, open_timeout=TIMEOUT, ping_interval=None, **kwargs)
        except OSError:
            assert process.returncode is None, "the CLI exited"
            assert time.monotonic() < deadline, "the CLI did not start listening"
            await asyncio.sleep(0.05)


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), TIMEOUT)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
    return process.returncode


async def test_cli_limits_origin_and_idle_flags_take_effect():
    port = _free_port()
    process = await _cli(
        "--port",
        str(port),
        "--max-connections",
        "2",
        "--origin",
        "https://*.ok.example",
        "--max-message-size",
        "1000",
        "--idle-timeout",
        "0.5",
        "--ping-interval",
        "0",
    )
    try:
        uri = f"ws://127.0.0.1:{port}/"
        first = await _connect_when_up(uri, process, origin="https://app.ok.example")
        # --max-message-size: 1009 beyond it.
        await first.send(b"x" * 1001)
        await asyncio.wait_for(first.wait_closed(), TIMEOUT)
        assert first.close_code == 1009
        # --origin: 403 for others.
        response, _ = await raw_request(port, request_bytes(port, "/", [("Origin", "https://evil.example")]))
        assert response.status == 403
        # --max-connections: the third gets 503.
        a = await connect(uri, open_timeout=TIMEOUT, ping_interval=None)
        b = await connect(uri, open_timeout=TIMEOUT, ping_interval=None)
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await connect(uri, open_timeout=TIMEOUT, ping_interval=None)
        assert info.value.response.status_code == 503
        # --idle-timeout: silent clients are closed with 1001.
        for c in (a, b):
            await asyncio.wait_for(c.wait_closed(), 0.5 + 2)
            assert c.close_code == 1001
        assert await _stop(process) == 0
    finally:
        await _stop(process)


async def test_cli_uds_flag_serves_on_a_unix_socket():
    directory = tempfile.mkdtemp(prefix="fs-")
    path = os.path.join(directory, "cli.sock")
    process = await _cli("--uds", path)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path):
            assert process.returncode is None and time.monotonic() < deadline
            await asyncio.sleep(0.05)
        async with unix_connect(path, uri="ws://localhost/x", open_timeout=TIMEOUT, ping_interval=None) as ws:
            await ws.send("uds")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "uds"
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        await _stop(process)
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)


def _cli_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "ferrosocket", "--help"], capture_output=True, text=True, timeout=30, check=True
    ).stdout


# Field -> flag where the CLI's name differs from the field's.
ALIASES = {"allowed_origins": "--origin"}


def test_every_config_field_has_a_cli_flag():
    help_text = _cli_help()
    missing = []
    for field in dataclasses.fields(WebSocketConfig):
        flag = ALIASES.get(field.name, "--" + field.name.replace("_", "-"))
        if flag not in help_text:
            missing.append(field.name)
    assert missing == [], f"no CLI flag for {missing}"
