"""A hand-rolled WebSocket client over a raw non-blocking socket.

It knows nothing about ferrosocket: frames are built with `struct` and masked
with `os.urandom` keys, so tests can send exactly the bytes they mean
(malformed frames, split fragments, unmasked frames) and read exactly what the
server wrote. Every read has a timeout so a silent server fails the test
instead of hanging it. All I/O goes through the running asyncio loop, because
the server under test runs its handlers on that same loop.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `key` repeated (RFC 6455 §5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    """One frame. `length` overrides the declared payload length (to lie)."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def close_payload(code: int | None = None, reason: str | bytes = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def accept_value(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_response(request_head: bytes, extra: list[tuple[str, str]] | None = None) -> bytes:
    """A 101 answering `request_head` (a client's upgrade request), for fake
    servers that test a client's checks of the answer."""
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in request_head.decode().split("\r\n"))}
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    headers += [("Sec-WebSocket-Accept", accept_value(fields["sec-websocket-key"]))] + (extra or [])
    lines = ["HTTP/1.1 101 Switching Protocols"] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade_request(
    port: int,
    path: str = "/",
    *,
    key: str | None = None,
    version: str = "13",
    extra: list[tuple[str, str]] | None = None,
    omit: tuple[str, ...] = (),
) -> tuple[bytes, str]:
    """An HTTP/1.1 upgrade request and the key it carries. `omit` drops
    headers by (case-insensitive) name."""
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", version),
    ]
    headers += extra or []
    dropped = {name.lower() for name in omit}
    lines = [f"GET {path} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers if n.lower() not in dropped]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


@dataclasses.dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    masked: bool

    @property
    def close(self) -> tuple[int | None, str]:
        """(code, reason) of a close frame."""
        if len(self.payload) < 2:
            return None, ""
        return struct.unpack("!H", self.payload[:2])[0], self.payload[2:].decode()


class RawClient:
    """One TCP connection speaking hand-built WebSocket frames."""

    def __init__(self, sock: socket.socket, port: int) -> None:
        self.sock = sock
        self.port = port
        self.buffer = bytearray()
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, port: int, *, rcvbuf: int | None = None, sndbuf: int | None = None) -> RawClient:
        """Connect to 127.0.0.1:`port`, optionally with small kernel buffers
        (set before connecting so TCP window scaling respects them)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5)
        return cls(sock, port)

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    # -- raw bytes ---------------------------------------------------------

    async def send(self, data: bytes) -> None:
        await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), 10)

    async def _fill(self, timeout: float) -> None:
        chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 1 << 20), timeout)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    async def read_exactly(self, n: int, timeout: float = 5) -> bytes:
        while len(self.buffer) < n:
            await self._fill(timeout)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def read_until(self, separator: bytes, timeout: float = 5) -> bytes:
        while (i := self.buffer.find(separator)) < 0:
            await self._fill(timeout)
        data = bytes(self.buffer[: i + len(separator)])
        del self.buffer[: i + len(separator)]
        return data

    async def at_eof(self, timeout: float = 5) -> bool:
        """Read (and drop) until the server closes the TCP connection."""
        try:
            while True:
                self.buffer.clear()
                await self._fill(timeout)
        except (EOFError, ConnectionResetError):
            return True

    # -- HTTP --------------------------------------------------------------

    async def read_response_head(self, timeout: float = 5) -> Response:
        head = (await self.read_until(b"\r\n\r\n", timeout)).decode("latin-1")
        status_line, *lines = head.split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Response(int(status_line.split()[1]), headers)

    async def read_response(self, timeout: float = 5) -> Response:
        """A whole HTTP response whose body has a Content-Length."""
        response = await self.read_response_head(timeout)
        length = int(response.headers.get("content-length", "0"))
        response.body = await self.read_exactly(length, timeout)
        return response

    async def request_upgrade(self, path: str = "/", **kwargs: object) -> str:
        """Send the upgrade request without waiting for the answer; returns the key."""
        request, key = upgrade_request(self.port, path, **kwargs)  # type: ignore[arg-type]
        await self.send(request)
        return key

    async def handshake(self, path: str = "/", **kwargs: object) -> Response:
        """Upgrade and check the 101 answer (status and Sec-WebSocket-Accept)."""
        key = await self.request_upgrade(path, **kwargs)
        response = await self.read_response_head()
        assert response.status == 101, response
        assert response.headers["sec-websocket-accept"] == accept_value(key)
        return response

    # -- frames ------------------------------------------------------------

    async def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: object) -> None:
        await self.send(frame(opcode, payload, **kwargs))  # type: ignore[arg-type]

    async def send_text(self, text: str) -> None:
        await self.send_frame(TEXT, text.encode())

    async def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        await self.send_frame(CLOSE, close_payload(code, reason))

    async def recv_frame(self, timeout: float = 5) -> Frame:
        b0, b1 = await self.read_exactly(2, timeout)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.read_exactly(2, timeout))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.read_exactly(8, timeout))
        masked = bool(b1 & 0x80)
        key = await self.read_exactly(4, timeout) if masked else b""
        payload = await self.read_exactly(n, timeout)
        if masked:
            payload = mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, masked)

    async def recv_message(self, timeout: float = 5) -> tuple[int, bytes]:
        """The next data message (opcode, reassembled payload); control frames
        other than close are skipped."""
        opcode, parts = None, []
        while True:
            f = await self.recv_frame(timeout)
            if f.opcode in (PING, PONG):
                continue
            if f.opcode == CLOSE:
                raise AssertionError(f"expected a message, got close {f.close}")
            if opcode is None:
                opcode = f.opcode
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    async def expect_close(self, timeout: float = 5) -> tuple[int | None, str]:
        """Skip frames until a close frame and return its (code, reason)."""
        while True:
            f = await self.recv_frame(timeout)
            if f.opcode == CLOSE:
                return f.close
