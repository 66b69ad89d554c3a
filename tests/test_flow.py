"""Flow control and scale: cancelled receives, backpressure both ways,
1,000 concurrent connections, and HTTP routing in front of the upgrade."""

from __future__ import annotations

import asyncio
import os
import resource
import struct

import aiohttp
import pytest
import rawws
from ferrosocket import HTTPResponse, Text
from support import TIMEOUT, echo, fast_config, url
from websockets.asyncio.client import connect

MiB = 1024 * 1024


async def open_held(serve, raw, held, config=None, **client_kwargs):
    """A server around `held`, a raw client, and the accepted WebSocket."""
    server = await serve(held, config)
    client = await raw(server.port, **client_kwargs)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    assert (await client.read_response_head()).status == 101
    return server, client, ws


async def test_cancelled_receive_loses_nothing(serve, raw, held):
    _, client, ws = await open_held(serve, raw, held)
    waiting = asyncio.ensure_future(ws.receive())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await client.send_text("kept")
    assert await asyncio.wait_for(ws.receive(), TIMEOUT) == Text("kept")


async def test_receives_cancelled_at_every_point_lose_and_duplicate_nothing(serve, raw, held):
    """Cancel receives at varying points while messages arrive: every message
    is delivered exactly once, in order."""
    _, client, ws = await open_held(serve, raw, held)
    count = 200
    got: list[str] = []
    for i in range(count):
        task = asyncio.ensure_future(ws.receive_text())
        await client.send_text(str(i))
        for _ in range(i % 4):
            await asyncio.sleep(0)
        task.cancel()
        try:
            got.append(await task)
        except asyncio.CancelledError:
            pass
    while len(got) < count:
        got.append(await asyncio.wait_for(ws.receive_text(), TIMEOUT))
    assert got == [str(i) for i in range(count)]


async def test_wait_for_timeouts_on_receive_lose_nothing(serve, raw, held):
    _, client, ws = await open_held(serve, raw, held)
    for _ in range(3):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.receive(), 0.01)
    await client.send_text("after timeouts")
    assert await asyncio.wait_for(ws.receive_text(), TIMEOUT) == "after timeouts"


async def test_send_above_high_water_waits_until_client_reads(serve, raw, held):
    high, low = 64 * 1024, 16 * 1024
    config = fast_config(write_high_water=high, write_low_water=low)
    _, client, ws = await open_held(serve, raw, held, config, rcvbuf=4096)
    chunk = bytes(range(256)) * 64  # 16 KiB
    completed = 0
    # The client reads nothing: once the kernel buffers are full, a send must
    # stay pending. Bounded so a server that never pushes back fails.
    while completed * len(chunk) < 64 * MiB:
        task = asyncio.ensure_future(ws.send_bytes(chunk))
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if not done:
            break
        task.result()
        completed += 1
    else:
        pytest.fail("64 MiB of sends completed while the client read nothing")
    assert ws.buffered_amount > low
    assert not task.done()

    async def read_all():
        frames = []
        for _ in range(completed + 1):
            frames.append(await client.recv_frame(timeout=TIMEOUT))
        return frames

    reader = asyncio.ensure_future(read_all())
    await asyncio.wait_for(task, TIMEOUT)
    frames = await asyncio.wait_for(reader, 30)
    assert all(f.opcode == rawws.BINARY and f.payload == chunk for f in frames)
    # Everything was written: the buffer drains to empty.
    for _ in range(500):
        if ws.buffered_amount == 0:
            break
        await asyncio.sleep(0.01)
    assert ws.buffered_amount == 0


async def test_blocked_senders_all_resume_and_cancelled_send_still_delivers(serve, raw, held):
    config = fast_config(write_high_water=64 * 1024, write_low_water=16 * 1024)
    _, client, ws = await open_held(serve, raw, held, config, rcvbuf=4096)
    chunk = b"z" * 16384
    frames_sent = 0
    while frames_sent < 4096:  # 64 MiB
        blocked = asyncio.ensure_future(ws.send_bytes(chunk))
        frames_sent += 1
        done, _ = await asyncio.wait({blocked}, timeout=0.5)
        if not done:
            break
    else:
        pytest.fail("sends never waited")
    others = [asyncio.ensure_future(ws.send_bytes(bytes([i]) * 100)) for i in range(5)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in others)
    blocked.cancel()  # the frame is already queued: cancelling the wait does not unsend it
    frames = [await client.recv_frame() for _ in range(frames_sent + 5)]
    assert [f.payload for f in frames[:frames_sent]] == [chunk] * frames_sent
    assert [f.payload for f in frames[frames_sent:]] == [bytes([i]) * 100 for i in range(5)]
    await asyncio.wait_for(asyncio.gather(*others), TIMEOUT)
    await ws.send_text("after")
    assert await client.recv_message() == (rawws.TEXT, b"after")


async def test_handler_not_receiving_stops_reading_the_socket(serve, raw, held):
    config = fast_config(max_queue=2)
    _, client, ws = await open_held(serve, raw, held, config, sndbuf=16384)
    filler = os.urandom(64 * 1024)
    limit = 64 * MiB
    total = frames_started = stalls = 0
    pending = b""
    while total < limit:
        if not pending:
            pending = rawws.frame(rawws.BINARY, struct.pack("!I", frames_started) + filler)
            frames_started += 1
        try:
            n = client.sock.send(pending)
        except BlockingIOError:
            n = 0
        if n:
            pending, total, stalls = pending[n:], total + n, 0
            continue
        stalls += 1
        if stalls >= 10:  # no progress for ~0.5 s: the server stopped reading
            break
        await asyncio.sleep(0.05)
    assert total < limit, "the server kept reading although the handler received nothing"

    async def receive_all():
        return [struct.unpack("!I", (await ws.receive_bytes())[:4])[0] for _ in range(frames_started)]

    receiver = asyncio.ensure_future(receive_all())
    await client.send(pending)
    assert await asyncio.wait_for(receiver, 30) == list(range(frames_started))
    # Reading resumed: the connection still works both ways.
    await ws.send_text("resumed")
    assert await client.recv_message() == (rawws.TEXT, b"resumed")


@pytest.mark.parametrize("threads", [1, 2])
async def test_thousand_concurrent_connections_echo(serve, threads):
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4 * n, hard), hard))
    server = await serve(echo, fast_config(threads=threads))
    opening = asyncio.Semaphore(100)

    async def open_one():
        async with opening:
            return await connect(url(server), open_timeout=20, close_timeout=5)

    clients = await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(n))), 60)
    try:
        assert server.connections == n

        async def exchange(i, client):
            text, data = f"client {i} ✓", i.to_bytes(4, "big") + os.urandom(16)
            await client.send(text)
            await client.send(data)
            return [await client.recv(), await client.recv()] == [text, data]

        results = await asyncio.wait_for(asyncio.gather(*(exchange(i, c) for i, c in enumerate(clients))), 60)
        assert sum(results) == n
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_unknown_path_gets_404(serve, raw):
    server = await serve({"/echo": echo})
    client = await raw(server.port)
    await client.request_upgrade("/nope")
    assert (await client.read_response()).status == 404


async def test_route_matches_path_without_query(serve):
    async def which(ws):
        await ws.accept()
        await ws.send_text(ws.path)

    server = await serve({"/a": which, "/b": echo})
    async with connect(url(server, "/a?x=1")) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "/a"


async def test_plain_http_get_to_websocket_path_gets_426(serve, raw):
    server = await serve({"/ws": echo})
    client = await raw(server.port)
    await client.send(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await client.read_response()
    assert response.status == 426
    assert response.headers["sec-websocket-version"] == "13"
    assert response.headers["upgrade"].lower() == "websocket"


async def test_plain_http_get_to_single_handler_app_gets_426(serve, raw):
    server = await serve(echo)
    client = await raw(server.port)
    await client.send(b"GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).status == 426


async def test_http_response_pages(serve):
    app = {
        "/": HTTPResponse("<html><body>hé</body></html>"),
        "/data": HTTPResponse(b'{"a": 1}', status=201, content_type="application/json", headers={"X-Page": "yes"}),
        "/ws": echo,
    }
    server = await serve(app)
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert await response.text() == "<html><body>hé</body></html>"
        async with session.get(base + "/data") as response:
            assert (response.status, response.headers["Content-Type"]) == (201, "application/json")
            assert response.headers["X-Page"] == "yes"
            assert await response.read() == b'{"a": 1}'
        async with session.get(base + "/missing") as response:
            assert response.status == 404
    # A page path is not a WebSocket endpoint, and the WebSocket path still works.
    async with connect(url(server, "/ws")) as client:
        await client.send("still echoing")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "still echoing"


async def test_upgrade_to_page_path_gets_404(serve, raw):
    server = await serve({"/": HTTPResponse("page"), "/ws": echo})
    client = await raw(server.port)
    await client.request_upgrade("/")
    assert (await client.read_response()).status == 404


@pytest.mark.parametrize("app", [{"no-slash": echo}, {"/x": "not a handler"}, 42])
def test_invalid_apps_are_refused(app):
    import ferrosocket

    with pytest.raises((TypeError, ValueError)):
        ferrosocket.serve(app, "127.0.0.1", 0)
