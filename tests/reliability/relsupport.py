"""Helpers of the reliability suite: a server in a subprocess whose RSS we
can read, well-behaved clients that must keep being served during an attack,
and raw-socket helpers for hostile ones.

Memory is read from /proc/PID/status: VmRSS (resident now) and VmHWM (the
peak since the process started). A bound on VmHWM growth catches a
transient blow-up that was freed again before the test looked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from rawws import RawClient, Response, upgrade_request
from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
TIMEOUT = 10.0

#: (test, what, figures) rows printed at the end of the run.
RSS_RECORDS: list[tuple[str, str, dict[str, float]]] = []


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def rss_mib(pid: int) -> float:
    return proc_status(pid)["VmRSS"] / 1024


def hwm_mib(pid: int) -> float:
    return proc_status(pid)["VmHWM"] / 1024


@dataclass
class Memory:
    """RSS before an attack, and after it (now and peak)."""

    pid: int
    label: str
    before: float = 0.0
    after: float = 0.0
    peak: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def start(self) -> Memory:
        self.before = rss_mib(self.pid)
        return self

    def stop(self) -> Memory:
        self.after = rss_mib(self.pid)
        self.peak = hwm_mib(self.pid)
        figures = {"before": self.before, "after": self.after, "peak": self.peak, **self.extra}
        RSS_RECORDS.append((os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0], self.label, figures))
        return self

    @property
    def growth(self) -> float:
        """Growth of the peak RSS over the baseline, in MiB."""
        return self.peak - self.before

    def __str__(self) -> str:
        return f"{self.label}: RSS {self.before:.1f} -> {self.after:.1f} MiB (peak {self.peak:.1f} MiB)"


class ProcServer:
    """`procserver.py` in a subprocess; see that file for its routes."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.output: list[str] = []
        self._new_event = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory(self, label: str) -> Memory:
        return Memory(self.pid, label).start()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("EVENT "):
                self.events.append(json.loads(line[6:]))
                self._new_event.set()
            else:
                self.output.append(line)

    async def wait_events(
        self, n: int, path: str | None = None, timeout: float = TIMEOUT, query: str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until at least `n` events (of `path`, and of connections whose
        query string was `query`) have been reported."""

        def wanted(e: dict[str, Any]) -> bool:
            return (path is None or e.get("path") == path) and (query is None or e.get("query") == query)

        async def enough() -> list[dict[str, Any]]:
            while True:
                found = [e for e in self.events if wanted(e)]
                if len(found) >= n:
                    return found
                self._new_event.clear()
                await self._new_event.wait()

        return await asyncio.wait_for(enough(), timeout)

    async def stats(self) -> dict[str, Any]:
        async with connect(self.url("/stats"), open_timeout=5, ping_interval=None) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    def url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._reader, 5)
        return self.process.returncode  # type: ignore[return-value]


@contextlib.asynccontextmanager
async def proc_server(**config: Any) -> AsyncIterator[ProcServer]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "procserver.py"),
        json.dumps({"config": config}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line.startswith(b"READY "):
            rest = await asyncio.wait_for(process.stdout.read(), 5)
            raise AssertionError(f"server did not start: {line!r} {rest!r}")
        server = ProcServer(process, int(line.split()[1]))
        # Let the runtime reach its steady state before any baseline is taken.
        await echo_ok(server.port, n=3)
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# -- well-behaved clients ------------------------------------------------------


async def echo_ok(port: int, path: str = "/echo", n: int = 3, **kwargs: Any) -> None:
    """A websockets client echoes `n` text and binary messages correctly."""
    uri = kwargs.pop("uri", f"ws://127.0.0.1:{port}{path}")
    async with connect(uri, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, **kwargs) as ws:
        for i in range(n):
            text = f"hello {i} " + "é" * i
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == text
            data = bytes([i % 256]) * (i * 100 + 1)
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == data


class EchoProbe:
    """A well-behaved client echoing in a loop while an attack goes on.

    `await probe.stop()` returns how many round trips succeeded and raises
    whatever made one fail (a wrong echo, a closed connection, a timeout).
    """

    def __init__(self, port: int, path: str = "/echo", pause: float = 0.02) -> None:
        self.port = port
        self.path = path
        self.pause = pause
        self.count = 0
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        # A test that fails before stop() must not also log "never retrieved".
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _run(self) -> None:
        async with connect(
            f"ws://127.0.0.1:{self.port}{self.path}", open_timeout=TIMEOUT, ping_interval=None, max_size=None
        ) as ws:
            while not self._stop.is_set():
                payload = f"probe {self.count}"
                await ws.send(payload)
                reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert reply == payload, (reply, payload)
                self.count += 1
                await asyncio.sleep(self.pause)

    async def wait_for(self, count: int, timeout: float = TIMEOUT) -> None:
        """Wait until `count` round trips succeeded in total."""

        async def reached() -> None:
            while self.count < count:
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the probe stopped")
                await asyncio.sleep(0.01)

        await asyncio.wait_for(reached(), timeout)

    async def stop(self) -> int:
        self._stop.set()
        await asyncio.wait_for(self._task, TIMEOUT)
        return self.count


# -- raw sockets ---------------------------------------------------------------


async def raw_request(port: int, request: bytes, timeout: float = 5.0) -> tuple[Response, bool]:
    """Send `request` on a new connection; return the response and whether
    the server then closed the connection."""
    client = await RawClient.connect(port)
    try:
        await client.send(request)
        response = await client.read_response(timeout)
        return response, await client.at_eof(timeout)
    finally:
        client.close()


async def raw_upgraded(port: int, path: str = "/echo", **kwargs: Any) -> RawClient:
    """A raw client past a successful handshake."""
    client = await RawClient.connect(port, **kwargs)
    try:
        await client.handshake(path)
    except BaseException:
        client.close()
        raise
    return client


def request_bytes(port: int, path: str = "/echo", extra: list[tuple[str, str]] | None = None) -> bytes:
    return upgrade_request(port, path, extra=extra)[0]


def zero_mask_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame with the all-zero masking key (valid, and the payload
    goes out as is), for building large volumes quickly."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_server(exc: BaseException) -> bool:
    return isinstance(exc, (websockets.exceptions.ConnectionClosed, EOFError, ConnectionError))


async def slowloris(port: int, pace: float = 0.3, limit: float = 15.0) -> tuple[float, int, bytes]:
    """Send an upgrade request one byte every `pace` seconds, never finishing
    it. Returns (seconds until the server closed the connection, bytes sent,
    what the server answered)."""
    head, _ = upgrade_request(port, "/echo")
    head = head[:-2]  # never the final CRLF
    client = await RawClient.connect(port)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    sent = 0
    answer = b""
    try:
        while time.monotonic() - started < limit:
            try:
                await client.send(head[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            assert sent < len(head), "the slowloris request must never complete"
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(client.sock, 4096), pace)
            except asyncio.TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return time.monotonic() - started, sent, answer
    finally:
        client.close()


class FrameReader:
    """Parses the server's (unmasked) frames from a socket quickly, for
    tests that read hundreds of thousands of them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    async def frames(self, timeout: float = TIMEOUT) -> list[tuple[int, bytes]]:
        """Read once and return every complete frame: (opcode, payload)."""
        chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 1 << 20), timeout)
        if not chunk:
            raise EOFError("the server closed the connection")
        buf = self.buffer + chunk if self.buffer else chunk
        out = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if end - pos < head + n:
                break
            out.append((b0 & 0x0F, buf[pos + head : pos + head + n]))
            pos += head + n
        self.buffer = buf[pos:]
        return out
