"""Helpers shared by the tests: configs, handlers, and ways to get a
handler's outcome or its WebSocket back into the test.

Handlers run on the test's own event loop, so an exception raised inside a
handler is swallowed by the server (it closes with 1011). Tests therefore
never assert inside handlers directly: `Outcome` carries a handler's result or
exception back to the test, and `Held` gives the test the `WebSocket` itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import ferrosocket
from ferrosocket import WebSocket, WebSocketConfig

TIMEOUT = 5.0

#: The bridge mode the suite runs in (see conftest.py): "loop" or "thread".
BRIDGE = os.environ.get("FERROSOCKET_BRIDGE", "loop")


def fast_config(**kwargs: Any) -> WebSocketConfig:
    """A config with short shutdown and close timeouts, so a test that leaves a
    handler or a client hanging does not slow the suite down."""
    kwargs.setdefault("shutdown_timeout", 1.0)
    kwargs.setdefault("close_timeout", 2.0)
    return WebSocketConfig(**kwargs)


async def echo(ws: WebSocket) -> None:
    """Echo through the public API only (examples.echo uses internals)."""
    await ws.accept()
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


class Outcome:
    """Wraps a handler; `await outcome.result()` returns what it returned or
    raises what it raised (the exception still reaches the server)."""

    def __init__(self, handler: Callable[[WebSocket], Awaitable[Any]]) -> None:
        self.handler = handler
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def __call__(self, ws: WebSocket) -> None:
        try:
            value = await self.handler(ws)
        except asyncio.CancelledError:
            self.future.cancel()
            raise
        except BaseException as exc:
            if not self.future.done():
                self.future.set_exception(exc)
            raise
        if not self.future.done():
            self.future.set_result(value)

    async def result(self, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(asyncio.shield(self.future), timeout)


class Held:
    """A handler that gives its (unanswered) WebSocket to the test and stays
    alive until released, so the test drives the connection itself."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[WebSocket] = asyncio.Queue()
        self.released = asyncio.Event()

    async def __call__(self, ws: WebSocket) -> None:
        await self.queue.put(ws)
        await self.released.wait()

    async def next(self, timeout: float = TIMEOUT) -> WebSocket:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def release(self) -> None:
        self.released.set()


def url(server: ferrosocket.Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"
