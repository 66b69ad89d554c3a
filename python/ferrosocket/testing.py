"""`TestClient`: drive your own handlers from tests, through real sockets.

    async with TestClient(app) as client:                 # async tests
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text(timeout=1) == "hi"

    with TestClient(app) as client:                       # sync tests,
        with client.websocket_connect("/ws") as ws:       # Starlette's names
            ws.send_text("hi")
            assert ws.receive_text() == "hi"

Why it is built this way:

- The app is served by `serve()` on 127.0.0.1 and an ephemeral port, and the
  session is `connect()`: the handler sees exactly what production gives it
  (the engine's routing, handshake checks, limits and compression), not an
  imitation of the transport.
- Every receive takes `timeout=` (default the client's `timeout`, 5 s), and
  the opening handshake is bounded by it too: a handler that never answers
  fails the test with `TimeoutError` naming the path instead of hanging it.
- A refused handshake raises `WebSocketRejected` with the HTTP status,
  headers and body in the message, so the assertion failure says why.
- An exception a handler raises is re-raised in the test when the session
  (or the client) closes, as Starlette's `raise_server_exceptions` does:
  otherwise it would only be a log line and a 1011 close.
- The sync façade runs one event loop in a background thread for the
  client's lifetime; each sync call runs the async one there and waits.
  Sync calls are bounded by the same timeouts, plus a margin.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .client import ClientWebSocket, InvalidStatus, connect, release_engine
from .config import WebSocketConfig
from .server import App, Server, serve
from .websocket import Message

__all__ = ["AsyncSession", "Session", "TestClient", "WebSocketRejected"]

T = TypeVar("T")
HeaderItems = Mapping[str, str] | Sequence[tuple[str, str]] | None


class WebSocketRejected(InvalidStatus):
    """The app refused the upgrade; `status`, `headers` and `body` say how."""

    def __str__(self) -> str:
        body = self.body[:200].decode("utf-8", "replace")
        return f"handshake refused: HTTP {self.status}" + (f": {body!r}" if body else "")


class _Failures(logging.Handler):
    """Collects the exceptions handlers raised (the server logs them with
    `logger.exception`), to re-raise them in the test."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])

    def raise_first(self) -> None:
        if self.errors:
            error, self.errors = self.errors[0], []
            raise error


class AsyncSession:
    """One connection to the app. `receive_*` take `timeout=` (seconds,
    default the client's); the rest is `ClientWebSocket`'s API."""

    def __init__(self, ws: ClientWebSocket, path: str, timeout: float, failures: _Failures | None) -> None:
        self.websocket = ws
        """The underlying `ClientWebSocket`."""
        self._path = path
        self._timeout = timeout
        self._failures = failures

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the handler accepted, or None."""
        return self.websocket.subprotocol

    accepted_subprotocol = subprotocol

    @property
    def extensions(self) -> list[str]:
        return self.websocket.extensions

    @property
    def response_headers(self) -> Any:
        """The headers of the 101 response (`Headers`)."""
        return self.websocket.response_headers

    @property
    def extra_headers(self) -> list[tuple[str, str]]:
        """The 101 response headers as pairs (Starlette's name)."""
        return list(self.websocket.response_headers.items())

    @property
    def close_code(self) -> int | None:
        return self.websocket.close_code

    @property
    def close_reason(self) -> str | None:
        return self.websocket.close_reason

    async def _bounded(self, what: Coroutine[Any, Any, T], timeout: float | None) -> T:
        limit = self._timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(what, limit)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no message from {self._path} within {limit} s") from None

    async def receive(self, timeout: float | None = None) -> Message:
        """The next message: `Text`, `Binary` or (once) `Close`."""
        # A client never sees the server-side connect event.
        return await self._bounded(self.websocket.receive(), timeout)  # type: ignore[arg-type]

    async def receive_text(self, timeout: float | None = None) -> str:
        return await self._bounded(self.websocket.receive_text(), timeout)

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        return await self._bounded(self.websocket.receive_bytes(), timeout)

    async def receive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        return await self._bounded(self.websocket.receive_json(mode), timeout)

    async def send_text(self, data: str) -> None:
        await self.websocket.send_text(data)

    async def send_bytes(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def send_json(self, data: Any, mode: str = "text") -> None:
        await self.websocket.send_json(data, mode)

    async def send(self, message: Any) -> None:
        """A `str`, `bytes`, message or ASGI send dict."""
        await self.websocket.send(message)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close and wait (at most the timeout) for the handshake to finish."""
        await self.websocket.close(code, reason)
        try:
            await asyncio.wait_for(self.websocket.wait_closed(), self._timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self._path} did not finish closing within {self._timeout} s") from None

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
        if self._failures is not None:
            self._failures.raise_first()


class _Connecting:
    """What `websocket_connect()` returns: `async with`/`await` for async
    tests, `with` for sync ones (on a client entered with `with`)."""

    def __init__(self, client: TestClient, path: str, kwargs: dict[str, Any]) -> None:
        self._client = client
        self._path = path
        self._kwargs = kwargs
        self._async: AsyncSession | None = None
        self._sync: Session | None = None
        self._owns_client = False

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return self._client._open(self._path, **self._kwargs).__await__()

    async def __aenter__(self) -> AsyncSession:
        self._async = await self._client._open(self._path, **self._kwargs)
        return self._async

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._async is not None
        await self._async.__aexit__(*exc_info)

    def __enter__(self) -> Session:
        client = self._client
        if client._server is None and client._thread is None:
            client.__enter__()  # Starlette allows a session on a client not entered
            self._owns_client = True
        session = client._call(client._open(self._path, **self._kwargs))
        self._sync = Session(client, session)
        return self._sync

    def __exit__(self, *exc_info: object) -> None:
        assert self._sync is not None
        try:
            self._client._call(self._sync._session.__aexit__(*exc_info))
        finally:
            if self._owns_client:
                self._client.__exit__(None, None, None)


class Session:
    """The sync façade of `AsyncSession`, with Starlette's method names."""

    def __init__(self, client: TestClient, session: AsyncSession) -> None:
        self._client = client
        self._session = session

    @property
    def subprotocol(self) -> str | None:
        return self._session.subprotocol

    accepted_subprotocol = subprotocol

    @property
    def extensions(self) -> list[str]:
        return self._session.extensions

    @property
    def response_headers(self) -> Any:
        return self._session.response_headers

    @property
    def extra_headers(self) -> list[tuple[str, str]]:
        return self._session.extra_headers

    @property
    def close_code(self) -> int | None:
        return self._session.close_code

    def receive(self, timeout: float | None = None) -> Message:
        return self._client._call(self._session.receive(timeout))

    def receive_text(self, timeout: float | None = None) -> str:
        return self._client._call(self._session.receive_text(timeout))

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        return self._client._call(self._session.receive_bytes(timeout))

    def receive_json(self, mode: str = "text", timeout: float | None = None) -> Any:
        return self._client._call(self._session.receive_json(mode, timeout))

    def send_text(self, data: str) -> None:
        self._client._call(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._client._call(self._session.send_bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        self._client._call(self._session.send_json(data, mode))

    def send(self, message: Any) -> None:
        self._client._call(self._session.send(message))

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self._client._call(self._session.close(code, reason))


class TestClient:
    """Serve `app` (what `serve()` takes) on 127.0.0.1 and a free port for
    the duration of an ``async with`` or ``with`` block; see the module docs.

    `timeout`: default bound (seconds) on the opening handshake, each
    receive and the close. `config`: the server's `WebSocketConfig`; by
    default the defaults with a 1 s `shutdown_timeout`, so that a handler
    still waiting when the block ends is cancelled without delaying the test.
    `raise_server_exceptions`: re-raise a handler's exception in the test.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        app: App,
        *,
        timeout: float = 5.0,
        config: WebSocketConfig | None = None,
        raise_server_exceptions: bool = True,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.config = config or WebSocketConfig(shutdown_timeout=1.0)
        self._failures = _Failures() if raise_server_exceptions else None
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> Server:
        """The running `Server` (its `port`, `stats()`, topics...)."""
        if self._server is None:
            raise RuntimeError("the TestClient is not running: use it in `async with` or `with`")
        return self._server

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    # -- async -------------------------------------------------------------

    async def __aenter__(self) -> TestClient:
        if self._server is not None:
            raise RuntimeError("the TestClient is already running")
        if self._failures is not None:
            logging.getLogger("ferrosocket").addHandler(self._failures)
        self._server = await serve(self.app, "127.0.0.1", 0, config=self.config)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        try:
            if server is not None:
                server.close()
                await server.wait_closed()
        finally:
            if self._failures is not None:
                logging.getLogger("ferrosocket").removeHandler(self._failures)
        if self._failures is not None:
            self._failures.raise_first()

    def websocket_connect(
        self,
        path: str = "/",
        subprotocols: Sequence[str] | None = None,
        headers: HeaderItems = None,
        cookies: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> _Connecting:
        """A session on `path` (``/ws?x=1``; a full ``ws://testserver/ws`` URL
        keeps its path and query). `options` go to `connect()` (`compression`,
        `max_size`, ...). Use with ``async with`` (or await it) in async tests,
        ``with`` in sync ones."""
        kwargs = {
            "subprotocols": subprotocols,
            "headers": headers,
            "cookies": cookies,
            "timeout": timeout,
            **options,
        }
        return _Connecting(self, path, kwargs)

    async def _open(
        self,
        path: str,
        *,
        subprotocols: Sequence[str] | None,
        headers: HeaderItems,
        cookies: Mapping[str, str] | None,
        timeout: float | None,
        **options: Any,
    ) -> AsyncSession:
        if "://" in path:
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not path.startswith("/"):
            path = "/" + path
        limit = self.timeout if timeout is None else timeout
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        if cookies:
            pairs.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        options.setdefault("ping_interval", None)
        try:
            ws = await connect(
                self.base_url + path,
                subprotocols=subprotocols,
                additional_headers=pairs,
                open_timeout=limit,
                close_timeout=limit,
                **options,
            )
        except InvalidStatus as exc:
            if self._failures is not None:
                self._failures.raise_first()  # a handler that raised answers 500
            raise WebSocketRejected(exc.status, list(exc.headers.items()), exc.body) from None
        except TimeoutError:
            raise TimeoutError(f"{path} did not complete the opening handshake within {limit} s") from None
        return AsyncSession(ws, path, limit, self._failures)

    # -- sync --------------------------------------------------------------

    def __enter__(self) -> TestClient:
        if self._thread is not None:
            raise RuntimeError("the TestClient is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="ferrosocket-testclient", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            self._call(self.__aenter__())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._call(self.__aexit__(exc_type, exc, tb))
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def release() -> None:
            release_engine(asyncio.get_running_loop())

        asyncio.run_coroutine_threadsafe(release(), loop).result(self.timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        loop.close()
        self._loop = self._thread = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("a sync session needs the TestClient entered with `with` (or use `async with`)")
        # Every awaited step is bounded by `timeout`; the margin only guards
        # against a loop that stopped answering at all.
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout * 4 + 5)
