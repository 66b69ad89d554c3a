"""Messages both ways: types, sizes, fragments, the receive/send helpers,
ping and pong, with real clients (websockets, aiohttp) and raw sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import aiohttp
import ferrosocket
import pytest
import rawws
from ferrosocket import Binary, Close, MessageTypeError, Text, WebSocketDisconnect
from support import TIMEOUT, Outcome, echo, url
from websockets.asyncio.client import connect

UNICODE = "héllo wörld — 世界 🎉 \u0000 end"


async def echo_with_websockets(server: ferrosocket.Server, messages: list[str | bytes]) -> list[str | bytes]:
    async with connect(url(server), max_size=None) as client:
        replies = []
        for message in messages:
            await client.send(message)
            replies.append(await asyncio.wait_for(client.recv(), TIMEOUT))
        return replies


async def echo_with_aiohttp(server: ferrosocket.Server, messages: list[str | bytes]) -> list[str | bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url(server), max_msg_size=0) as client:
            replies = []
            for message in messages:
                if isinstance(message, str):
                    await client.send_str(message)
                else:
                    await client.send_bytes(message)
                reply = await client.receive(timeout=TIMEOUT)
                assert reply.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), reply
                replies.append(reply.data)
            return replies


@pytest.mark.parametrize("client", [echo_with_websockets, echo_with_aiohttp], ids=["websockets", "aiohttp"])
async def test_echo_keeps_type_and_content(serve, client):
    server = await serve(echo)
    messages: list[str | bytes] = ["hello", b"\x00\x01\xfe\xff", "", b"", UNICODE, "x" * 70_000, os.urandom(70_000)]
    replies = await client(server, messages)
    assert replies == messages
    assert [type(r) for r in replies] == [type(m) for m in messages]


async def test_handler_sees_exact_text_and_bytes(serve):
    async def handler(ws):
        await ws.accept()
        return [await ws.receive_text(), await ws.receive_bytes(), await ws.receive_text(), await ws.receive_bytes()]

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send(UNICODE)
        await client.send(b"\xff\x00")
        await client.send("")
        await client.send(b"")
        assert await outcome.result() == [UNICODE, b"\xff\x00", "", b""]


async def test_fragmented_text_from_raw_socket(serve, raw):
    async def handler(ws):
        await ws.accept()
        text = await ws.receive_text()
        await ws.send_text(text)
        return text

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    data = "añb→c".encode()
    # Split inside the two-byte "ñ" and the three-byte "→": UTF-8 carried across fragments.
    parts = [data[:2], data[2:6], data[6:]]
    await client.send_frame(rawws.TEXT, parts[0], fin=False)
    await client.send_frame(rawws.PING, b"in-between")  # control frames may interleave
    await client.send_frame(rawws.CONT, parts[1], fin=False)
    await client.send_frame(rawws.CONT, parts[2], fin=True)
    assert await outcome.result() == "añb→c"
    pong = await client.recv_frame()
    assert (pong.opcode, pong.payload) == (rawws.PONG, b"in-between")
    assert await client.recv_message() == (rawws.TEXT, data)


async def test_fragmented_binary_from_raw_socket(serve, raw):
    async def handler(ws):
        await ws.accept()
        return await ws.receive()

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    await client.send_frame(rawws.BINARY, b"\x01\x02", fin=False)
    await client.send_frame(rawws.CONT, b"", fin=False)
    await client.send_frame(rawws.CONT, b"\x03", fin=True)
    assert await outcome.result() == Binary(b"\x01\x02\x03")


async def test_fragmented_send_from_websockets_async_iterator(serve):
    async def handler(ws):
        await ws.accept()
        first = await ws.receive()
        second = await ws.receive()
        await ws.send_text(first.data)
        return first, second

    async def fragments(*parts):
        for part in parts:
            yield part

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send(fragments("frag", "men", "ted ✓"))
        await client.send(fragments(b"\x00", b"\x01"))
        assert await outcome.result() == (Text("fragmented ✓"), Binary(b"\x00\x01"))
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "fragmented ✓"


async def test_large_messages_both_ways(serve):
    size = 8 * 1024 * 1024
    upload = os.urandom(size)
    text = ("0123456789abcdef" * (size // 16))[:size]

    async def handler(ws):
        await ws.accept()
        data = await ws.receive_bytes()
        await ws.send_bytes(hashlib.sha256(data).digest())
        await ws.send_bytes(data[::-1])
        await ws.send_text(text)
        return len(data)

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server), max_size=None) as client:
        await client.send(upload)
        assert await asyncio.wait_for(client.recv(), 20) == hashlib.sha256(upload).digest()
        assert await asyncio.wait_for(client.recv(), 20) == upload[::-1]
        assert await asyncio.wait_for(client.recv(), 20) == text
    assert await outcome.result() == size


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "memoryview-slice"])
async def test_send_bytes_accepts_bytes_like(serve, kind):
    payload = bytes(range(256)) * 4

    async def handler(ws):
        await ws.accept()
        if kind == "memoryview-slice":
            await ws.send_bytes(memoryview(b"ab" + payload + b"cd")[2:-2])
        else:
            await ws.send_bytes(kind(payload))

    server = await serve(handler)
    async with connect(url(server)) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == payload


async def test_receive_returns_pattern_matchable_messages(serve):
    async def handler(ws):
        await ws.accept()
        seen = []
        while True:
            message = await ws.receive()
            match message:
                case Text(text):
                    seen.append(("text", text))
                case Binary(data):
                    seen.append(("binary", data))
                case Close(code, reason):
                    seen.append(("close", code, reason))
                    break
        return seen, message

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send("t")
        await client.send(b"b")
        await client.close(4000, "bye")
    seen, last = await outcome.result()
    assert seen == [("text", "t"), ("binary", b"b"), ("close", 4000, "bye")]
    assert isinstance(last, Close) and last == Close(4000, "bye")
    assert isinstance(Text("a").data, str) and Text("a") == Text("a") != Text("b")
    assert Binary(b"a") != Text("a")


@pytest.mark.parametrize(
    ("sent", "method", "expected"),
    [(b"bytes", "receive_text", "text"), ("text", "receive_bytes", "binary")],
)
async def test_receive_wrong_type_raises_message_type_error(serve, sent, method, expected):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(MessageTypeError) as info:
            await getattr(ws, method)()
        # The connection stays usable: the next message arrives normally.
        after = await ws.receive()
        return info.value, after

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send(sent)
        await client.send("next")
        error, after = await outcome.result()
    assert isinstance(error, TypeError) and isinstance(error, ferrosocket.WebSocketError)
    assert expected in str(error)
    assert after == Text("next")


async def test_receive_json_and_send_json(serve):
    async def handler(ws):
        await ws.accept()
        as_text = await ws.receive_json()
        as_binary = await ws.receive_json(mode="binary")
        await ws.send_json({"got": as_text, "é": "ü"})
        await ws.send_json([1, None, True], mode="binary")
        with pytest.raises(ValueError):
            await ws.send_json({}, mode="bogus")
        with pytest.raises(ValueError):
            await ws.receive_json(mode="bogus")
        return as_text, as_binary

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        await client.send(json.dumps({"a": [1, 2.5, "x"]}))
        await client.send(json.dumps({"b": None}).encode())
        first = await asyncio.wait_for(client.recv(), TIMEOUT)
        second = await asyncio.wait_for(client.recv(), TIMEOUT)
        assert await outcome.result() == ({"a": [1, 2.5, "x"]}, {"b": None})
    assert isinstance(first, str) and json.loads(first) == {"got": {"a": [1, 2.5, "x"]}, "é": "ü"}
    assert isinstance(second, bytes) and json.loads(second) == [1, None, True]


@pytest.mark.parametrize(
    ("iterate", "sent", "expected"),
    [
        (lambda ws: ws, ["a", b"b", "c"], ["a", b"b", "c"]),
        (lambda ws: ws.iter_text(), ["a", "b", "c"], ["a", "b", "c"]),
        (lambda ws: ws.iter_bytes(), [b"a", b"", b"c"], [b"a", b"", b"c"]),
        (lambda ws: ws.iter_json(), ['{"a": 1}', "[2]", "3"], [{"a": 1}, [2], 3]),
    ],
    ids=["async-for", "iter_text", "iter_bytes", "iter_json"],
)
async def test_iterators_end_at_close(serve, iterate, sent, expected):
    async def handler(ws):
        await ws.accept()
        received = [m async for m in iterate(ws)]
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        return received, info.value.code

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        for message in sent:
            await client.send(message)
        await client.close(1000)
    assert await outcome.result() == (expected, 1000)


async def test_ping_from_client_is_answered_and_not_delivered(serve):
    async def handler(ws):
        await ws.accept()
        return await ws.receive()

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with connect(url(server)) as client:
        pong = await client.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)
        await client.send("after ping")
        assert await outcome.result() == Text("after ping")


async def test_ping_payload_echoed_in_pong_raw(serve, raw):
    server = await serve(echo)
    client = await raw(server.port)
    await client.handshake()
    await client.send_frame(rawws.PING, b"\x00payload\xff")
    pong = await client.recv_frame()
    assert (pong.opcode, pong.payload, pong.fin, pong.masked) == (rawws.PONG, b"\x00payload\xff", True, False)


async def test_server_ping_and_pong_reach_client(serve):
    async def handler(ws):
        await ws.accept()
        await ws.ping(b"from server")
        await ws.ping("str too")
        await ws.pong(b"unsolicited")
        with pytest.raises(ValueError):
            await ws.ping(b"x" * 126)
        return await ws.receive_text()

    outcome = Outcome(handler)
    server = await serve(outcome)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url(server), autoping=False) as client:
            got = [await client.receive(timeout=TIMEOUT) for _ in range(3)]
            assert [(m.type, m.data) for m in got] == [
                (aiohttp.WSMsgType.PING, b"from server"),
                (aiohttp.WSMsgType.PING, b"str too"),
                (aiohttp.WSMsgType.PONG, b"unsolicited"),
            ]
            await client.send_str("done")
            assert await outcome.result() == "done"


async def test_pong_from_client_is_consumed(serve, raw):
    async def handler(ws):
        await ws.accept()
        return await ws.receive()

    outcome = Outcome(handler)
    server = await serve(outcome)
    client = await raw(server.port)
    await client.handshake()
    await client.send_frame(rawws.PONG, b"unsolicited")
    await client.send_text("real")
    assert await outcome.result() == Text("real")


async def test_send_message_objects(serve):
    async def handler(ws):
        await ws.accept()
        await ws.send(Text("t"))
        await ws.send(Binary(b"b"))
        await ws.send("s")
        await ws.send(bytearray(b"ba"))
        await ws.send(Close(4002, "done"))

    server = await serve(handler)
    async with connect(url(server)) as client:
        got = [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in range(4)]
        assert got == ["t", b"b", "s", b"ba"]
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
        assert (client.close_code, client.close_reason) == (4002, "done")
