"""`serve()`, `Server` and `run()`: start the engine and run handlers.

The Rust engine owns the listener and every socket. Where it runs is the
bridge mode, decided when the server starts (`_on_loop`):

- on the loop's thread, inside the loop's selector, when the running loop is
  a `ferrosocket.EventLoop` (what `run()` and the CLI make) and
  `config.threads` is None: no thread hop per message (measured in
  bench/README.md);
- on `config.threads` tokio I/O threads (1 when unset) on any other loop
  (the stock asyncio loop, uvloop) or when ``threads`` is set, or when the
  ``FERROSOCKET_BRIDGE=thread`` environment variable asks for it.

Either way this module wires the engine to the loop the same way: one `Hub`
per server whose descriptor is registered with `loop.add_reader`, and one
task per connection running the user's handler. Handler tasks are kept
referenced until they end.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

from . import _logging, _native
from ._errors import WebSocketDisconnect, WebSocketException
from .asgi import convert_params
from .config import HTTPResponse, WebSocketConfig
from .eventloop import EventLoop, new_event_loop
from .states import WebSocketState
from .topics import ServerTopics
from .websocket import WebSocket

__all__ = ["serve", "Server", "run", "Handler", "App"]

logger = logging.getLogger("ferrosocket")
access_logger = logging.getLogger(_logging.ACCESS)

Handler = Callable[[WebSocket], Awaitable[None]]
App = Handler | Mapping[str, Handler | HTTPResponse]


def _compile(app: App) -> tuple[list[str] | None, dict[str, Handler], Handler | None, dict[str, Any]]:
    """Split an app into (websocket routes in table order, handlers by route,
    default handler, pages). Routes may be patterns (``/rooms/{room_id}``):
    the engine matches them, in this order, before the upgrade."""
    if callable(app) and not isinstance(app, Mapping):
        return None, {}, app, {}
    if not isinstance(app, Mapping):
        raise TypeError("app must be an async handler or a mapping of paths to handlers and HTTPResponses")
    handlers: dict[str, Handler] = {}
    pages: dict[str, Any] = {}
    for path, target in app.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"route paths must start with '/', got {path!r}")
        if isinstance(target, HTTPResponse):
            pages[path] = target.native()
        elif callable(target):
            handlers[path] = target
        else:
            raise TypeError(f"route {path!r} must map to an async handler or an HTTPResponse, got {target!r}")
    return list(handlers), handlers, None, pages


def _engine_selector(loop: asyncio.AbstractEventLoop, config: WebSocketConfig) -> Any:
    """The selector to run the engine in, or None for I/O threads (see the
    module docs)."""
    if config.threads is not None or not isinstance(loop, EventLoop):
        return None
    bridge = os.environ.get("FERROSOCKET_BRIDGE", "loop")
    if bridge not in ("loop", "thread"):
        raise ValueError(f"FERROSOCKET_BRIDGE must be 'loop' or 'thread', not {bridge!r}")
    return loop.engine_selector if bridge == "loop" else None


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


class Server(ServerTopics):
    """A running ferrosocket server. Use ``async with serve(...) as server``."""

    def __init__(
        self,
        app: App,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        config: WebSocketConfig | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        unix: str | None = None,
        sock: socket.socket | None = None,
        broker: str | None = None,
        broker_prefix: str = "ferrosocket:",
    ) -> None:
        self._routes, self._handlers, self._default, self._pages = _compile(app)
        # With patterns the engine says which route matched (table order);
        # a table of literal paths stays a dict lookup here.
        self._by_index = list(self._handlers.values())
        self._patterns = any("{" in route for route in self._routes or ())
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise ValueError("TLS needs both ssl_certfile and ssl_keyfile")
        self._listen: dict[str, Any] = {"tls_cert": ssl_certfile, "tls_key": ssl_keyfile, "unix_path": unix}
        if sock is not None:
            self._listen["fd"] = (sock.fileno(), sock.family == socket.AF_UNIX)
        if broker is not None:
            if not isinstance(broker, str):
                raise TypeError(f"broker must be a URL string, got {broker!r}")
            if not isinstance(broker_prefix, str):
                raise TypeError(f"broker_prefix must be a string, got {broker_prefix!r}")
            # Raises ValueError naming what is wrong, with the password redacted.
            self.broker: str | None = _native.check_broker(broker)
            self._listen["broker"] = broker
            self._listen["broker_prefix"] = broker_prefix
        else:
            self.broker = None
        self.tls = ssl_certfile is not None
        self._host = host
        self._requested_port = port
        self.config = config or WebSocketConfig()
        # Handler tasks and their connections, kept referenced until they end.
        self._tasks: dict[asyncio.Future[None], WebSocket] = {}
        self._done = self._on_task_done
        self._done_context = contextvars.Context()
        self._native: _native.NativeServer | None = None
        self._hub: _native.Hub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._closed: asyncio.Event | None = None
        self._shutdown: asyncio.Task[None] | None = None

    async def start(self) -> Server:
        """Bind and start accepting connections."""
        if self._native is not None:
            raise RuntimeError("the server is already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._closed = asyncio.Event()
        hub = _native.Hub(loop, self._on_connection, _engine_selector(loop, self.config))
        self._native = _native.NativeServer(
            hub,
            self._host,
            self._requested_port,
            self._routes,
            self._pages,
            self.config,
            **self._listen,
        )
        self._hub = hub
        loop.add_reader(hub.fd, hub.drain)
        # The context the handler tasks' done callbacks run in: one for all of
        # them, since a callback made without one copies the current context
        # per task (an object per idle connection).
        self._done_context = contextvars.copy_context()
        if self.broker is None:
            logger.info("ferrosocket serving on %s", self._urls())
        else:
            logger.info("ferrosocket serving on %s, topics shared through %s", self._urls(), self.broker)
        return self

    def _urls(self) -> str:
        """``ws://host:port``, plus the page's http:// URL when there are pages."""
        assert self._native is not None
        address = self._native.address
        ws = f"{'wss' if self.tls else 'ws'}://{address}"
        if not self._pages or address.startswith("unix:"):
            return ws
        host = self._native.host
        if host in ("0.0.0.0", "::"):  # a browser needs a concrete address
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        host = f"[{host}]" if ":" in host else host
        page = "/" if "/" in self._pages else sorted(self._pages)[0]
        return f"{ws} (open http{'s' if self.tls else ''}://{host}:{self._native.port}{page} in a browser)"

    def __await__(self) -> Generator[Any, None, Server]:
        return self.start().__await__()

    async def __aenter__(self) -> Server:
        if self._native is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    @property
    def on_loop(self) -> bool:
        """Whether the engine runs on the loop's thread (in its selector)
        rather than on I/O threads; see the module docs for when."""
        return self._hub is not None and self._hub.on_loop

    @property
    def port(self) -> int:
        """The bound port (the real one after asking for port 0)."""
        if self._native is None:
            return self._requested_port
        return self._native.port

    @property
    def host(self) -> str:
        """The bound address."""
        return self._host if self._native is None else self._native.host

    @property
    def address(self) -> str:
        """``host:port`` or ``unix:/path``."""
        return "" if self._native is None else self._native.address

    def stats(self) -> dict[str, Any]:
        """Counters since start: connections (total, open), messages and
        bytes in/out, refused handshakes by reason, topics, and ``broker``:
        None, or a dict of the broker's url (password redacted), state
        (connected, connecting, disconnected), published, received,
        dropped (outgoing queue full), unsent (broker unreachable) and
        reconnects."""
        if self._native is None:
            return {}
        return self._native.stats()

    @property
    def connections(self) -> int:
        """Open sockets, including handshakes in progress."""
        return 0 if self._native is None else self._native.connections

    def _on_connection(self, conn: _native.Connection) -> None:
        ws = WebSocket(conn, self)
        path = conn.path
        if self._patterns or ("%" in path and self._routes is not None):
            assert self._native is not None
            found = self._native.resolve(path)
            handler: Handler | None = None
            if found is not None:
                handler = self._by_index[found[0]]
                if found[1]:
                    ws._path_params = convert_params(found[1])
        else:
            handler = self._handlers.get(path, self._default)
        assert self._loop is not None
        if handler is None:  # the engine routes, so this only happens on a race
            conn.reject(404, b"Not Found\n", None)
            self._hub.release(conn.id)  # type: ignore[union-attr]
            return
        ws._started = time.monotonic()
        try:
            result = handler(ws)
            if not inspect.isawaitable(result):
                raise TypeError(f"handler {handler!r} must be an async function")
        except Exception as exc:
            self._finish(ws, exc)
            return
        # The handler's own coroutine is the task, with no wrapper coroutine
        # around it: what a wrapper did when the handler ends is done by the
        # done callback (one bound method shared by every task), so an idle
        # connection holds no frame of the server's (see bench/README.md).
        task = asyncio.ensure_future(result, loop=self._loop)
        self._tasks[task] = ws
        task.add_done_callback(self._done, context=self._done_context)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        ws = self._tasks.pop(task)
        if task.cancelled():
            c = ws._c
            if c.state in ("OPEN", "CONNECTING"):
                c.close(1001, "")
            self._finish(ws, None, closed=True)
        else:
            self._finish(ws, task.exception())

    def _finish(self, ws: WebSocket, exc: BaseException | None, closed: bool = False) -> None:
        """Close what the handler left open, by how it ended: 1000 when it
        returned, its code for a `WebSocketException`, 1011 (500 before
        accept) when it raised; then log the connection's end."""
        c = ws._c
        try:
            if closed or isinstance(exc, WebSocketDisconnect):
                pass
            elif isinstance(exc, WebSocketException):
                # The handler's decision to close with this code (403 before accept).
                if c.state in ("CONNECTING", "OPEN"):
                    c.close(exc.code, exc.reason)
                ws.application_state = WebSocketState.DISCONNECTED
            elif isinstance(exc, Exception):
                logger.error("handler for %s raised", c.path, exc_info=exc)
                if c.state == "CONNECTING":
                    c.reject(500, b"Internal Server Error\n", None)
                elif c.state == "OPEN":
                    c.close(1011, "")
            elif exc is None and c.state in ("CONNECTING", "OPEN"):
                c.close(1000, "")
        finally:
            if self._hub is not None:
                self._hub.release(c.id)
            if ws._accepted:  # a refused handshake is logged by the engine
                access_logger.info(
                    "connection closed: %s %s code=%s duration=%.1fs",
                    _peer(c.client),
                    c.path,
                    c.close_code,
                    time.monotonic() - ws._started,
                )

    def close(self, code: int = 1001, reason: str = "") -> None:
        """Stop accepting and close every connection with `code` (1001 by
        default; 1012 tells clients the service restarts). Returns at once;
        the shutdown goes on in the background: await `wait_closed()`.
        A code that may not be sent or a reason over 123 bytes raises
        `ValueError` and closes nothing."""
        if self._native is None or self._closing:
            return
        # Raises ValueError for a code or reason that cannot be sent, before
        # anything is stopped or closed.
        self._native.close(code, reason)
        self._closing = True
        assert self._loop is not None
        self._shutdown = self._loop.create_task(self._shut_down())

    async def _shut_down(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        native, hub = self._native, self._hub
        if native is None or hub is None:
            return
        self._native = None
        assert self._loop is not None
        self._loop.remove_reader(hub.fd)
        native.shutdown()
        self._hub = None
        assert self._closed is not None
        self._closed.set()
        logger.info("ferrosocket stopped")

    async def wait_closed(self) -> None:
        """Wait until the server is closed: every handler finished (or was
        cancelled after `config.shutdown_timeout`) and the listener and its
        threads released. Before `close()` it waits for someone to call it."""
        if self._closed is None:
            return
        if self._shutdown is not None:
            await asyncio.shield(self._shutdown)
        await self._closed.wait()

    async def serve_forever(self) -> None:
        """Serve until `close()` is called (or the task is cancelled)."""
        if self._native is None:
            await self.start()
        assert self._closed is not None
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise


def serve(
    app: App,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    config: WebSocketConfig | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    unix: str | None = None,
    sock: socket.socket | None = None,
    broker: str | None = None,
    broker_prefix: str = "ferrosocket:",
) -> Server:
    """A server for `app`: ``async with serve(app, host, port) as server`` or
    ``server = await serve(...)``. `app` is an async handler (every path) or
    a mapping of paths to handlers and `HTTPResponse` pages; port 0 picks a
    free port (see ``server.port``). `ssl_certfile`/`ssl_keyfile` (PEM) serve
    wss://; `unix` listens on a Unix socket path; `sock` adopts an already
    listening socket (e.g. one passed by systemd).

    `broker` shares topics with other servers: ``redis://[user:password@]host:port/db``
    (or ``rediss://``) for servers on several hosts, ``ferrosocket+unix:///path.sock``
    for processes of one machine sharing a `ferrosocket.Bus` hub. A publish then
    reaches the subscribers of every server, at most once; channels are named
    `broker_prefix` + topic. A bad URL raises ValueError here; an unreachable
    broker does not stop the server (it retries, see ``stats()["broker"]``)."""
    return Server(
        app,
        host,
        port,
        config=config,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        unix=unix,
        sock=sock,
        broker=broker,
        broker_prefix=broker_prefix,
    )


def run(
    app: App | str,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    config: WebSocketConfig | None = None,
    log_level: str | int | None = "info",
    access_log: bool = True,
    loop: str = "asyncio",
    workers: int = 1,
    shutdown_code: int = 1001,
    _lifeline: socket.socket | None = None,
    **listen: Any,
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then close every connection with
    `shutdown_code` (1001 "going away"; 1012 tells clients the service
    restarts) and wait for the handlers. `app` may be an import string
    ``"module:attribute"``. `loop` is ``"asyncio"`` (a `ferrosocket.EventLoop`:
    the engine on the loop's thread unless ``config.threads`` is set) or
    ``"uvloop"`` (the engine on I/O threads); `listen`
    takes `serve()`'s ssl_certfile, ssl_keyfile, unix, sock, broker and
    broker_prefix.
    `access_log=False` silences the per-connection lines (see `_logging`).

    ``workers=N`` (N > 1) binds once and runs N worker processes under a
    supervisor that restarts the ones that die (see `ferrosocket.supervisor`);
    each worker imports the app, so `app` must then be an import string."""
    if shutdown_code not in (1001, 1012):
        raise ValueError(f"shutdown_code must be 1001 (going away) or 1012 (service restart), got {shutdown_code!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
    if loop not in ("asyncio", "uvloop"):
        raise ValueError('loop must be "asyncio" or "uvloop"')
    if workers > 1:
        from .supervisor import supervise

        options = dict(log_level=log_level, access_log=access_log, loop=loop, shutdown_code=shutdown_code)
        supervise(app, host, port, workers, config=config or WebSocketConfig(), **options, **listen)
        return
    if isinstance(app, str):
        from .__main__ import load_app

        app = load_app(app)
    _logging.configure(log_level, access_log)
    served: App = app

    async def main() -> None:
        # Handlers go in before the socket is bound: a supervisor may send
        # SIGTERM as soon as the port answers.
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, stop.set)
        server = await serve(served, host, port, config=config, **listen)
        if _lifeline is not None:
            _watch_lifeline(running, _lifeline, stop)
        await stop.wait()
        logger.info("shutting down: closing %d connection(s) with %d", server.connections, shutdown_code)
        server.close(shutdown_code, "server shutting down" if shutdown_code == 1001 else "server restarting")
        await server.wait_closed()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        _run_on_event_loop(main())


def _watch_lifeline(loop: asyncio.AbstractEventLoop, lifeline: socket.socket, stop: asyncio.Event) -> None:
    """A worker tells its supervisor it serves, and stops when the
    supervisor is gone (end-of-file on the lifeline, see `supervisor`)."""
    lifeline.setblocking(False)
    lifeline.send(b"r")

    def readable() -> None:
        try:
            if lifeline.recv(1):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        loop.remove_reader(lifeline)
        logger.warning("the supervisor is gone: shutting down")
        stop.set()

    loop.add_reader(lifeline, readable)


def _run_on_event_loop(main: Awaitable[None]) -> None:
    """`asyncio.run(main)` on a `ferrosocket.EventLoop`."""
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main)  # type: ignore[arg-type]
        return
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
