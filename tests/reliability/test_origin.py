"""Origin allow-list (issue 6, item 4) against cross-site WebSocket
hijacking: exact origins and ``scheme://*.domain`` wildcards are allowed,
anything else gets HTTP 403 before the handler runs; a request without an
Origin (a non-browser client) is allowed unless require_origin."""

from __future__ import annotations

import pytest
import websockets
from relsupport import TIMEOUT, echo_ok, raw_request, request_bytes
from support import fast_config
from websockets.asyncio.client import connect

ALLOWED = ("https://app.example.com", "https://*.example.org")

ACCEPTED = [
    "https://app.example.com",
    "HTTPS://APP.EXAMPLE.COM",  # scheme and host compare case-insensitively
    "https://a.example.org",
    "https://deep.b.example.org",
]
REFUSED = [
    "https://evil.com",
    "http://app.example.com",  # another scheme is another origin
    "https://app.example.com:8443",  # another port too
    "https://app.example.com.evil.com",
    "https://example.org",  # the wildcard needs a subdomain
    "https://evilexample.org",  # ...a real one, after a dot
    "http://a.example.org",
    "https://a.example.org.evil.com",
    "null",
]


@pytest.fixture
async def guarded(serve):
    seen: list[str | None] = []

    async def handler(ws):
        seen.append(ws.headers.get("origin"))
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    server = await serve(handler, fast_config(allowed_origins=ALLOWED))
    server.seen = seen  # type: ignore[attr-defined]
    return server


@pytest.mark.parametrize("origin", ACCEPTED)
async def test_allowed_origin_connects(guarded, origin):
    await echo_ok(guarded.port, origin=origin)
    assert guarded.seen == [origin]


@pytest.mark.parametrize("origin", REFUSED)
async def test_other_origin_gets_403(guarded, origin):
    response, closed = await raw_request(guarded.port, request_bytes(guarded.port, "/", [("Origin", origin)]))
    assert response.status == 403
    assert closed
    assert guarded.seen == [], "the handler never ran"
    assert guarded.stats()["handshakes_refused"]["origin"] == 1
    assert guarded.stats()["connections_total"] == 0
    # A browser page from an allowed origin is still served.
    await echo_ok(guarded.port, origin="https://app.example.com")


async def test_real_client_with_refused_origin_sees_403(guarded):
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with connect(
            f"ws://127.0.0.1:{guarded.port}/", origin="https://evil.com", open_timeout=TIMEOUT, ping_interval=None
        ):
            pass
    assert info.value.response.status_code == 403


async def test_missing_origin_is_allowed_by_default(guarded):
    await echo_ok(guarded.port)
    assert guarded.seen == [None]


async def test_missing_origin_is_refused_with_require_origin(serve):
    server = await serve(_echo_any, fast_config(allowed_origins=ALLOWED, require_origin=True))
    response, _ = await raw_request(server.port, request_bytes(server.port, "/"))
    assert response.status == 403
    assert server.stats()["handshakes_refused"]["origin"] == 1
    await echo_ok(server.port, origin="https://x.example.org")


async def test_no_allow_list_allows_every_origin(serve):
    server = await serve(_echo_any, fast_config())
    await echo_ok(server.port, origin="https://anything.invalid")
    await echo_ok(server.port)


async def _echo_any(ws):
    await ws.accept()
    async for message in ws:
        await ws.send(message)
