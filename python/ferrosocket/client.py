"""`connect()`: the WebSocket client, on the same Rust engine as the server.

The returned `ClientWebSocket` is the server's `WebSocket` (same receive,
send, iteration, ping and close API, Starlette names included) plus what a
client learns from the handshake: `subprotocol`, `extensions` and
`response_headers`. Three forms::

    async with connect("ws://host/path") as ws: ...   # closed on exit
    ws = await connect("ws://host/path")              # close it yourself
    async for ws in connect("ws://host/path"): ...    # reconnects

The engine side: one `NativeClient` (a tokio runtime with one I/O thread) and
one `Hub` per asyncio loop, shared by that loop's connections. Only the
opening handshake runs in a thread pool (it is a blocking native call that
releases the GIL); after it, messages reach Python exactly as on the server.

Reconnection follows websockets' rules: network errors (`OSError`), timeouts
and HTTP 5xx refusals are retried with exponential backoff and full jitter
on the first delay; anything else (4xx, an invalid handshake, a bad URI)
is raised, since trying again would fail the same way.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _native
from ._errors import WebSocketError
from .config import WebSocketConfig
from .datastructures import Headers
from .websocket import WebSocket

__all__ = [
    "ClientSSL",
    "ClientWebSocket",
    "DeflateOffer",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidURI",
    "connect",
]


class InvalidHandshake(WebSocketError):
    """The opening handshake failed: the server's 101 broke RFC 6455."""


class InvalidURI(InvalidHandshake, ValueError):
    """The URI is not a ws:// or wss:// URI this client can use."""


class InvalidStatus(InvalidHandshake):
    """The server refused the upgrade with an HTTP response."""

    def __init__(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        super().__init__(status, headers, body)
        self.status = status
        self.headers = Headers(list(headers))
        self.body = body

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status}"


@dataclass(frozen=True)
class ClientSSL:
    """TLS settings of a wss:// connection (rustls, not Python's `ssl`).

    `cafile`/`cadata`: PEM CA(s) to trust instead of the system's roots.
    `server_hostname`: the name for SNI and verification (default the URI's
    host). `check_hostname=False` still verifies the chain, not the name.
    """

    cafile: str | None = None
    cadata: str | None = None
    server_hostname: str | None = None
    check_hostname: bool = True


@dataclass(frozen=True)
class DeflateOffer:
    """The permessage-deflate offer a client makes (RFC 7692 §7.1), from its side.

    `client_max_window_bits`: the largest window (8-15) we compress with; at
    15 it is offered bare, so the server may lower it. `server_max_window_bits`
    below 15 asks the server for a smaller window. The `*_no_context_takeover`
    flags are offered as such: `client_no_context_takeover` promises that we
    reset our compressor after every message, `server_no_context_takeover`
    asks the server to. The server's answer is held to the offer: a larger
    window or an ignored request fails the handshake, since inflating with the
    wrong window would corrupt every later message.
    """

    client_max_window_bits: int = 15
    server_max_window_bits: int = 15
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False

    def __post_init__(self) -> None:
        for name in ("client_max_window_bits", "server_max_window_bits"):
            bits = getattr(self, name)
            if not isinstance(bits, int) or isinstance(bits, bool) or not 8 <= bits <= 15:
                raise ValueError(f"{name} must be an integer from 8 to 15, not {bits!r}")


class ClientWebSocket(WebSocket):
    """A client connection: `WebSocket`'s API plus the handshake's results."""

    __slots__ = ("subprotocol", "extensions", "response_headers")

    def __init__(
        self,
        connection: _native.Connection,
        subprotocol: str | None,
        extensions: list[str],
        response_headers: list[tuple[str, str]],
    ) -> None:
        super().__init__(connection)
        self._accepted = True
        self.subprotocol = subprotocol
        """The subprotocol the server chose, or None."""
        self.extensions = extensions
        """The negotiated extensions as the server wrote them."""
        self.response_headers = Headers(response_headers)
        """The headers of the server's 101 response."""


class _Engine:
    """The native client and hub of one asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.hub = _native.Hub(loop, self._on_connection)
        self.native = _native.NativeClient(self.hub)
        self.arrived: dict[str, _native.Connection] = {}
        self.waiting: dict[str, asyncio.Future[_native.Connection]] = {}
        loop.add_reader(self.hub.fd, self.hub.drain)

    def _on_connection(self, conn: _native.Connection) -> None:
        fut = self.waiting.pop(conn.key, None)
        if fut is None:
            self.arrived[conn.key] = conn
        elif not fut.done():
            fut.set_result(conn)

    async def take(self, key: str) -> _native.Connection:
        conn = self.arrived.pop(key, None)
        if conn is not None:
            return conn
        fut: asyncio.Future[_native.Connection] = asyncio.get_running_loop().create_future()
        self.waiting[key] = fut
        return await fut


_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Engine] = weakref.WeakKeyDictionary()


def _engine() -> _Engine:
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = _Engine(loop)
    return engine


def release_engine(loop: asyncio.AbstractEventLoop) -> None:
    """Stop `loop`'s client engine now (its connections are dropped), rather
    than when the loop is collected: for a loop about to be closed, as the
    test client's background loop is. Call it on that loop."""
    engine = _engines.pop(loop, None)
    if engine is not None:
        loop.remove_reader(engine.hub.fd)
        engine.native.shutdown()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, InvalidStatus):
        return 500 <= exc.status < 600
    return isinstance(exc, (OSError, TimeoutError)) and not isinstance(exc, InvalidHandshake)


class connect:  # noqa: N801 - used like a function, as websockets' connect is
    """Open a WebSocket connection to `uri` (ws://, wss://); see the module docs.

    `subprotocols`: offered in order; `additional_headers`: sent with the
    request; `compression`: "deflate" (the default offer), a `DeflateOffer`,
    or None (no compression); `open_timeout`: bound on the
    whole opening handshake; `ping_interval`/`ping_timeout`: keepalive (None
    turns it off); `close_timeout`: how long the close handshake may take;
    `max_size`: the largest message accepted; `ssl`: None (system roots for
    wss://), True, or a `ClientSSL`; `unix_socket_path`: connect through a
    Unix socket. The `backoff_*` arguments tune `async for`'s reconnection.
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Sequence[str] | None = None,
        additional_headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        compression: str | DeflateOffer | None = "deflate",
        open_timeout: float = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float = 10,
        max_size: int = 1 << 20,
        ssl: ClientSSL | bool | None = None,
        unix_socket_path: str | None = None,
        backoff_initial: float = 5.0,
        backoff_min: float = 3.1,
        backoff_max: float = 90.0,
        backoff_factor: float = 1.618,
    ) -> None:
        offer = DeflateOffer() if compression == "deflate" else compression
        if offer is not None and not isinstance(offer, DeflateOffer):
            raise ValueError(f'compression must be "deflate", a DeflateOffer or None, not {compression!r}')
        if ssl is not None and not isinstance(ssl, (bool, ClientSSL)):
            raise TypeError(
                "ssl must be None, True or a ferrosocket.client.ClientSSL (the engine uses rustls, "
                "not Python's ssl module): pass ClientSSL(cafile=...) for a custom CA"
            )
        if ssl and not uri.lower().startswith("wss://"):
            raise InvalidURI(f"{uri!r}: ssl was given for a ws:// URI; use wss://")
        self.uri = uri
        self._tls = ssl if isinstance(ssl, ClientSSL) else ClientSSL()
        self._config = WebSocketConfig(
            max_message_size=max_size,
            max_frame_size=max_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
        )
        self._kwargs: dict[str, Any] = {
            "unix_path": unix_socket_path,
            "subprotocols": list(subprotocols or []),
            "headers": _pairs(additional_headers),
            "compression": None
            if offer is None
            else (
                offer.client_max_window_bits,
                offer.server_max_window_bits,
                offer.client_no_context_takeover,
                offer.server_no_context_takeover,
            ),
            "open_timeout": float(open_timeout),
            "ca_file": self._tls.cafile,
            "ca_pem": self._tls.cadata,
            "server_hostname": self._tls.server_hostname,
            "check_hostname": self._tls.check_hostname,
        }
        self._backoff = (backoff_initial, backoff_min, backoff_max, backoff_factor)
        self._ws: ClientWebSocket | None = None

    async def _open(self) -> ClientWebSocket:
        engine = _engine()
        loop = asyncio.get_running_loop()
        call = lambda: engine.native.connect(self.uri, self._config, **self._kwargs)  # noqa: E731
        key, subprotocol, extensions, headers = await loop.run_in_executor(None, call)
        conn = await engine.take(key)
        return ClientWebSocket(conn, subprotocol, extensions, headers)

    def __await__(self) -> Generator[Any, None, ClientWebSocket]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientWebSocket:
        self._ws = await self._open()
        return self._ws

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            await self._ws.close()
            await self._ws.wait_closed()

    async def __aiter__(self) -> AsyncIterator[ClientWebSocket]:
        initial, low, high, factor = self._backoff
        delay: float | None = None
        while True:
            try:
                ws = await self._open()
            except Exception as exc:
                if not _retryable(exc):
                    raise
                # First retry after a random share of `initial` (spreads a
                # crowd of clients), then min, growing by `factor` up to max.
                delay = random.uniform(0, initial) if delay is None else min(max(delay, low) * factor, high)
                await asyncio.sleep(delay)
                continue
            delay = None
            try:
                yield ws
            finally:
                await ws.close()
                await ws.wait_closed()


def _pairs(headers: Mapping[str, str] | Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]
