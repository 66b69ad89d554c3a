"""Keepalive (issue 6, item 1): a peer that stops answering pings is closed
with 1011 within ping_interval + ping_timeout, and a handler that only sends
learns it at its next send; a peer that answers stays open and its latency
is readable; pongs must match the ping they answer."""

from __future__ import annotations

import asyncio
import time

import pytest
from ferrosocket import WebSocketDisconnect
from rawws import CLOSE, PING, PONG, RawClient
from relsupport import TIMEOUT, EchoProbe, echo_ok
from support import Outcome, echo, fast_config
from websockets.asyncio.client import connect

INTERVAL = 0.2
PING_TIMEOUT = 0.3
SLACK = 1.5


async def _until_closed(client: RawClient, answer: bytes | None) -> tuple[int, float, int | None]:
    """Read frames until the server's close frame, answering each ping with
    `answer` (None: never). Returns (pings seen, seconds, close code)."""
    pings = 0
    started = time.monotonic()

    async def read() -> tuple[int, float, int | None]:
        nonlocal pings
        while True:
            f = await client.recv_frame(timeout=TIMEOUT)
            if f.opcode == PING:
                pings += 1
                if answer is not None:
                    await client.send_frame(PONG, answer)
            elif f.opcode == CLOSE:
                return pings, time.monotonic() - started, f.close[0]

    try:
        return await asyncio.wait_for(read(), INTERVAL + PING_TIMEOUT + SLACK + 2)
    except asyncio.TimeoutError:
        raise AssertionError(f"no close frame within {INTERVAL + PING_TIMEOUT + SLACK + 2} s ({pings} pings)") from None


def _sender() -> tuple[Outcome, list[float]]:
    """A handler that only sends (every 50 ms) and returns how its send
    failed: (code, seconds after its last successful send, closed, state)."""
    sent_at: list[float] = []

    async def handler(ws):
        await ws.accept()
        while True:
            try:
                await ws.send_text("tick")
            except WebSocketDisconnect as exc:
                failed = time.monotonic()
                closed = ws.closed
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
                return exc.code, failed - sent_at[-1], closed, ws.state
            sent_at.append(time.monotonic())
            await asyncio.sleep(0.05)

    return Outcome(handler), sent_at


async def test_peer_that_never_answers_pings_is_closed_1011_and_sender_learns(serve, raw):
    outcome, _ = _sender()
    server = await serve(
        {"/dead": outcome, "/echo": echo}, fast_config(ping_interval=INTERVAL, ping_timeout=PING_TIMEOUT)
    )
    probe = EchoProbe(server.port)
    client = await raw(server.port)
    await client.handshake("/dead")

    pings, elapsed, code = await _until_closed(client, answer=None)

    assert code == 1011
    assert pings == 1, "one ping is outstanding at a time"
    # The ping goes out after INTERVAL; its timeout runs PING_TIMEOUT later.
    assert elapsed < INTERVAL + PING_TIMEOUT + SLACK, elapsed
    assert await client.at_eof(), "the server closes the TCP connection after its close frame"
    failed_code, since_last_send, closed, state = await outcome.result()
    assert failed_code == 1011
    # "at once": the failing send is the first one after the close (one 50 ms tick).
    assert since_last_send < 0.05 + SLACK
    assert closed is True
    assert state == "CLOSED"
    # Meanwhile another client kept being served.
    await probe.wait_for(3)
    assert await probe.stop() >= 3
    await echo_ok(server.port)


async def test_pong_with_the_wrong_payload_does_not_count(serve, raw):
    outcome, _ = _sender()
    server = await serve(
        {"/dead": outcome, "/echo": echo}, fast_config(ping_interval=INTERVAL, ping_timeout=PING_TIMEOUT)
    )
    client = await raw(server.port)
    await client.handshake("/dead")

    pings, elapsed, code = await _until_closed(client, answer=b"not-your-ping")

    assert code == 1011
    assert elapsed < INTERVAL + PING_TIMEOUT + SLACK
    assert (await outcome.result())[0] == 1011
    await echo_ok(server.port)


async def test_raw_peer_echoing_the_ping_payload_stays_open(serve, raw, held):
    server = await serve(held, fast_config(ping_interval=INTERVAL, ping_timeout=PING_TIMEOUT))
    client = await raw(server.port)
    await client.request_upgrade("/")
    ws = await held.next()
    await ws.accept()
    assert (await client.read_response_head()).status == 101

    deadline = time.monotonic() + 3 * (INTERVAL + PING_TIMEOUT)
    pings = 0
    payloads = set()
    while time.monotonic() < deadline:
        try:
            f = await client.recv_frame(timeout=0.1)
        except asyncio.TimeoutError:
            continue
        assert f.opcode == PING, f"unexpected frame {f}"
        pings += 1
        payloads.add(f.payload)
        await client.send_frame(PONG, f.payload)

    assert pings >= 3
    assert len(payloads) == pings, "every keepalive ping carries its own payload"
    assert ws.state == "OPEN"
    assert isinstance(ws.latency, float) and 0 <= ws.latency < 1.0
    await ws.close()
    assert await client.expect_close() == (1000, "")


async def test_websockets_client_stays_open_and_latency_is_measured(serve, held):
    async def accepting(ws):
        await ws.accept()
        await held(ws)

    server = await serve(accepting, fast_config(ping_interval=INTERVAL, ping_timeout=PING_TIMEOUT))
    async with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT, ping_interval=None) as client:
        ws = await held.next()
        assert ws.latency is None, "no ping answered yet"
        # Several intervals, each with a ping the client answers by itself.
        for i in range(6):
            await asyncio.sleep(INTERVAL)
            await ws.send_text(f"still here {i}")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == f"still here {i}"
        assert ws.state == "OPEN"
        assert isinstance(ws.latency, float)
        assert 0 <= ws.latency < INTERVAL + PING_TIMEOUT
        await ws.close(1000)
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
    assert client.close_code == 1000


async def test_keepalive_disabled_sends_no_pings(serve, raw, held):
    server = await serve(held, fast_config(ping_interval=None, ping_timeout=PING_TIMEOUT))
    client = await raw(server.port)
    await client.request_upgrade("/")
    ws = await held.next()
    await ws.accept()
    assert (await client.read_response_head()).status == 101
    with pytest.raises(asyncio.TimeoutError):
        await client.recv_frame(timeout=3 * INTERVAL)
    assert ws.state == "OPEN"
    assert ws.latency is None


async def test_keepalive_still_runs_when_the_handler_does_not_receive(serve, raw):
    outcome, _ = _sender()  # only sends, never receives
    server = await serve(
        {"/push": outcome, "/echo": echo},
        fast_config(ping_interval=INTERVAL, ping_timeout=PING_TIMEOUT, max_queue=4),
    )
    client = await raw(server.port)
    await client.handshake("/push")
    for i in range(10):  # more than max_queue messages the handler never reads
        await client.send_text(f"ack {i}")

    pings, elapsed, code = await _until_closed(client, answer=None)

    assert pings == 1
    assert code == 1011
    assert elapsed < INTERVAL + PING_TIMEOUT + SLACK
    assert (await outcome.result())[0] == 1011
    await echo_ok(server.port)
