"""Brokers for the tests that share topics between server processes: a real
``redis-server`` per test (free port, no persistence), a small RESP client to
ask it things, and ways to read a server process's stats.

The `redis` fixture is registered in conftest.py, so any test (the broker
tests, the workers tests) can write ``server = await redis()`` or
``await redis(password="...")``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from clisupport import free_port
from websockets.asyncio.client import connect

STARTUP = 10.0


async def until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait until `predicate()` holds (a condition, never a duration)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def until_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition") -> Any:
    """Like `until`, for a coroutine predicate; returns its last (true) value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def resp(port: int, *args: str | bytes, password: str | None = None, tls: ssl.SSLContext | None = None) -> Any:
    """Send one command to Redis on `port` (after AUTH with `password`, over
    TLS with `tls`) and return its reply (int, bytes, str, list, or an
    Exception for an error)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=tls), 5)
    try:
        commands: list[tuple[str | bytes, ...]] = [args] if password is None else [("AUTH", password), args]
        for command in commands:
            out = [f"*{len(command)}\r\n".encode()]
            for arg in command:
                data = arg.encode() if isinstance(arg, str) else arg
                out.append(b"$%d\r\n%s\r\n" % (len(data), data))
            writer.write(b"".join(out))
        await writer.drain()
        reply = None
        for _ in commands:
            reply = await asyncio.wait_for(_read_reply(reader), 5)
        return reply
    finally:
        writer.close()


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = (await reader.readline()).rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return Exception(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else (await reader.readexactly(n + 2))[:-2]
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(int(rest))]
    raise ValueError(f"unexpected reply {line!r}")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 with no persistence; with
    `tls` = (certfile, keyfile, cafile) it speaks only TLS (rediss://)."""

    def __init__(self, port: int, password: str | None = None, tls: tuple[str, str, str] | None = None) -> None:
        self.port = port
        self.password = password
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, password: str | None = None, db: int = 0) -> str:
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    async def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (scripts/test.sh installs Debian's redis-server)")
        args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:
            cert, key, ca = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert, "--tls-key-file", key]
            args += ["--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await until_async(self._answers, STARTUP, f"redis-server on port {self.port}")
        return self

    async def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"redis-server on port {self.port} exited with {self.process.returncode}")
        try:
            return await self.command("PING") == "PONG"
        except (OSError, ssl.SSLError):
            return False

    async def command(self, *args: str | bytes) -> Any:
        context = ssl.create_default_context(cafile=self.tls[2]) if self.tls else None
        return await resp(self.port, *args, password=self.password, tls=context)

    async def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to `channel` (PUBSUB NUMSUB)."""
        reply = await self.command("PUBSUB", "NUMSUB", channel)
        return int(reply[1])

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)
        self.process = None


@pytest.fixture
async def redis() -> AsyncIterator[Callable[..., Awaitable[RedisServer]]]:
    """``server = await redis(password=None, port=None, tls=None)``: a running
    redis-server, stopped after the test. ``RedisServer(port)`` without
    `start()` gives a port with nothing on it yet."""
    servers: list[RedisServer] = []

    async def start(
        password: str | None = None, port: int | None = None, tls: tuple[str, str, str] | None = None
    ) -> RedisServer:
        server = RedisServer(port or free_port(), password, tls)
        servers.append(server)
        return await server.start()

    yield start
    for server in servers:
        await server.stop()


async def server_stats(port: int) -> dict[str, Any]:
    """``server.stats()`` of a server process running tests/broker_app.py."""
    async with connect(f"ws://127.0.0.1:{port}/stats") as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def broker_state(port: int) -> str:
    return (await server_stats(port))["broker"]["state"]
