"""The Starlette-shaped API on ferrosocket alone: what the differential test
(test_starlette.py) cannot compare, because uvicorn does it differently or
not at all, and the small data structures. Routing and the ASGI events are
driven through `ferrosocket.testing.TestClient`, as an application's own
tests would."""

from __future__ import annotations

import uuid

import ferrosocket
import pytest
from ferrosocket import URL, CloseCode, Headers, QueryParams, WebSocketDisconnect, WebSocketState, status
from ferrosocket.testing import TestClient, WebSocketRejected
from support import Outcome, fast_config, url
from websockets.asyncio.client import connect


async def test_bytes_pair_headers_and_cr_lf_in_a_bytes_value(serve):
    async def handler(ws):
        with pytest.raises(ValueError, match="CR, LF"):
            await ws.accept(headers=[(b"x-server", b"demo\r\nx-injected: 1")])
        with pytest.raises(ValueError, match="header name"):
            await ws.accept(headers=[(b"x server", b"demo")])
        await ws.accept(headers=[(b"x-server", b"demo"), ("X-Str", "yes")])

    server = await serve(handler)
    async with connect(url(server)) as client:
        headers = client.response.headers
        assert (headers["x-server"], headers["x-str"], headers.get("x-injected")) == ("demo", "yes", None)
        assert "b'x-server'" not in str(headers)


async def test_a_miss_is_a_404_without_calling_python():
    calls = []

    async def handler(ws):
        calls.append(ws.path)
        await ws.accept()

    async with TestClient({"/rooms/{room_id}": handler, "/n/{id:int}": handler}) as client:
        for path in ("/rooms/a/b", "/n/x", "/rooms/"):
            with pytest.raises(WebSocketRejected) as info:
                await client.websocket_connect(path)
            assert info.value.status == 404
        assert calls == []
        assert client.server.stats()["handshakes_refused"]["not_found"] == 3


async def test_literal_routes_before_a_pattern_win_and_after_it_are_shadowed():
    async def which(name):
        async def handler(ws):
            await ws.accept()
            await ws.send_json([name, ws.path_params])

        return handler

    app = {"/rooms/lobby": await which("literal"), "/rooms/{id}": await which("pattern")}
    app["/rooms/new"] = await which("shadowed")
    async with TestClient(app) as client:
        for path, expected in (("/rooms/lobby", ["literal", {}]), ("/rooms/new", ["pattern", {"id": "new"}])):
            async with client.websocket_connect(path) as ws:
                assert await ws.receive_json() == expected


async def test_a_bad_pattern_is_refused_at_start(serve):
    async def handler(ws):
        pass

    with pytest.raises(ValueError, match="unknown path convertor"):
        await serve({"/a/{x:nope}": handler})


async def test_uuid_path_param_is_a_uuid():
    async def handler(ws):
        await ws.accept()
        return ws.path_params["u"]

    outcome = Outcome(handler)
    u = uuid.uuid4()
    async with TestClient({"/u/{u:uuid}": outcome}) as client, client.websocket_connect(f"/u/{u}"):
        pass
    assert await outcome.result() == u


async def test_send_after_the_close_marks_the_application_disconnected(serve):
    async def handler(ws):
        await ws.accept()
        assert (await ws.receive())["type"] == "websocket.disconnect"
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send({"type": "websocket.send", "text": "too late"})
        return info.value.code, ws.client_state, ws.application_state

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config())
    async with connect(url(server)) as client:
        await client.close(4005)
    assert await outcome.result() == (4005, WebSocketState.DISCONNECTED, WebSocketState.DISCONNECTED)


async def test_asgi_accept_event_with_subprotocol_and_headers():
    async def handler(ws):
        assert await ws.receive() == {"type": "websocket.connect"}
        await ws.send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]})
        message = await ws.receive()
        await ws.send({"type": "websocket.send", "bytes": message["text"].encode()})
        await ws.send({"type": "websocket.close", "code": 4010, "reason": "done"})

    async with TestClient(handler) as client, client.websocket_connect("/", subprotocols=["chat"]) as ws:
        assert (ws.subprotocol, ws.response_headers["x-a"]) == ("chat", "1")
        await ws.send_text("hi")
        assert await ws.receive_bytes() == b"hi"
        closed = await ws.receive()
        assert (closed["type"], closed["code"], closed["reason"]) == ("websocket.disconnect", 4010, "done")


def test_messages_read_as_asgi_events():
    text, data, close = ferrosocket.Text("hi"), ferrosocket.Binary(b"\x00"), ferrosocket.Close(1001, "bye")
    assert (text["type"], text["text"], text.get("bytes"), "text" in text, "bytes" in text) == (
        "websocket.receive",
        "hi",
        None,
        True,
        False,
    )
    assert dict(data) == {"type": "websocket.receive", "bytes": b"\x00"}
    assert close == {"type": "websocket.disconnect", "code": 1001, "reason": "bye"}
    with pytest.raises(KeyError):
        text["bytes"]
    match close:
        case {"type": "websocket.disconnect", "code": code}:
            assert code == 1001
        case _:
            pytest.fail("a Close is a mapping pattern too")


def test_status_names_are_close_codes():
    assert status.WS_1000_NORMAL_CLOSURE is CloseCode.NORMAL_CLOSURE
    assert status.WS_1008_POLICY_VIOLATION == 1008
    assert status.WS_1013_TRY_AGAIN_LATER == 1013
    assert [s.value for s in WebSocketState] == [0, 1, 2, 3]


def test_data_structures():
    u = URL("ws://user:pw@example.com:8080/a%20b/c?x=1&x=2#f")
    assert (u.scheme, u.hostname, u.port, u.path, u.query, u.username) == (
        "ws",
        "example.com",
        8080,
        "/a%20b/c",
        "x=1&x=2",
        "user",
    )
    assert u == str(u) and not u.is_secure
    assert str(u.replace(scheme="wss", port=443)) == "wss://user:pw@example.com:443/a%20b/c?x=1&x=2#f"
    assert str(URL("ws://h/p?a=1").include_query_params(b="2")) == "ws://h/p?a=1&b=2"
    h = Headers([("X-A", "1"), ("x-a", "2"), ("Host", "h")])
    assert (h["x-a"], h.getlist("X-A"), h.raw[0], h.keys()) == ("1", ["1", "2"], (b"x-a", b"1"), ["x-a", "x-a", "host"])
    m = h.mutablecopy()
    m["x-a"] = "3"
    m.append("x-b", "4")
    del m["host"]
    assert m.items() == [("x-a", "3"), ("x-b", "4")] and h.getlist("x-a") == ["1", "2"]
    q = QueryParams("a=1&a=2&b=")
    assert (q["a"], q.getlist("a"), q.multi_items(), str(q)) == (
        "2",
        ["1", "2"],
        [("a", "1"), ("a", "2"), ("b", "")],
        "a=1&a=2&b=",
    )


async def test_the_client_role_starts_connected_and_receive_gives_messages(serve):
    # ferrosocket.connect() hands over an open connection: there is no
    # "websocket.connect" event to take, receive() gives the first message.
    async def handler(ws):
        await ws.accept()
        await ws.send_text("first")

    server = await serve(handler)
    async with ferrosocket.connect(url(server)) as client:
        assert (client.client_state, client.application_state) == (WebSocketState.CONNECTED,) * 2
        message = await client.receive()
        assert (message["type"], message["text"]) == ("websocket.receive", "first")
