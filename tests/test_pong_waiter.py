"""`await ws.ping()` returns a pong waiter (websockets' semantics): it
resolves with the round trip in seconds when the matching pong arrives and
raises `WebSocketDisconnect` if the connection closes first."""

from __future__ import annotations

import asyncio
import logging

import pytest
import rawws
from ferrosocket import WebSocketDisconnect
from support import Held, Outcome, fast_config, url
from websockets.asyncio.client import connect


async def test_a_client_that_answers_resolves_the_waiter_with_the_round_trip(serve):
    async def handler(ws):
        await ws.accept()
        waiter = await ws.ping(b"are you there")
        rtt = await waiter
        await ws.send_text("done")
        return rtt

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config(ping_interval=None))
    async with connect(url(server)) as client:
        assert await client.recv() == "done"
    rtt = await outcome.result()
    assert isinstance(rtt, float) and rtt >= 0


async def test_a_client_that_does_not_answer_leaves_the_waiter_pending(serve, raw):
    # keepalive off: nothing else pings or answers. The raw client reads the
    # ping and answers only when the test says so.
    held = Held()
    server = await serve(held, fast_config(ping_interval=None))
    client = await raw(server.port)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    assert (await client.read_response_head()).status == 101
    first = await ws.ping(b"one")
    second = await ws.ping(b"two")
    assert (await client.recv_frame()).payload == b"one"
    assert (await client.recv_frame()).payload == b"two"
    await client.send_text("after the pings")
    assert await ws.receive_text() == "after the pings"
    assert not first.done() and not second.done()
    # A pong answers its ping and every earlier one, as in websockets.
    await client.send_frame(rawws.PONG, b"two")
    assert isinstance(await asyncio.wait_for(first, 5), float)
    assert isinstance(await asyncio.wait_for(second, 5), float)
    # An unsolicited pong resolves nothing and breaks nothing.
    third = await ws.ping(b"three")
    await client.send_frame(rawws.PONG, b"unrelated")
    await client.send_text("still here")
    assert await ws.receive_text() == "still here"
    assert not third.done()
    held.release()


async def test_a_close_while_waiting_raises_websocket_disconnect(serve, raw, caplog):
    async def handler(ws):
        await ws.accept()
        ignored = ws.ping(b"nobody awaits this one")  # noqa: F841
        waiter = await ws.ping(b"x")
        with pytest.raises(WebSocketDisconnect) as info:
            await waiter
        return info.value.code, info.value.reason

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config(ping_interval=None))
    client = await raw(server.port)
    await client.handshake()
    assert (await client.recv_frame()).opcode == rawws.PING
    assert (await client.recv_frame()).opcode == rawws.PING
    await client.send_close(4002, "leaving")
    with caplog.at_level(logging.ERROR):
        assert await outcome.result() == (4002, "leaving")
    assert "never retrieved" not in caplog.text


async def test_code_that_ignores_the_result_keeps_working(serve):
    async def handler(ws):
        await ws.accept()
        await ws.ping()
        ws.ping(b"not awaited")
        await ws.send_text("pinged")

    server = await serve(handler, fast_config(ping_interval=None))
    async with connect(url(server)) as client:
        assert await client.recv() == "pinged"
