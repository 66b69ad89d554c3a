"""Timeouts (issue 6, item 2): an upgrade request that never completes is
dropped after handshake_timeout, a peer that never answers our close frame is
disconnected after close_timeout, and idle_timeout closes a silent peer with
1001, each while other clients keep being served."""

from __future__ import annotations

import asyncio
import socket
import time

from ferrosocket import WebSocketDisconnect
from rawws import CLOSE, TEXT
from relsupport import TIMEOUT, EchoProbe, echo_ok, slowloris
from support import Outcome, echo, fast_config
from websockets.asyncio.client import connect

SLACK = 1.5


async def test_slowloris_handshake_is_dropped_after_handshake_timeout(serve):
    handshake_timeout = 1.0
    server = await serve({"/echo": echo}, fast_config(handshake_timeout=handshake_timeout))
    probe = EchoProbe(server.port)
    attack = asyncio.ensure_future(slowloris(server.port))
    # Another client connects and echoes while the slowloris trickles.
    await echo_ok(server.port)
    elapsed, sent, answer = await attack

    assert handshake_timeout - 0.1 <= elapsed < handshake_timeout + SLACK, elapsed
    assert sent >= 3
    assert answer == b"", "a timed-out handshake is dropped without a response"
    assert server.stats()["handshakes_refused"]["timeout"] == 1
    assert server.stats()["connections_total"] >= 2
    assert await probe.stop() > 0
    await echo_ok(server.port)


async def test_peer_that_never_answers_our_close_is_disconnected_after_close_timeout(serve, raw):
    close_timeout = 0.5

    async def closer(ws):
        await ws.accept()
        await ws.close(1000, "bye")
        closed_at = time.monotonic()
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        return time.monotonic() - closed_at, ws.state

    outcome = Outcome(closer)
    server = await serve({"/close": outcome, "/echo": echo}, fast_config(close_timeout=close_timeout))
    probe = EchoProbe(server.port)
    client = await raw(server.port)
    await client.handshake("/close")
    assert await client.expect_close() == (1000, "bye")
    got_close = time.monotonic()
    # Never answer: keep the socket open and wait for the server to hang up.
    assert await client.at_eof(timeout=close_timeout + SLACK)
    waited = time.monotonic() - got_close

    assert close_timeout - 0.1 <= waited < close_timeout + SLACK, waited
    handler_waited, state = await outcome.result()
    assert close_timeout - 0.1 <= handler_waited < close_timeout + SLACK
    assert state == "CLOSED"
    assert await probe.stop() > 0


async def test_idle_timeout_closes_a_silent_peer_with_1001(serve, raw):
    idle = 0.5

    async def waiting(ws):
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            return exc.code
        return None

    outcome = Outcome(waiting)
    server = await serve({"/idle": outcome, "/echo": echo}, fast_config(idle_timeout=idle, ping_interval=None))
    probe = EchoProbe(server.port)  # it talks every 20 ms, so it is never idle
    client = await raw(server.port)
    await client.handshake("/idle")
    started = time.monotonic()
    code, reason = await client.expect_close(timeout=idle + SLACK)
    elapsed = time.monotonic() - started

    assert code == 1001
    assert idle - 0.1 <= elapsed < idle + SLACK, elapsed
    await client.send_close(1001)
    assert await client.at_eof()
    assert await outcome.result() == 1001
    assert await probe.stop() > 0


async def test_idle_timeout_spares_a_peer_that_keeps_talking(serve, raw):
    idle = 0.4
    server = await serve({"/echo": echo}, fast_config(idle_timeout=idle, ping_interval=None))
    client = await raw(server.port)
    await client.handshake("/echo")
    for i in range(8):  # 8 x 0.15 s = 3 idle periods
        await client.send_text(f"msg {i}")
        assert await client.recv_message() == (TEXT, f"msg {i}".encode())
        await asyncio.sleep(0.15)
    # Then it falls silent and is closed.
    assert (await client.expect_close(timeout=idle + SLACK))[0] == 1001


async def test_client_that_sends_nothing_after_connecting_is_dropped(serve):
    """Not even a first byte: the handshake timeout still applies."""
    server = await serve({"/echo": echo}, fast_config(handshake_timeout=0.5))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setblocking(False)
    try:
        started = time.monotonic()
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1024), 0.5 + SLACK)
        assert data == b""
        assert time.monotonic() - started >= 0.4
    finally:
        sock.close()
    assert server.stats()["handshakes_refused"]["timeout"] == 1
    await echo_ok(server.port)


async def test_close_frame_after_idle_close_is_not_needed_for_cleanup(serve, raw):
    """A silent peer closed for idleness that also ignores our close frame is
    released after close_timeout."""
    server = await serve({"/echo": echo}, fast_config(idle_timeout=0.3, close_timeout=0.4, ping_interval=None))
    client = await raw(server.port)
    await client.handshake("/echo")
    f = await client.recv_frame(timeout=0.3 + SLACK)
    assert f.opcode == CLOSE and f.close[0] == 1001
    assert await client.at_eof(timeout=0.4 + SLACK)
    await asyncio.sleep(0.1)
    assert server.stats()["connections_open"] == 0
    await echo_ok(server.port)


async def test_idle_timeout_applies_to_a_client_that_only_answers_keepalive_pings(serve):
    idle = 0.6
    server = await serve({"/echo": echo}, fast_config(idle_timeout=idle, ping_interval=0.2, ping_timeout=0.5))
    async with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=TIMEOUT, ping_interval=None) as client:
        started = time.monotonic()
        await asyncio.wait_for(client.wait_closed(), idle + SLACK)
        assert client.close_code == 1001
        assert time.monotonic() - started >= idle - 0.1
