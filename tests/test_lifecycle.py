"""The life of one connection: handshake answers, states, close codes both
ways, handler endings, misuse, subprotocols and request data."""

from __future__ import annotations

import asyncio
import logging

import pytest
import rawws
import websockets
from ferrosocket import Close, CloseCode, Text, WebSocketDisconnect
from support import TIMEOUT, Outcome, url
from websockets.asyncio.client import connect


async def closed_by_server(client) -> tuple[int, str]:
    """Wait for the server's close frame on a websockets client."""
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(client.recv(), TIMEOUT)
    assert info.value.rcvd is not None, "the server sent no close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def test_states_through_the_close_handshake(serve, raw, held):
    server = await serve(held)
    client = await raw(server.port)
    await client.request_upgrade()
    ws = await held.next()
    assert (ws.state, ws.is_open, ws.close_code, ws.close_reason) == ("CONNECTING", False, None, None)
    await ws.accept()
    assert (ws.state, ws.is_open) == ("OPEN", True)
    assert (await client.read_response_head()).status == 101
    await ws.close(4100, "closing")
    assert (ws.state, ws.is_open) == ("CLOSING", False)
    assert await client.expect_close() == (4100, "closing")
    assert ws.state == "CLOSING", "closed before the client answered the close"
    await client.send_close(4100)
    assert await client.at_eof(), "the server did not close the TCP connection"
    assert (ws.state, ws.is_open, ws.close_code, ws.close_reason) == ("CLOSED", False, 4100, "closing")
    client.close()  # the server lingers for our FIN before releasing the socket
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)


async def test_close_twice_does_nothing(serve, raw, held):
    server = await serve(held)
    client = await raw(server.port)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    await ws.close(4000)
    await ws.close(4001, "again")
    await client.read_response_head()
    assert await client.expect_close() == (4000, "")
    await client.send_close(4000)
    # Only one close frame was sent: next comes the end of the stream.
    assert await client.at_eof()


async def test_client_close_code_and_reason_reach_handler(serve):
    async def handler(ws):
        await ws.accept()
        first = await ws.receive()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        with pytest.raises(WebSocketDisconnect):
            await ws.receive()
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("too late")
        await ws.wait_closed()
        return first, info.value.code, info.value.reason, ws.state, ws.close_code, ws.close_reason

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.close(4000, "bye")
        assert client.close_code == 4000, "the server did not echo the client's close code"
    assert await outcome.result() == (Close(4000, "bye"), 4000, "bye", "CLOSED", 4000, "bye")


async def test_client_close_without_code_is_1005(serve, raw):
    async def handler(ws):
        await ws.accept()
        return await ws.receive()

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    await client.send_close(None)
    assert await outcome.result() == Close(1005, "")
    frame = await client.recv_frame()
    assert frame.opcode == rawws.CLOSE and frame.payload == b""


async def test_server_close_code_and_reason_reach_client(serve):
    async def handler(ws):
        await ws.accept()
        await ws.close(4001, "x")
        await ws.wait_closed()
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("too late")
        return ws.state

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        assert await closed_by_server(client) == (4001, "x")
    assert await outcome.result() == "CLOSED"


async def test_receive_after_server_close_returns_close_then_disconnects(serve):
    async def handler(ws):
        await ws.accept()
        await ws.close(4003)
        last = await ws.receive()
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_bytes()
        return last

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        assert await closed_by_server(client) == (4003, "")
    assert isinstance(await outcome.result(), Close)


async def test_client_vanishing_is_1006(serve, raw):
    async def handler(ws):
        await ws.accept()
        message = await ws.receive()
        return message, ws.state

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    client.close()  # no close frame
    assert await outcome.result() == (Close(1006, ""), "CLOSED")


async def test_messages_before_client_close_are_delivered_and_answered_first(serve, raw, held):
    server = await serve(held)
    client = await raw(server.port)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    await client.read_response_head()
    for i in range(5):
        await client.send_text(str(i))
    await client.send_close(4000, "done")
    await asyncio.sleep(0.1)  # let the close arrive while the messages are still queued
    received = []
    async for message in ws:
        received.append(message)
        await ws.send_text(f"re {message}")
    assert received == ["0", "1", "2", "3", "4"]
    assert ws.close_code == 4000
    replies = [await client.recv_message() for _ in range(5)]
    assert replies == [(rawws.TEXT, f"re {i}".encode()) for i in range(5)]
    assert (await client.expect_close())[0] == 4000


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
async def test_invalid_close_code_raises_value_error(serve, code):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(ValueError):
            await ws.close(code)
        state = ws.state
        await ws.close(CloseCode.GOING_AWAY)
        return state

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        assert await closed_by_server(client) == (1001, "")
    assert await outcome.result() == "OPEN"


@pytest.mark.parametrize("code", [-1, 65536])
async def test_out_of_range_close_code_raises_value_error(serve, code):
    async def handler(ws):
        await ws.accept()
        await ws.close(code)

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)):
        with pytest.raises(ValueError):
            await outcome.result()


async def test_close_reason_longer_than_123_bytes_raises_value_error(serve):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(ValueError):
            await ws.close(1000, "é" * 62)  # 124 bytes
        await ws.close(1000, "é" * 61 + "x")  # 123 bytes: allowed

    server = await serve(handler)
    async with connect(url(server)) as client:
        assert await closed_by_server(client) == (1000, "é" * 61 + "x")


async def test_close_reason_too_long_names_the_reason_not_the_code(serve):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(ValueError) as info:
            await ws.close(1000, "r" * 124)
        await ws.close()
        return str(info.value)

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)):
        message = await outcome.result()
    assert "123 bytes" in message and "close code" not in message, message


@pytest.mark.parametrize("status", [100, 101, 199, 600, 999])
async def test_reject_with_a_status_that_is_no_refusal_raises_value_error(serve, raw, status):
    async def handler(ws):
        with pytest.raises(ValueError, match="200-599"):
            await ws.reject(status)
        await ws.reject(409, "taken")  # still CONNECTING: a valid refusal goes out

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.request_upgrade()
    assert (await client.read_response()).status == 409
    await outcome.result()


async def test_reject_with_200_is_a_refusal_as_in_uvicorn(serve, raw):
    server = await serve(lambda ws: ws.reject(200, "plain page"))
    client = await raw(server.port)
    await client.request_upgrade()
    response = await client.read_response()
    assert (response.status, response.body) == (200, b"plain page")


async def test_close_before_accept_is_http_403(serve, raw):
    async def handler(ws):
        await ws.close()
        return ws.state

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.request_upgrade()
    response = await client.read_response()
    assert response.status == 403
    assert await outcome.result() == "CLOSED"
    assert await client.at_eof()


async def test_close_before_accept_seen_by_websockets_client(serve):
    async def handler(ws):
        await ws.close()

    server = await serve(handler)
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(url(server)):
            pass
    assert info.value.response.status_code == 403


async def test_reject_sends_status_body_and_headers(serve, raw):
    async def handler(ws):
        await ws.reject(401, "go away", {"WWW-Authenticate": 'Basic realm="x"'})
        with pytest.raises(RuntimeError):
            await ws.accept()
        with pytest.raises(ValueError):
            await ws.reject(101)
        return ws.state

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.request_upgrade()
    response = await client.read_response()
    assert (response.status, response.body) == (401, b"go away")
    assert response.headers["www-authenticate"] == 'Basic realm="x"'
    assert "sec-websocket-accept" not in response.headers
    assert await outcome.result() == "CLOSED"


async def test_reject_with_bytes_body_and_header_list(serve, raw):
    async def handler(ws):
        await ws.reject(429, b"\x00slow down", [("Retry-After", "7"), ("X-A", "1")])

    server = await serve(handler)
    client = await raw(server.port)
    await client.request_upgrade()
    response = await client.read_response()
    assert (response.status, response.body) == (429, b"\x00slow down")
    assert (response.headers["retry-after"], response.headers["x-a"]) == ("7", "1")


async def test_handler_returning_closes_with_1000(serve):
    async def handler(ws):
        await ws.accept()
        await ws.send_text("bye")

    server = await serve(handler)
    async with connect(url(server)) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "bye"
        assert await closed_by_server(client) == (1000, "")


async def test_handler_returning_before_accept_is_http_403(serve, raw):
    async def handler(ws):
        return None

    server = await serve(handler)
    client = await raw(server.port)
    await client.request_upgrade()
    assert (await client.read_response()).status == 403


async def test_disconnect_escaping_the_handler_is_not_an_error(serve, caplog):
    async def handler(ws):
        await ws.accept()
        while True:
            await ws.receive_text()  # raises WebSocketDisconnect once the client is gone

    outcome = Outcome(handler)
    server = await serve(outcome)
    with caplog.at_level(logging.INFO, logger="ferrosocket"):
        async with connect(url(server)) as client:
            await client.send("one")
            await client.close(4000)
        with pytest.raises(WebSocketDisconnect):
            await outcome.result()
        await asyncio.sleep(0)  # let the server's wrapper finish
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_tasks_outliving_the_handler_see_the_close(serve):
    spawned = {}

    async def handler(ws):
        await ws.accept()
        first = asyncio.Event()

        async def reader():
            messages = []
            async for message in ws:
                messages.append(message)
                first.set()
            return messages

        spawned["reader"] = asyncio.ensure_future(reader())
        spawned["closed"] = asyncio.ensure_future(ws.wait_closed())
        await first.wait()
        # Returns while the reader still waits: the server closes with 1000.

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send("for the reader")
        await outcome.result()
        assert await closed_by_server(client) == (1000, "")
    messages, _ = await asyncio.wait_for(asyncio.gather(spawned["reader"], spawned["closed"]), 2)
    assert messages == ["for the reader"]


async def test_handler_raising_closes_with_1011_and_logs(serve, caplog):
    async def handler(ws):
        await ws.accept()
        await ws.receive_text()
        raise LookupError("boom in handler")

    server = await serve(handler)
    with caplog.at_level(logging.ERROR, logger="ferrosocket"):
        async with connect(url(server)) as client:
            await client.send("go")
            assert await closed_by_server(client) == (1011, "")
    records = [r for r in caplog.records if r.name == "ferrosocket" and r.exc_info]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert isinstance(records[0].exc_info[1], LookupError)
    assert "boom in handler" in caplog.text


async def test_handler_raising_before_accept_is_http_500(serve, raw, caplog):
    async def handler(ws):
        raise KeyError("no accept")

    server = await serve(handler)
    with caplog.at_level(logging.ERROR, logger="ferrosocket"):
        client = await raw(server.port)
        await client.request_upgrade()
        response = await client.read_response()
    assert response.status == 500
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)


async def test_non_async_handler_is_reported(serve, raw, caplog):
    def handler(ws):  # forgot `async`
        return None

    server = await serve(handler)
    with caplog.at_level(logging.ERROR, logger="ferrosocket"):
        client = await raw(server.port)
        await client.request_upgrade()
        assert (await client.read_response()).status == 500
    assert "async" in caplog.text


async def _receive_after_connect_event(ws):
    # As in Starlette, the first receive() before accept() is the
    # "websocket.connect" event; only a second one is a mistake.
    assert (await ws.receive())["type"] == "websocket.connect"
    await ws.receive()


@pytest.mark.parametrize(
    "call",
    [
        lambda ws: ws.send_text("x"),
        lambda ws: ws.send_bytes(b"x"),
        lambda ws: ws.send_json({}),
        lambda ws: ws.ping(),
        lambda ws: _receive_after_connect_event(ws),
        lambda ws: ws.receive_text(),
    ],
    ids=["send_text", "send_bytes", "send_json", "ping", "receive", "receive_text"],
)
async def test_use_before_accept_raises_runtime_error(serve, raw, call):
    async def handler(ws):
        with pytest.raises(RuntimeError, match="accept") as info:
            await call(ws)
        await ws.accept()
        await ws.send_text("accepted")
        return str(info.value)

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    assert await client.recv_message() == (rawws.TEXT, b"accepted")
    assert "accept()" in await outcome.result()


async def test_two_concurrent_receives_raise_runtime_error(serve, raw, held):
    server = await serve(held)
    client = await raw(server.port)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    first = asyncio.ensure_future(ws.receive())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not first.done()
    with pytest.raises(RuntimeError, match="receive") as info:
        await ws.receive_text()
    assert "one task" in str(info.value)
    await client.read_response_head()
    await client.send_text("for the first")
    assert await asyncio.wait_for(first, TIMEOUT) == Text("for the first")


async def test_accept_twice_raises_runtime_error(serve):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(RuntimeError):
            await ws.accept()
        with pytest.raises(RuntimeError):
            await ws.reject(400)
        await ws.send_text("still open")

    server = await serve(handler)
    async with connect(url(server)) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "still open"


async def test_subprotocol_negotiation(serve):
    async def handler(ws):
        offered = ws.subprotocols
        await ws.accept(subprotocol="b")
        return offered

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server), subprotocols=["a", "b"]) as client:
        assert client.subprotocol == "b"
    assert await outcome.result() == ["a", "b"]


async def test_no_subprotocol_offered(serve):
    async def handler(ws):
        await ws.accept()
        return ws.subprotocols

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        assert client.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in client.response.headers
    assert await outcome.result() == []


async def test_invalid_subprotocol_token_raises_value_error(serve):
    async def handler(ws):
        with pytest.raises(ValueError):
            await ws.accept(subprotocol="a b")
        await ws.accept()

    server = await serve(handler)
    async with connect(url(server), subprotocols=["a"]) as client:
        assert client.subprotocol is None


@pytest.mark.parametrize("headers", [{"X-Test": "1", "X-Other": "two"}, [("X-Test", "1"), ("X-Other", "two")]])
async def test_accept_headers_reach_client(serve, headers):
    async def handler(ws):
        await ws.accept(headers=headers)

    server = await serve(handler)
    async with connect(url(server)) as client:
        assert client.response.headers["X-Test"] == "1"
        assert client.response.headers["x-other"] == "two"


async def test_header_values_cannot_inject_response_headers(serve, raw):
    # A CR/LF in a header raises ValueError where it is passed (it used to be
    # dropped silently); nothing of it reaches the wire.
    async def handler(ws):
        with pytest.raises(ValueError, match="CR, LF") as info:
            if ws.path == "/accept":
                await ws.accept(headers={"X-A": "ok\r\nInjected: yes"})
            else:
                await ws.reject(400, b"", {"X-B": "v\r\nInjected: yes"})
        if ws.path == "/accept":
            await ws.accept(headers={"X-A": "ok"})
        else:
            await ws.reject(400, b"", {"X-B": "v"})
        return str(info.value)

    for path, status in (("/accept", 101), ("/reject", 400)):
        outcome = Outcome(handler)
        server = await serve(outcome)
        client = await raw(server.port)
        await client.request_upgrade(path)
        response = await client.read_response_head()
        assert response.status == status
        assert "injected" not in response.headers, response.headers
        assert "Injected: yes" in await outcome.result()


async def test_request_data(serve):
    async def handler(ws):
        await ws.accept()
        q, h = ws.query_params, ws.headers
        return {
            "path": ws.path,
            "query_string": ws.query_string,
            "a": q["a"],
            "a_all": q.getlist("a"),
            "b": q.get("b"),
            "missing": q.get("missing"),
            "empty": q["empty"],
            "header": (h["x-custom"], h["X-CUSTOM"], "X-Custom" in h, h["x-multi"], h.getlist("x-multi")),
            "client": ws.client,
            "server": ws.server,
            "url": ws.url,
        }

    outcome = Outcome(handler)
    server = await serve(outcome)
    query = "a=1&a=2&b=x%20y&empty="
    headers = [("X-Custom", "Value"), ("X-Multi", "one"), ("X-Multi", "two")]
    async with connect(url(server, f"/some/path?{query}"), additional_headers=headers) as client:
        local_port = client.local_address[1]
    data = await outcome.result()
    assert data["path"] == "/some/path"
    assert data["query_string"] == query
    assert (data["a"], data["a_all"], data["b"], data["missing"], data["empty"]) == ("2", ["1", "2"], "x y", None, "")
    assert data["header"] == ("Value", "Value", True, "one", ["one", "two"])
    assert data["client"] == ("127.0.0.1", local_port)
    assert data["server"] == ("127.0.0.1", server.port)
    assert data["url"] == f"ws://127.0.0.1:{server.port}/some/path?{query}"


async def test_close_code_enum():
    assert CloseCode.NORMAL_CLOSURE == 1000 and CloseCode(1011) is CloseCode.INTERNAL_ERROR
    assert WebSocketDisconnect(4000, "r").code == 4000 and "4000" in str(WebSocketDisconnect(4000, "r"))
