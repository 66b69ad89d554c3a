"""Fixtures: in-process servers on port 0, raw-socket clients, and a handler
that hands its WebSocket to the test (see support.py).

The bridge mode under test is FERROSOCKET_BRIDGE (scripts/test.sh runs the
suite once per mode): ``loop`` (the default) runs every test on a
`ferrosocket.EventLoop`, so in-process servers run the engine on the loop's
thread; ``thread`` runs them on asyncio's stock loop, where servers use I/O
threads. The CLI's subprocesses inherit the variable, and ferrosocket reads
it too, so they run in the same mode."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ferrosocket
import pytest
from ferrosocket import WebSocketConfig
from rawws import RawClient
from support import BRIDGE, Held, fast_config


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    if BRIDGE == "thread":
        return {"stock-loop": asyncio.new_event_loop}
    return {"ferrosocket-loop": ferrosocket.new_event_loop}


def pytest_report_header() -> str:
    return f"ferrosocket bridge: {BRIDGE} (FERROSOCKET_BRIDGE)"


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
