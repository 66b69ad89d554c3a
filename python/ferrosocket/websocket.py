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

Starlette parity lives beside it: request data in `_request.py`, ASGI
events and the scope in `asgi.py`, `client_state`/`application_state` here
(see `states.py` for how they move). The per-message cost of the states is
one identity check in `receive()`; the ASGI view of a message is computed
only when read.
"""

from __future__ import annotations

import json
import logging
from asyncio import Future
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _native
from ._errors import WebSocketDisconnect
from ._native import Binary, Close, Text
from ._request import RequestData
from .asgi import CONNECT, Connect, HeaderItems, header_list, send_event
from .datastructures import Headers, QueryParams
from .pong import PingSent
from .states import WebSocketState
from .topics import WebSocketTopics

if TYPE_CHECKING:
    from .server import Server

__all__ = ["WebSocket", "Message"]

_access = logging.getLogger("ferrosocket.access")

Message = Text | Binary | Close

_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_DISCONNECTED = WebSocketState.DISCONNECTED
_RESPONSE = WebSocketState.RESPONSE


class WebSocket(RequestData, WebSocketTopics):
    """One WebSocket connection, handed to a handler in state ``CONNECTING``.

    Call `accept()` (or `reject()` / `close()` to refuse), then exchange
    messages; the connection is closed with 1000 when the handler returns and
    with 1011 when it raises. Topics (`subscribe`, `publish`, …) are in
    `ferrosocket.topics`.
    """

    __slots__ = (
        "_c",
        "_server",
        "_headers",
        "_query",
        "_accepted",
        "_path_params",
        "_scope",
        "_cookies",
        "_response",
        "_pongs",
        "_started",
        "client_state",
        "application_state",
        "__weakref__",
    )

    #: When the server handed the connection to its handler (server role only).
    _started: float

    def __init__(self, connection: _native.Connection, server: Server | None = None) -> None:
        self._c = connection
        self._server = server
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._accepted = False
        self._path_params: dict[str, Any] | None = None
        self._scope: dict[str, Any] | None = None
        self._cookies: dict[str, str] | None = None
        # An ASGI "websocket.http.response.start" waiting for its body.
        self._response: tuple[int, list[tuple[str, str]] | None, bytearray] | None = None
        self._pongs: Any = None
        # A connection handed over already open (the client role) has no
        # handshake left to answer: both sides start CONNECTED.
        start = _CONNECTING if connection.state == "CONNECTING" else _CONNECTED
        #: Starlette's view of the client's side (see `ferrosocket.states`).
        self.client_state = start
        #: Starlette's view of the handler's side (see `ferrosocket.states`).
        self.application_state = start

    # -- handshake ---------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: HeaderItems = None) -> None:
        """Complete the handshake (HTTP 101), optionally choosing one of
        `subprotocols` and adding response headers: a mapping, ``(name,
        value)`` str pairs, or bytes pairs as in Starlette. A name or value
        with CR or LF raises `ValueError`."""
        self._c.accept(subprotocol, header_list(headers))
        self._accepted = True
        self.client_state = self.application_state = _CONNECTED
        if _access.isEnabledFor(logging.INFO):
            client = self._c.client
            _access.info("connection open: %s %s", f"{client[0]}:{client[1]}" if client else "-", self._c.path)

    async def reject(self, status: int = 403, body: bytes | str = b"", headers: HeaderItems = None) -> None:
        """Refuse the upgrade with any HTTP response instead of accepting."""
        if isinstance(body, str):
            body = body.encode()
        self._c.reject(status, body, header_list(headers))
        self.application_state = _DISCONNECTED

    async def send_denial_response(self, response: Any) -> None:
        """Refuse the upgrade with a response object, as Starlette's method
        does: an `HTTPResponse`, or any ASGI response (Starlette's
        `Response` classes), which is run against this connection's scope
        and sends the ``websocket.http.response.*`` events."""
        native = getattr(response, "native", None)
        if native is not None:
            status, headers, body = native()
            await self.reject(status, body, headers)
        else:
            await response(self.scope, self.receive, self.send)

    def _start_response(self, status: int, headers: HeaderItems) -> None:
        if self.application_state is not _CONNECTING:
            raise RuntimeError('"websocket.http.response.start" is only allowed before accept()')
        self._response = (status, header_list(headers), bytearray())
        self.application_state = _RESPONSE

    async def _response_body(self, body: bytes, more: bool) -> None:
        if self._response is None:
            raise RuntimeError('"websocket.http.response.body" needs a "websocket.http.response.start" first')
        status, headers, buffer = self._response
        buffer += body
        if not more:
            self._response = None
            self._c.reject(status, bytes(buffer), headers)
            self.application_state = _DISCONNECTED

    # -- receiving ---------------------------------------------------------

    async def receive(self) -> Message | Connect:
        """The next message: `Text`, `Binary`, or `Close` once (then
        `WebSocketDisconnect`). Pings are answered and pongs consumed by the
        engine. Each also reads as its ASGI event (``m["type"]``,
        ``m["text"]``, …). Before `accept()` the first call returns the
        ``websocket.connect`` event, as Starlette's does."""
        if self.client_state is _CONNECTING:
            self.client_state = _CONNECTED
            return CONNECT
        c = self._c
        m = c.recv_message()
        while isinstance(m, Future):
            await m
            m = c.recv_message()
        if m.__class__ is Close:
            self.client_state = _DISCONNECTED
        return m

    async def receive_text(self) -> str:
        """The next message, which must be text (`MessageTypeError` otherwise;
        `WebSocketDisconnect` once closed)."""
        c = self._c
        try:
            m = c.recv_text()
            while isinstance(m, Future):
                await m
                m = c.recv_text()
        except WebSocketDisconnect:
            self.client_state = _DISCONNECTED
            raise
        return m

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary."""
        c = self._c
        try:
            m = c.recv_bytes()
            while isinstance(m, Future):
                await m
                m = c.recv_bytes()
        except WebSocketDisconnect:
            self.client_state = _DISCONNECTED
            raise
        return m

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON; `mode` is ``"text"`` or ``"binary"``."""
        if mode not in ("text", "binary"):
            raise ValueError('mode must be "text" or "binary"')
        data = await (self.receive_text() if mode == "text" else self.receive_bytes())
        return json.loads(data)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Iterate over messages (`str` or `bytes`) until the connection closes."""
        return _Messages(self, _native.Connection.recv_data)

    def iter_text(self) -> AsyncIterator[str]:
        """Iterate over text messages until the connection closes."""
        return _Messages(self, _native.Connection.recv_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Iterate over binary messages until the connection closes."""
        return _Messages(self, _native.Connection.recv_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        """Iterate over text messages decoded as JSON until the connection closes."""
        return self._iterate_json()

    async def _iterate_json(self) -> AsyncIterator[Any]:
        async for text in _Messages(self, _native.Connection.recv_text):
            yield json.loads(text)

    # -- sending -----------------------------------------------------------

    def send_text(self, data: str, *, compress: bool = True) -> Awaitable[None]:
        """Send a text message (`compress=False`: never deflate this one).

        The frame is queued before this returns; the awaitable is already
        complete unless the write buffer is above its high-water mark, in
        which case it resolves at the low-water mark. A large string (16 KiB
        of UTF-8 or more) is kept, not copied, until written."""
        try:
            return self._c.send_text(data, compress)
        except WebSocketDisconnect:
            self.application_state = _DISCONNECTED
            raise

    def send_bytes(self, data: bytes | bytearray | memoryview, *, compress: bool = True) -> Awaitable[None]:
        """Send a binary message from any bytes-like object (see `send_text`).

        What is sent is what `data` holds now: a large `bytes` object is kept
        (not copied) until written, any other buffer is copied, so changing a
        `bytearray` after this returns does not change the message."""
        try:
            return self._c.send_bytes(data, compress)
        except WebSocketDisconnect:
            self.application_state = _DISCONNECTED
            raise

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send `data` as JSON in a text (default) or binary message."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send_text(text)
        elif mode == "binary":
            await self.send_bytes(text.encode())
        else:
            raise ValueError('mode must be "text" or "binary"')

    async def send(self, message: str | bytes | Message | Mapping[str, Any]) -> None:
        """Send a `str`, bytes-like, `Text`, `Binary` or `Close`, or an ASGI
        event dict (``websocket.send`` with ``text`` or ``bytes``,
        ``websocket.close``, ``websocket.accept``, ``websocket.http.response.*``)."""
        if isinstance(message, str):
            await self.send_text(message)
        elif isinstance(message, Text):
            await self.send_text(message.data)
        elif isinstance(message, Binary):
            await self.send_bytes(message.data)
        elif isinstance(message, Close):
            await self.close(message.code, message.reason)
        elif isinstance(message, Mapping):
            await send_event(self, message)
        else:
            await self.send_bytes(message)

    def ping(self, data: bytes | str = b"") -> PingSent:
        """Send a ping (payload up to 125 bytes); ``await`` the result for a
        pong waiter: ``waiter = await ws.ping(); rtt = await waiter`` gives
        the round trip in seconds, or raises `WebSocketDisconnect` if the
        connection closes first (see `ferrosocket.pong`)."""
        sent, waiter = self._c.ping_waiter(data.encode() if isinstance(data, str) else data)
        return PingSent(sent, waiter)

    def pong(self, data: bytes | str = b"") -> Awaitable[None]:
        """Send an unsolicited pong (payload up to 125 bytes)."""
        return self._c.pong(data.encode() if isinstance(data, str) else data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Start the close handshake. Before `accept()` this refuses the
        upgrade with HTTP 403. Calling it again does nothing."""
        self._c.close(int(code), reason or "")
        self.application_state = _DISCONNECTED

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and its socket released.

        Waiting means no more replies: a peer's close that waits behind
        messages already received is answered now (a later `receive()` still
        returns it)."""
        await self._c.wait_closed()

    # -- state and request data --------------------------------------------

    @property
    def state(self) -> str:
        """``"CONNECTING"``, ``"OPEN"``, ``"CLOSING"`` or ``"CLOSED"``: the
        engine's view (the reference API's meaning). Not Starlette's
        per-connection storage; for Starlette's two-sided view see
        `client_state` and `application_state`."""
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

    def __repr__(self) -> str:
        return f"<WebSocket {self.path!r} {self.state}>"


class _Messages:
    """`async for` over a connection's messages until it closes.

    A plain async iterator rather than an async generator: a connection
    waiting in `async for` then holds one small `__anext__` coroutine
    instead of a generator, its `asend` awaitable and the loop's weak
    reference to it (measured per idle connection in bench/README.md)."""

    __slots__ = ("_ws", "_recv")

    def __init__(self, ws: WebSocket, recv: Callable[[_native.Connection], Any]) -> None:
        self._ws = ws
        self._recv = recv

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Any:
        # `recv` is the unbound method, so the iterator holds no bound one.
        recv, c = self._recv, self._ws._c
        try:
            m = recv(c)
            while isinstance(m, Future):
                await m
                m = recv(c)
        except WebSocketDisconnect:
            self._ws.client_state = _DISCONNECTED
            raise StopAsyncIteration from None
        return m
