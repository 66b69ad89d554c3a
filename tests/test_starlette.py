"""One Starlette endpoint file, two servers: uvicorn + Starlette, and
ferrosocket with only the imports changed. A websockets client checks that
both behave the same (and what that behaviour is, so that two equal
mistakes would still fail). The endpoints are in starlette_app.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import types
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

SOURCE = (Path(__file__).parent / "starlette_app.py").read_text()
# The port: the imports, and nothing else.
PORTED = (
    SOURCE.replace("from starlette import status", "from ferrosocket import status")
    .replace("from starlette.exceptions import WebSocketException", "from ferrosocket import WebSocketException")
    .replace("from starlette.websockets import", "from ferrosocket import")
)
SERVERS = ["starlette", "ferrosocket"]


def load(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


class Target:
    def __init__(self, port: int, module: types.ModuleType) -> None:
        self.port, self.module = port, module

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def record(self, tag: str) -> Any:
        """What the endpoint recorded for `tag` once the client was gone."""
        for _ in range(500):
            if tag in self.module.RECORDS:
                return self.module.RECORDS[tag][0]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no record for {tag!r}")


@pytest.fixture
async def targets(serve) -> AsyncIterator[dict[str, Target]]:
    original = load("starlette_endpoints", SOURCE)
    ported = load("ferrosocket_endpoints", PORTED)
    assert ported.WebSocketState.__module__.startswith("ferrosocket")
    app = Starlette(routes=[WebSocketRoute(path, endpoint) for path, endpoint in original.ROUTES])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", ws="websockets-sansio", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    ours = await serve(dict(ported.ROUTES))
    try:
        yield {
            "starlette": Target(sock.getsockname()[1], original),
            "ferrosocket": Target(ours.port, ported),
        }
    finally:
        server.should_exit = True
        await task
        sock.close()


async def both(targets: dict[str, Target], scenario: Any) -> Any:
    """Run `scenario(target)` on both servers; return the common result."""
    results = {name: await scenario(targets[name]) for name in SERVERS}
    assert results["ferrosocket"] == results["starlette"]
    return results["ferrosocket"]


async def test_room_endpoint_sees_the_same_request(targets):
    async def scenario(t: Target) -> Any:
        url = t.url("/rooms/lobby%20one?t=a&t=b&tag=room")
        headers = [("Cookie", 'session=abc; theme="dark"'), ("X-Demo", "1"), ("X-Demo", "2")]
        async with connect(url, additional_headers=headers) as client:
            server_header = client.response.headers.get_all("x-server")
            await client.send("report")
            report = json.loads(await client.recv())
            await client.send("hello")
            upper = await client.recv()
            await client.send(b"\x01\x02\x03")
            reversed_ = await client.recv()
        return server_header, report, upper, reversed_, await t.record("room")

    server_header, report, upper, reversed_, closed = await both(targets, scenario)
    assert server_header == ["demo"]
    assert (upper, reversed_) == ("HELLO", b"\x03\x02\x01")
    assert report["room"] == "lobby one"
    assert report["cookies"] == {"session": "abc", "theme": "dark"}
    assert (report["path"], report["query"], report["scheme"]) == ("/rooms/lobby one", "t=a&t=b&tag=room", "ws")
    assert report["url"] == "ws://127.0.0.1:PORT/rooms/lobby one?t=a&t=b&tag=room"
    assert report["base_url"] == "ws://127.0.0.1:PORT/"
    assert (report["hostname"], report["port_is_server_port"]) == ("127.0.0.1", True)
    assert report["client_host"] == "127.0.0.1"
    assert report["raw_x"] == [["x-demo", "1"], ["x-demo", "2"]]
    assert (report["getlist"], report["mutable"]) == (["1", "2"], ["1", False])
    assert (report["tags"], report["last"]) == (["a", "b"], "b")
    assert report["multi"] == [["t", "a"], ["t", "b"], ["tag", "room"]]
    assert report["first"] == "websocket.connect"
    assert report["states"] == [
        ["CONNECTING", "CONNECTING"],
        ["CONNECTED", "CONNECTING"],
        ["CONNECTED", "CONNECTED"],
    ]
    assert report["scope"] == {
        "type": "websocket",
        "scheme": "ws",
        "path": "/rooms/lobby one",
        "raw_path": "/rooms/lobby%20one",
        "query_string": "t=a&t=b&tag=room",
        "root_path": "",
        "subprotocols": [],
        "path_params": {"room_id": "lobby one"},
        "asgi": "3.0",
        "cookie_header": ['session=abc; theme="dark"'],
    }
    # The peer's close: the client side is DISCONNECTED, ours still CONNECTED.
    assert closed == {"code": 1000, "states": ["DISCONNECTED", "CONNECTED"]}


async def test_application_close(targets):
    async def scenario(t: Target) -> Any:
        async with connect(t.url("/app-closes?tag=close")) as client:
            await client.send("x")
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()
        return info.value.rcvd.code, info.value.rcvd.reason, await t.record("close")

    code, reason, record = await both(targets, scenario)
    assert (code, reason) == (4001, "bye")
    assert record == {
        "after_close": ["CONNECTED", "DISCONNECTED"],
        "next": "websocket.disconnect",
        "states": ["DISCONNECTED", "DISCONNECTED"],
    }


async def status_of(url: str) -> tuple[int, bytes, str | None]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url):
            pass
    response = info.value.response
    return response.status_code, response.body, response.headers.get("x-why")


async def test_close_before_accept_is_a_403(targets):
    async def scenario(t: Target) -> Any:
        return (await status_of(t.url("/refuses?tag=refuse")))[0], await t.record("refuse")

    assert await both(targets, scenario) == (403, {"states": ["CONNECTING", "DISCONNECTED"]})


async def test_denial_response_through_asgi_events(targets):
    async def scenario(t: Target) -> Any:
        return await status_of(t.url("/denies?tag=deny")), await t.record("deny")

    response, record = await both(targets, scenario)
    assert response == (401, b"no token", "token")
    assert record == {"after_start": ["CONNECTING", "RESPONSE"], "states": ["CONNECTING", "DISCONNECTED"]}


async def test_send_denial_response_with_a_starlette_response(targets):
    async def scenario(t: Target) -> Any:
        return await status_of(t.url("/denies-with-response?tag=deny2")), await t.record("deny2")

    response, record = await both(targets, scenario)
    assert response == (418, b"teapot", "tea")
    assert record == {"states": ["CONNECTING", "DISCONNECTED"]}


async def test_receive_text_until_disconnect(targets):
    async def scenario(t: Target) -> Any:
        async with connect(t.url("/reads-text?tag=text")) as client:
            await client.send("a")
            got = await client.recv()
            await client.close(4100, "done")
        return got, await t.record("text")

    assert await both(targets, scenario) == ("got a", {"code": 4100, "states": ["DISCONNECTED", "CONNECTED"]})


async def test_iter_json_ends_at_the_close(targets):
    async def scenario(t: Target) -> Any:
        async with connect(t.url("/iterates?tag=iter")) as client:
            await client.send('{"n": 1}')
            got = json.loads(await client.recv())
        return got, await t.record("iter")

    assert await both(targets, scenario) == ({"echo": {"n": 1}}, {"states": ["DISCONNECTED", "CONNECTED"]})


async def test_websocket_exception_closes_with_its_code(targets):
    async def scenario(t: Target) -> Any:
        before = (await status_of(t.url("/raises/before")))[0]
        async with connect(t.url("/raises/after")) as client:
            await client.send("x")
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()
        return before, info.value.rcvd.code, info.value.rcvd.reason

    assert await both(targets, scenario) == (403, 1008, "not allowed")


async def test_a_handler_that_returns_or_crashes_without_closing(targets, caplog):
    async def scenario(t: Target) -> Any:
        seen = {}
        for how in ("return-after", "crash-after"):
            async with connect(t.url(f"/ends/{how}")) as client:
                first = await client.recv()
                with pytest.raises(ConnectionClosed) as info:
                    await client.recv()
            seen[how] = (first, info.value.rcvd.code if info.value.rcvd else None)
        seen["crash-before"] = (await status_of(t.url("/ends/crash-before")))[0]
        return seen

    # uvicorn drops the connection without a close frame when the app ends
    # without closing (the client sees 1006); ferrosocket closes for it.
    assert await scenario(targets["starlette"]) == {
        "return-after": ("accepted", None),
        "crash-after": ("accepted", None),
        "crash-before": 500,
    }
    assert await scenario(targets["ferrosocket"]) == {
        "return-after": ("accepted", 1000),
        "crash-after": ("accepted", 1011),
        "crash-before": 500,
    }


U = uuid.UUID("c3a9a1d2-6bc4-4d47-9bb6-1a3e1d5b7e10")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/n/42", {"id": ["int", "42"]}),
        ("/f/3.25", {"x": ["float", "3.25"]}),
        ("/f/7", {"x": ["float", "7.0"]}),
        (f"/u/{U}", {"u": ["UUID", str(U)]}),
        (f"/u/{U.hex}", {"u": ["UUID", str(U)]}),
        ("/p/a/b/c.txt", {"rest": ["str", "a/b/c.txt"]}),
        ("/p/", {"rest": ["str", ""]}),
        ("/x-y-z", {"a": ["str", "x-y"], "b": ["str", "z"]}),
    ],
)
async def test_every_convertor(targets, path, expected):
    async def scenario(t: Target) -> Any:
        async with connect(t.url(path)) as client:
            return json.loads(await client.recv())

    assert await both(targets, scenario) == expected


@pytest.mark.parametrize("path", ["/n/abc", "/n/-1", "/f/1.", "/u/not-a-uuid", "/rooms/a/b", "/nowhere"])
async def test_a_path_no_pattern_matches_is_refused_without_python(targets, path):
    # Starlette's router closes an unmatched WebSocket before accepting it
    # (uvicorn answers 403); ferrosocket answers 404 from the engine.
    assert (await status_of(targets["starlette"].url(path)))[0] == 403
    assert (await status_of(targets["ferrosocket"].url(path)))[0] == 404
