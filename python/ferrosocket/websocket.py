"""`WebSocket`: what a handler receives, with Starlette's semantics.

This class is deliberately thin. Every method is one call into the native
`Connection` (see rust/python/src/connection.rs), plus an `await` only when
the engine says there is something to wait for:

* `receive()` first pops the engine's inbound queue on this thread. When a
  message is there it returns without creating a Future or yielding to the
  loop; only an empty queue costs a Future (handed back by the same call),
  resolved by the server's single wake-up descriptor. That Future only says
  "look again", so a cancelled receive leaves the message queued.
* `send_*()` are plain methods, not coroutines: they encode into the
  engine's write buffer and return an already completed awaitable while that
  buffer is below its high-water mark; above it the awaitable resolves at the
  low-water mark, so a peer that does not read slows its producer down.
"""

from __future__ import annotations

import json
import logging
from asyncio import Future
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _native
from ._errors import WebSocketDisconnect
from ._native import Binary, Close, Text
from .datastructures import Headers, QueryParams
from .topics import WebSocketTopics

if TYPE_CHECKING:
    from .server import Server

__all__ = ["WebSocket", "Message"]

_access = logging.getLogger("ferrosocket.access")

Message = Text | Binary | Close

HeaderItems = Mapping[str, str] | Sequence[tuple[str, str]] | None


def _header_list(headers: HeaderItems) -> list[tuple[str, str]] | None:
    if headers is None:
        return None
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


class WebSocket(WebSocketTopics):
    """One WebSocket connection, handed to a handler in state ``CONNECTING``.

    Call `accept()` (or `reject()` / `close()` to refuse), then exchange
    messages; the connection is closed with 1000 when the handler returns and
    with 1011 when it raises. Topics (`subscribe`, `publish`, …) are in
    `ferrosocket.topics`.
    """

    __slots__ = ("_c", "_server", "_headers", "_query", "_accepted", "__weakref__")

    def __init__(self, connection: _native.Connection, server: Server | None = None) -> None:
        self._c = connection
        self._server = server
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._accepted = False

    # -- handshake ---------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: HeaderItems = None) -> None:
        """Complete the handshake (HTTP 101), optionally choosing one of
        `subprotocols` and adding response headers."""
        self._c.accept(subprotocol, _header_list(headers))
        self._accepted = True
        if _access.isEnabledFor(logging.INFO):
            client = self._c.client
            _access.info("connection open: %s %s", f"{client[0]}:{client[1]}" if client else "-", self._c.path)

    async def reject(self, status: int = 403, body: bytes | str = b"", headers: HeaderItems = None) -> None:
        """Refuse the upgrade with any HTTP response instead of accepting."""
        if isinstance(body, str):
            body = body.encode()
        self._c.reject(status, body, _header_list(headers))

    # -- receiving ---------------------------------------------------------

    async def receive(self) -> Message:
        """The next message: `Text`, `Binary`, or `Close` once (then
        `WebSocketDisconnect`). Pings are answered and pongs consumed by the
        engine."""
        c = self._c
        m = c.recv_message()
        while isinstance(m, Future):
            await m
            m = c.recv_message()
        return m

    async def receive_text(self) -> str:
        """The next message, which must be text (`MessageTypeError` otherwise;
        `WebSocketDisconnect` once closed)."""
        c = self._c
        m = c.recv_text()
        while isinstance(m, Future):
            await m
            m = c.recv_text()
        return m

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary."""
        c = self._c
        m = c.recv_bytes()
        while isinstance(m, Future):
            await m
            m = c.recv_bytes()
        return m

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON; `mode` is ``"text"`` or ``"binary"``."""
        if mode not in ("text", "binary"):
            raise ValueError('mode must be "text" or "binary"')
        data = await (self.receive_text() if mode == "text" else self.receive_bytes())
        return json.loads(data)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Iterate over messages (`str` or `bytes`) until the connection closes."""
        return self._iterate(self._c.recv_data)

    def iter_text(self) -> AsyncIterator[str]:
        """Iterate over text messages until the connection closes."""
        return self._iterate(self._c.recv_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Iterate over binary messages until the connection closes."""
        return self._iterate(self._c.recv_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        """Iterate over text messages decoded as JSON until the connection closes."""
        return self._iterate_json()

    async def _iterate(self, recv: Callable[[], Any]) -> AsyncIterator[Any]:
        while True:
            try:
                m = recv()
                while isinstance(m, Future):
                    await m
                    m = recv()
            except WebSocketDisconnect:
                return
            yield m

    async def _iterate_json(self) -> AsyncIterator[Any]:
        async for text in self._iterate(self._c.recv_text):
            yield json.loads(text)

    # -- sending -----------------------------------------------------------

    def send_text(self, data: str, *, compress: bool = True) -> Awaitable[None]:
        """Send a text message (`compress=False`: never deflate this one).

        The frame is queued before this returns; the awaitable is already
        complete unless the write buffer is above its high-water mark, in
        which case it resolves at the low-water mark."""
        return self._c.send_text(data, compress)

    def send_bytes(self, data: bytes | bytearray | memoryview, *, compress: bool = True) -> Awaitable[None]:
        """Send a binary message from any bytes-like object (see `send_text`)."""
        return self._c.send_bytes(data, compress)

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send `data` as JSON in a text (default) or binary message."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send_text(text)
        elif mode == "binary":
            await self.send_bytes(text.encode())
        else:
            raise ValueError('mode must be "text" or "binary"')

    async def send(self, message: str | bytes | Message) -> None:
        """Send a `str`, bytes-like, `Text`, `Binary` or `Close`."""
        if isinstance(message, str):
            await self.send_text(message)
        elif isinstance(message, Text):
            await self.send_text(message.data)
        elif isinstance(message, Binary):
            await self.send_bytes(message.data)
        elif isinstance(message, Close):
            await self.close(message.code, message.reason)
        else:
            await self.send_bytes(message)

    def ping(self, data: bytes | str = b"") -> Awaitable[None]:
        """Send a ping (payload up to 125 bytes). The engine consumes the pong."""
        return self._c.ping(data.encode() if isinstance(data, str) else data)

    def pong(self, data: bytes | str = b"") -> Awaitable[None]:
        """Send an unsolicited pong (payload up to 125 bytes)."""
        return self._c.pong(data.encode() if isinstance(data, str) else data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Start the close handshake. Before `accept()` this refuses the
        upgrade with HTTP 403. Calling it again does nothing."""
        self._c.close(int(code), reason or "")

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and its socket released."""
        await self._c.wait_closed()

    # -- state and request data --------------------------------------------

    @property
    def state(self) -> str:
        """``"CONNECTING"``, ``"OPEN"``, ``"CLOSING"`` or ``"CLOSED"``."""
        return self._c.state

    @property
    def is_open(self) -> bool:
        """True while messages can be sent and received."""
        return self._c.state == "OPEN"

    @property
    def close_code(self) -> int | None:
        """The code the connection closed with, None while open."""
        return self._c.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason the connection closed with, None while open."""
        return self._c.close_reason

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for the peer and not yet written to the socket."""
        return self._c.buffered_amount

    @property
    def compression(self) -> str | None:
        """The agreed permessage-deflate parameters, or None if uncompressed."""
        return self._c.compression

    @property
    def latency(self) -> float | None:
        """Seconds of the last answered keepalive ping's round trip."""
        return self._c.latency

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or closing)."""
        return self._c.state in ("CLOSING", "CLOSED")

    @property
    def path(self) -> str:
        """The request path, without the query string."""
        return self._c.path

    @property
    def query_string(self) -> str:
        """The raw query string, without ``?``."""
        return self._c.query_string

    @property
    def query_params(self) -> QueryParams:
        """Parsed query parameters."""
        if self._query is None:
            self._query = QueryParams(self._c.query_string)
        return self._query

    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive)."""
        if self._headers is None:
            self._headers = Headers(self._c.headers)
        return self._headers

    @property
    def client(self) -> tuple[str, int] | None:
        """``(host, port)`` of the client."""
        return self._c.client

    @property
    def server(self) -> tuple[str, int] | None:
        """``(host, port)`` the client connected to."""
        return self._c.server

    @property
    def subprotocols(self) -> list[str]:
        """Subprotocols the client offered, in its order of preference."""
        return self._c.subprotocols

    @property
    def url(self) -> str:
        """``ws://host/path?query`` as the client addressed it."""
        host = self.headers.get("host")
        if host is None and self.server is not None:
            host = f"{self.server[0]}:{self.server[1]}"
        query = self.query_string
        scheme = "wss" if self._c.tls else "ws"
        return f"{scheme}://{host}{self.path}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return f"<WebSocket {self.path!r} {self.state}>"
