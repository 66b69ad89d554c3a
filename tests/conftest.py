"""Fixtures: in-process servers on port 0, raw-socket clients, and a handler
that hands its WebSocket to the test (see support.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ferrosocket
import pytest
from ferrosocket import WebSocketConfig
from rawws import RawClient
from support import Held, fast_config


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[ferrosocket.Server]]]:
    """`server = await serve(app, config=...)`: a running server on
    127.0.0.1 and a free port, closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(app: ferrosocket.App, config: WebSocketConfig | None = None) -> ferrosocket.Server:
            server = ferrosocket.serve(app, "127.0.0.1", 0, config=config or fast_config())
            return await stack.enter_async_context(server)

        yield start


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    """`client = await raw(port)`: a raw-socket client, closed after the test."""
    clients: list[RawClient] = []

    async def connect(port: int, **kwargs: Any) -> RawClient:
        client = await RawClient.connect(port, **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    handler = Held()
    yield handler
    handler.release()


# A real redis-server per test (test_broker*.py, the workers tests): `await redis()`;
# the CLI in a subprocess (test_cli*.py): `await cli("module:app", ...)`.
from brokersupport import redis  # noqa: E402, F401
from clisupport import cli  # noqa: E402, F401
