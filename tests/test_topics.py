"""Topics: subscribe/publish delivered by the engine, against real clients.

Covers ordering, exclude-self, unsubscribe, closing subscribers, publishing
from other threads, both slow-consumer policies, compression groups and
10,000 subscribers (clients in a separate process, see many_subscribers.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import zlib

import pytest
import rawws
from support import TIMEOUT, Outcome, fast_config, url
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

HERE = os.path.dirname(os.path.abspath(__file__))


async def until(predicate, timeout: float = TIMEOUT) -> None:
    """Wait until `predicate()` holds (a condition, never a duration)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def room(counts: list[int] | None = None):
    """Subscribe to "room" and relay each message to the others."""

    async def handler(ws):
        await ws.accept()
        assert ws.subscribe("room")
        async for message in ws:
            n = ws.publish("room", message)
            if counts is not None:
                counts.append(n)

    return handler


async def test_publish_excludes_sender_and_keeps_order(serve):
    counts: list[int] = []
    server = await serve(room(counts))
    async with connect(url(server)) as a, connect(url(server)) as b, connect(url(server)) as c:
        await until(lambda: server.subscribers("room") == 3)
        for i in range(300):
            await a.send(f"m{i}" if i % 2 else f"m{i}".encode())
        want = [f"m{i}" if i % 2 else f"m{i}".encode() for i in range(300)]
        assert [await b.recv() for _ in range(300)] == want
        assert [await c.recv() for _ in range(300)] == want
        assert counts == [2] * 300
        # The sender got none of its own: the next thing it sees is this.
        assert server.publish("room", "to all") == 3
        assert [await a.recv(), await b.recv(), await c.recv()] == ["to all"] * 3
    stats = server.stats()
    assert stats["published"] == 301 and stats["deliveries"] == 603 and stats["publish_dropped"] == 0


async def test_published_and_own_sends_interleave_in_call_order(serve):
    async def handler(ws):
        await ws.accept()
        ws.subscribe("t")
        await ws.receive_text()
        for i in range(200):
            ws.send_text(f"own{i}")
            ws.served_by.publish("t", f"pub{i}")
        await ws.send_text("end")
        await ws.receive()

    server = await serve(handler)
    async with connect(url(server)) as client:
        await until(lambda: server.subscribers("t") == 1)
        await client.send("go")
        got = [await client.recv() for _ in range(401)]
    want = [m for i in range(200) for m in (f"own{i}", f"pub{i}")] + ["end"]
    assert got == want


async def test_unsubscribe_and_subscription_state(serve):
    state: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.accept()
        first = (ws.subscribe("a"), ws.subscribe("b"), ws.subscribe("a"))
        topics = ws.topics
        await ws.receive_text()
        result = (first, topics, ws.unsubscribe("a"), ws.unsubscribe("a"), ws.is_subscribed("a"), ws.topics)
        state.set_result(result)
        await ws.send_text("unsubscribed")
        await ws.receive_text()
        await ws.send_text("direct")
        await ws.receive()

    server = await serve(handler)
    async with connect(url(server)) as client:
        await until(lambda: server.subscribers("b") == 1)
        await client.send("unsub")
        assert await client.recv() == "unsubscribed"
        assert await asyncio.wait_for(state, TIMEOUT) == (
            (True, True, False),
            ("a", "b"),
            True,
            False,
            False,
            ("b",),
        )
        assert server.subscribers("a") == 0
        assert server.publish("a", "not for you") == 0
        await client.send("next")
        assert await client.recv() == "direct"
        assert server.publish("b", "still b") == 1
        assert await client.recv() == "still b"


async def test_subscribe_before_accept_raises(serve):
    async def handler(ws):
        try:
            ws.subscribe("t")
        finally:
            await ws.accept()

    out = Outcome(handler)
    server = await serve(out)
    async with connect(url(server)):
        with pytest.raises(Exception, match="accept"):
            await out.result()


async def test_closing_subscribers_leave_and_empty_topics_vanish(serve):
    server = await serve(room())
    clients = [await connect(url(server)) for _ in range(5)]
    try:
        await until(lambda: server.subscribers("room") == 5)
        assert server.stats()["topics"] == 1
        await clients[0].close()
        await clients[1].close()
        await until(lambda: server.subscribers("room") == 3)
        assert server.publish("room", "x") == 3
        for c in clients[2:]:
            assert await c.recv() == "x"
    finally:
        for c in clients:
            await c.close()
    await until(lambda: server.subscribers("room") == 0)
    stats = server.stats()
    assert stats["topics"] == 0 and stats["subscriptions"] == 0


async def test_server_publish_from_other_threads(serve):
    threads, per_thread = 4, 300
    server = await serve(room())
    async with connect(url(server)) as a, connect(url(server)) as b:
        await until(lambda: server.subscribers("room") == 2)
        queued: list[int] = []

        def publisher(t: int) -> None:
            for i in range(per_thread):
                queued.append(server.publish("room", f"{t}:{i}"))

        workers = [threading.Thread(target=publisher, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        results = []
        for client in (a, b):
            got = [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in range(threads * per_thread)]
            results.append(got)
        await asyncio.to_thread(lambda: [w.join() for w in workers])
    assert queued == [2] * (threads * per_thread)
    for got in results:
        for t in range(threads):
            # Each publisher's messages arrive complete and in its order.
            assert [m for m in got if m.startswith(f"{t}:")] == [f"{t}:{i}" for i in range(per_thread)]


async def open_stalled(server, path: str = "/") -> rawws.RawClient:
    """A subscriber that never reads, with a small receive buffer."""
    client = await rawws.RawClient.connect(server.port, rcvbuf=4096)
    await client.handshake(path)
    return client


def slow_config(**kwargs):
    return fast_config(backpressure_limit=256 * 1024, write_timeout=60.0, **kwargs)


async def flood(server, reader, count: int, size: int) -> list[str]:
    """Publish `count` messages, pacing on the healthy reader (as a real
    producer would), and return what the reader got."""
    got: list[str] = []
    payload = "x" * size

    for i in range(count):
        server.publish("room", f"{i}:{payload}")
        if i % 16 == 15:
            while len(got) <= i - 8:
                got.append(await asyncio.wait_for(reader.recv(), TIMEOUT))
    while len(got) < count:
        got.append(await asyncio.wait_for(reader.recv(), TIMEOUT))
    return got


async def test_slow_subscriber_gets_drops_and_others_get_everything(serve):
    outcomes: list[Outcome] = []

    async def handler(ws):
        await ws.accept()
        ws.subscribe("room")
        await ws.receive()
        return ws.publish_dropped

    def make(ws):
        out = Outcome(handler)
        outcomes.append(out)
        return out(ws)

    server = await serve(make, slow_config())
    stalled = await open_stalled(server)
    async with connect(url(server), max_size=None) as reader:
        await until(lambda: server.subscribers("room") == 2)
        count, size = 1500, 4096  # 6 MB: far beyond the limit and the socket buffers
        got = await flood(server, reader, count, size)
        assert [m.split(":", 1)[0] for m in got] == [str(i) for i in range(count)]
        dropped = server.stats()["publish_dropped"]
        assert dropped > 0
        assert server.subscribers("room") == 2  # dropping is not closing
        stalled.close()
    assert sorted([await o.result() for o in outcomes]) == [0, dropped]


async def test_slow_subscriber_closed_with_1013_by_option(serve):
    closes: list[Outcome] = []

    async def handler(ws):
        await ws.accept()
        ws.subscribe("room")
        try:
            while True:
                await ws.receive_text()
        except Exception:
            pass
        return ws.close_code

    def make(ws):
        out = Outcome(handler)
        closes.append(out)
        return out(ws)

    server = await serve(make, slow_config(close_on_backpressure_limit=True))
    stalled = await open_stalled(server)
    async with connect(url(server), max_size=None) as reader:
        await until(lambda: server.subscribers("room") == 2)
        got = await flood(server, reader, 1500, 4096)
        assert [m.split(":", 1)[0] for m in got] == [str(i) for i in range(1500)]
        await until(lambda: server.subscribers("room") == 1, 10)
        codes = [o.future.result() for o in closes if o.future.done()]
        assert codes == [1013]
    stalled.close()


def decompress(frame: rawws.Frame) -> bytes:
    return zlib.decompressobj(-15).decompress(frame.payload + b"\x00\x00\xff\xff")


async def test_compression_groups_share_one_deflate(serve):
    server = await serve(room())
    no_takeover = [ClientPerMessageDeflateFactory(server_no_context_takeover=True)]
    small_window = [ClientPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=10)]
    clients = [
        await connect(url(server), extensions=no_takeover, compression=None),
        await connect(url(server), extensions=no_takeover, compression=None),
        await connect(url(server), extensions=small_window, compression=None),
        await connect(url(server)),  # context takeover: compressed by its own writer
        await connect(url(server), compression=None),  # uncompressed
    ]
    try:
        await until(lambda: server.subscribers("room") == 5)
        texts = [("hello topics " * 40) + str(i) for i in range(3)]
        for text in texts:
            assert server.publish("room", text) == 5
        for client in clients:
            assert [await client.recv() for _ in texts] == texts
        # One shared compression per window size per message: 2 groups x 3.
        assert server.stats()["shared_compressions"] == 6
        assert server.publish("room", "plain", compress=False) == 5
        for client in clients:
            assert await client.recv() == "plain"
        assert server.stats()["shared_compressions"] == 6
    finally:
        for client in clients:
            await client.close()


async def test_compressed_group_frame_is_really_compressed(serve, raw):
    server = await serve(room())
    client = await raw(server.port)
    offer = "permessage-deflate; server_no_context_takeover; client_max_window_bits"
    await client.request_upgrade("/", extra=[("Sec-WebSocket-Extensions", offer)])
    head = await client.read_response_head()
    assert "server_no_context_takeover" in head.headers["sec-websocket-extensions"]
    await until(lambda: server.subscribers("room") == 1)
    text = "compress me " * 100
    server.publish("room", text)
    frame = await client.recv_frame()
    assert frame.rsv & 4 and len(frame.payload) < len(text) // 4
    assert decompress(frame).decode() == text


async def test_ten_thousand_subscribers(serve):
    n = 10_000

    async def handler(ws):
        await ws.accept()
        ws.subscribe("everyone")
        await ws.receive()

    # No keepalive: the clients never answer a ping, and on a busy machine opening
    # 10,000 connections from one Python process takes longer than the ping interval
    # (21-24 s beside a CPU hog), so the server's pings would reach them first.
    server = await serve(handler, fast_config(max_connections=n + 100, ping_interval=None))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        os.path.join(HERE, "many_subscribers.py"),
        str(server.port),
        str(n),
        "/",
        "hello",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        assert line.strip() == b"ready"
        await until(lambda: server.subscribers("everyone") == n, 60)
        assert server.publish("everyone", "hello") == n
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == f"got {n}".encode()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    await until(lambda: server.subscribers("everyone") == 0, 60)
