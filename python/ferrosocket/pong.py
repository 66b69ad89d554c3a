"""What `WebSocket.ping()` returns: an awaitable that gives the pong waiter.

websockets' semantics: ``waiter = await ws.ping(); rtt = await waiter``.
The ping is queued when `ping()` is called; awaiting the result waits only
for write-buffer room (as any send does) and returns the waiter, an
`asyncio.Future` resolved by the engine with the round trip in seconds
when the matching pong arrives (a pong answers its ping and every earlier
one), or failed with `WebSocketDisconnect` if the connection closes first.
Code that ignores the result (``await ws.ping()``) keeps working, and a
waiter nobody awaits logs nothing when it fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any

__all__ = ["PingSent"]


class PingSent(Awaitable["asyncio.Future[float]"]):
    """The ping is queued; ``await`` this for its pong waiter."""

    __slots__ = ("_sent", "waiter")

    def __init__(self, sent: Awaitable[None], waiter: asyncio.Future[float]) -> None:
        self._sent = sent
        #: Resolved with the round trip in seconds when the pong arrives.
        self.waiter = waiter

    def __await__(self) -> Generator[Any, None, asyncio.Future[float]]:
        yield from self._sent.__await__()
        return self.waiter
