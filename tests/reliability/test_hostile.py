"""The reliability suite of issue 6, item 9: hostile and careless clients
against a server in its own process (procserver.py), so that its memory can
be read apart from the clients'. Each test checks the server's answer, that
a well-behaved client keeps being served during and after the attack, and
that the server's RSS stays bounded: the bound is on the growth of the peak
RSS (VmHWM) over the RSS before the attack, and is stated in each assertion.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

import pytest
from rawws import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawClient, close_payload
from relsupport import (
    MIB,
    TIMEOUT,
    EchoProbe,
    FrameReader,
    echo_ok,
    proc_server,
    raw_upgraded,
    request_bytes,
    reset,
    slowloris,
    zero_mask_frame,
)


async def gather_limited(coros, limit: int = 100):
    """Run coroutines with at most `limit` at a time; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


# -- 1,000+ idle connections -----------------------------------------------------


async def test_1200_idle_connections_while_one_client_echoes(nofile):
    n = 1200
    assert nofile >= n + 100, f"RLIMIT_NOFILE hard limit {nofile} is too low for {n} connections"
    async with proc_server() as server:
        memory = server.memory(f"{n} idle connections")
        clients = await gather_limited([raw_upgraded(server.port, "/echo") for _ in range(n)])
        try:
            stats = await server.stats()
            assert stats["connections_open"] >= n + 1  # the idle ones and this stats connection
            # One client echoes while they all sit there.
            await echo_ok(server.port, n=5)
            # Every idle connection is still alive and answered.
            for i, c in enumerate(clients):
                await c.send_frame(PING, b"%d" % i)

            async def pong(c: RawClient, i: int) -> None:
                f = await c.recv_frame(timeout=TIMEOUT)
                assert (f.opcode, f.payload) == (PONG, b"%d" % i)

            await gather_limited([pong(c, i) for i, c in enumerate(clients)])
            memory.stop()
        finally:
            for c in clients:
                c.close()
        per_connection_kib = (memory.peak - memory.before) * 1024 / n
        memory.extra["KiB_per_connection"] = per_connection_kib
        print(memory, f"{per_connection_kib:.1f} KiB per connection")
        assert memory.growth < 150, f"{memory}: bound 150 MiB for {n} idle connections (128 KiB each)"
        await echo_ok(server.port)
        # They are all released once the clients leave.
        await asyncio.sleep(0.5)
        assert (await server.stats())["connections_open"] == 1


# -- a flood from one client -------------------------------------------------------


async def test_flood_from_one_client_while_another_is_served():
    """50,000 messages of 2 KiB (100 MB) sent as fast as the socket takes
    them: the server reads no faster than the handler consumes (max_queue),
    so the flood cannot pile up in memory, and every echo comes back intact
    and in order while another client keeps getting correct answers."""
    n, size = 50_000, 2048
    padding = b"f" * (size - 8)
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        await probe.wait_for(3)
        memory = server.memory(f"flood of {n} x {size} B messages")
        flooder = await raw_upgraded(server.port, "/echo")
        try:
            wire = b"".join(zero_mask_frame(BINARY, b"%08d" % i + padding) for i in range(n))
            reader = FrameReader(flooder.sock)

            async def read_all() -> int:
                expected = 0
                while expected < n:
                    for opcode, payload in await reader.frames():
                        assert opcode == BINARY
                        assert payload == b"%08d" % expected + padding, "echoes arrive complete and in order"
                        expected += 1
                return expected

            reading = asyncio.ensure_future(read_all())
            await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(flooder.sock, wire), 60)
            assert await asyncio.wait_for(reading, 60) == n
        finally:
            flooder.close()
        memory.stop()
        served = await probe.stop()
        assert served > 3, "the other client was served during the flood"
        print(memory, f"probe round trips: {served}")
        assert memory.growth < 48, f"{memory}: bound 48 MiB (the flood is 100 MB)"
        await echo_ok(server.port)


# -- a client that never reads -----------------------------------------------------


async def test_clients_that_never_read_cannot_grow_the_server():
    n, size, high = 20, 64 * 1024, 64 * 1024
    config = dict(write_high_water=high, write_low_water=16 * 1024, write_timeout=1.0, close_timeout=1.0)
    async with proc_server(**config) as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} clients that never read")
        clients = await gather_limited(
            [raw_upgraded(server.port, f"/firehose?size={size}", rcvbuf=4096) for _ in range(n)]
        )
        try:
            events = await server.wait_events(n, "/firehose", timeout=30)
            memory.stop()
        finally:
            for c in clients:
                c.close()
        assert [e["code"] for e in events] == [1008] * n, events
        for e in events:
            assert e["max_buffered"] <= high + size + 64, e
            assert e["sent"] > 0
        served = await probe.stop()
        assert served > 0
        print(memory, f"messages sent per client: {[e['sent'] for e in events][:5]}...")
        assert memory.growth < 64, f"{memory}: bound 64 MiB for {n} clients that never read"
        await echo_ok(server.port)


# -- a handler that never receives -----------------------------------------------------


async def test_inbound_queue_is_bounded_in_bytes_when_the_handler_never_receives():
    """Clients pushing 1 MiB messages at a handler that never receives: the
    engine stops reading at max_queue_bytes, so TCP flow control holds the
    rest in the clients (10 x 40 MiB would otherwise be queued)."""
    n, queue_bytes, message = 10, 4 * MIB, MIB
    async with proc_server(max_queue_bytes=queue_bytes, ping_interval=None) as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} clients pushing 40 MiB at a deaf handler")
        clients = await gather_limited([raw_upgraded(server.port, "/deaf") for _ in range(n)])
        wire = zero_mask_frame(BINARY, b"d" * message) * 40
        loop = asyncio.get_running_loop()
        senders = [asyncio.ensure_future(loop.sock_sendall(c.sock, wire)) for c in clients]
        try:
            # Let them push until flow control stops them, while the probe is served.
            await probe.wait_for(probe.count + 20)
            await asyncio.sleep(1.0)
            memory.stop()
            assert not any(s.done() for s in senders), "the server stopped reading: the clients' sends block"
        finally:
            for s in senders:
                s.cancel()
            for c in clients:
                c.close()
        assert await probe.stop() > 0
        print(memory)
        bound = n * (queue_bytes + 2 * message) / MIB + 32
        assert memory.growth < bound, f"{memory}: bound {bound:.0f} MiB (queue + message in progress, per client)"
        await echo_ok(server.port)


# -- a ping flood whose pongs are never read -------------------------------------------


async def test_ping_flood_with_unread_pongs_is_bounded_and_keeps_the_latest_pong():
    batch, batches = 10_000, 100  # 1,000,000 pings of 125 bytes: 131 MB of pongs if all were kept
    async with proc_server(write_timeout=60.0) as server:
        probe = EchoProbe(server.port)
        memory = server.memory("1,000,000 pings, pongs unread")
        flooder = await raw_upgraded(server.port, "/echo", rcvbuf=4096)
        try:
            chunk = zero_mask_frame(PING, b"p" * 125) * batch
            loop = asyncio.get_running_loop()
            for _ in range(batches):
                await asyncio.wait_for(loop.sock_sendall(flooder.sock, chunk), 30)
            await flooder.send(zero_mask_frame(PING, b"last"))
            # The server keeps reading (and answering) while nobody reads its pongs.
            await probe.wait_for(probe.count + 3)
            memory.stop()
            # Now read: far fewer pongs than pings, and the latest one last.
            flooder.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            reader = FrameReader(flooder.sock)
            pongs = 0
            last = None
            while last != b"last":
                for opcode, payload in await reader.frames():
                    assert opcode == PONG
                    pongs += 1
                    last = payload
            await flooder.send(zero_mask_frame(CLOSE, close_payload(1000)))
            assert (await flooder.expect_close())[0] == 1000
        finally:
            flooder.close()
        memory.extra["pongs_received"] = pongs
        print(memory, f"pongs received: {pongs} for {batch * batches + 1} pings")
        assert pongs < batch * batches // 4, "owed pongs were coalesced"
        assert await probe.stop() > 0
        assert memory.growth < 48, f"{memory}: bound 48 MiB (all pongs would be 131 MB)"
        await echo_ok(server.port)


# -- a client vanishing mid-message ------------------------------------------------------


def _vanishing_variants() -> list[tuple[str, bytes, bool]]:
    """(name, bytes sent after the handshake, reset instead of FIN)."""
    half_header = zero_mask_frame(BINARY, b"x" * 1000)[:1]
    half_payload = zero_mask_frame(BINARY, b"x" * 1000)[:500]
    half_fragmented = zero_mask_frame(TEXT, b"abc", fin=False) + zero_mask_frame(CONT, b"def")[:5]
    half_utf8 = zero_mask_frame(TEXT, "żółw".encode(), fin=False)[:-1]
    return [
        ("half a header, FIN", half_header, False),
        ("half a payload, RST", half_payload, True),
        ("half a second fragment, FIN", half_fragmented, False),
        ("split UTF-8 character, RST", half_utf8, True),
    ]


async def test_clients_vanishing_mid_message_do_not_disturb_others():
    per_variant = 50
    variants = _vanishing_variants()
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{per_variant * len(variants)} clients vanishing mid-message")

        async def vanish(data: bytes, rst: bool) -> None:
            client = await raw_upgraded(server.port, "/echo?vanish")
            await client.send(data)
            await asyncio.sleep(0.01)
            if rst:
                reset(client.sock)
            else:
                client.close()

        await gather_limited([vanish(data, rst) for _, data, rst in variants for _ in range(per_variant)])
        events = await server.wait_events(per_variant * len(variants), "/echo", query="vanish")
        memory.stop()
        assert {e["code"] for e in events} == {1006}, events[:5]
        assert await probe.stop() > 0
        print(memory)
        assert memory.growth < 32, f"{memory}: bound 32 MiB"
        await echo_ok(server.port)
        assert (await server.stats())["connections_open"] == 1


# -- absurd declared lengths -----------------------------------------------------------


async def test_declared_length_2_63_minus_1_is_1009_without_allocating():
    n = 50
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} frames declaring 2^63-1 bytes")

        async def absurd() -> int:
            client = await raw_upgraded(server.port, "/echo")
            try:
                await client.send(struct.pack("!BBQ", 0x82, 0xFF, (1 << 63) - 1) + b"\0\0\0\0" + b"z" * 1000)
                code, _ = await client.expect_close()
                assert await client.at_eof()
                return code
            finally:
                client.close()

        codes = await gather_limited([absurd() for _ in range(n)])
        memory.stop()
        assert codes == [1009] * n, "2^63-1 is a valid length over max_frame_size: 1009 (2^63+ would be 1002)"
        assert await probe.stop() > 0
        print(memory)
        assert memory.growth < 16, f"{memory}: bound 16 MiB"
        await echo_ok(server.port)


async def test_frames_declaring_the_maximum_size_are_not_preallocated():
    """Frames that declare max_frame_size (16 MiB, allowed) and then stall:
    memory follows what arrived, not what was declared (100 x 16 MiB would be
    1.6 GiB)."""
    n = 100
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} stalled 16 MiB frames")
        clients = await gather_limited([raw_upgraded(server.port, "/echo?stall") for _ in range(n)])
        try:
            head = struct.pack("!BBQ", 0x82, 0xFF, 16 * MIB) + b"\0\0\0\0"
            for c in clients:
                await c.send(head + b"y" * 1000)
            await asyncio.sleep(0.5)
            await probe.wait_for(probe.count + 3)
            memory.stop()
        finally:
            for c in clients:
                c.close()
        assert await probe.stop() > 0
        print(memory)
        assert memory.growth < 64, f"{memory}: bound 64 MiB ({n} x 16 MiB declared)"
        events = await server.wait_events(n, "/echo", query="stall")
        assert {e["code"] for e in events} == {1006}
        await echo_ok(server.port)


# -- 16 MiB in 1-byte fragments ----------------------------------------------------------


async def test_16_mib_in_one_byte_fragments_is_echoed():
    """RFC 6455 §5.4 puts no limit on the number of fragments, and the whole
    message is within max_message_size (16 MiB, the default): it must be
    reassembled and echoed intact, in bounded time and memory."""
    size = 16 * MIB
    payload = os.urandom(size)
    # 16,777,216 frames of 7 bytes: FIN/opcode, MASK|1, a zero key, the byte.
    wire = bytearray(7 * size)
    wire[0::7] = b"\x00" * size
    wire[1::7] = b"\x81" * size
    wire[6::7] = payload
    wire[0] = BINARY  # first frame: binary, not FIN
    wire[7 * (size - 1)] = 0x80  # last frame: continuation, FIN
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory("16 MiB in 1-byte fragments")
        client = await raw_upgraded(server.port, "/echo")
        try:
            started = time.monotonic()
            await asyncio.wait_for(asyncio.get_running_loop().sock_sendall(client.sock, wire), 60)
            del wire
            f = await client.recv_frame(timeout=60)
            elapsed = time.monotonic() - started
            assert (f.opcode, f.fin, len(f.payload)) == (BINARY, True, size)
            assert f.payload == payload
        finally:
            client.close()
        memory.stop()
        memory.extra["seconds"] = elapsed
        print(memory, f"{elapsed:.1f} s")
        assert await probe.stop() > 0
        assert memory.growth < 200, f"{memory}: bound 200 MiB for one 16 MiB message"
        await echo_ok(server.port)


# -- slowloris, oversize heads, smuggling, in numbers ------------------------------------------


async def test_200_slowloris_handshakes_are_dropped_and_memory_is_bounded():
    n, handshake_timeout = 200, 1.0
    async with proc_server(handshake_timeout=handshake_timeout) as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} slowloris handshakes")
        results = await gather_limited([slowloris(server.port) for _ in range(n)], limit=n)
        memory.stop()
        for elapsed, sent, answer in results:
            assert answer == b""
            assert sent >= 2, "each one was trickling when it was dropped"
            assert elapsed < handshake_timeout + 2.5, elapsed
        assert await probe.stop() > 0
        stats = await server.stats()
        assert stats["handshakes_refused"]["timeout"] == n
        print(memory)
        assert memory.growth < 32, f"{memory}: bound 32 MiB"


async def test_oversize_heads_in_numbers_are_431_and_bounded():
    n = 100
    async with proc_server(max_headers_size=16384) as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{n} x 1 MiB header blocks")

        async def oversize() -> int:
            client = await RawClient.connect(server.port)
            try:
                await client.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * MIB)
                return (await client.read_response()).status
            finally:
                client.close()

        statuses = await gather_limited([oversize() for _ in range(n)], limit=50)
        memory.stop()
        assert statuses == [431] * n
        assert await probe.stop() > 0
        print(memory)
        assert memory.growth < 32, f"{memory}: bound 32 MiB"
        await echo_ok(server.port)


SMUGGLING = {
    "Transfer-Encoding: chunked": ([("Transfer-Encoding", "chunked")], b"5\r\nhello\r\n0\r\n\r\n"),
    "Content-Length with a body": ([("Content-Length", "5")], b"hello"),
    "duplicated Content-Length": ([("Content-Length", "0"), ("Content-Length", "0")], b""),
    "conflicting Content-Length": ([("Content-Length", "0"), ("Content-Length", "5")], b"hello"),
    "Transfer-Encoding and Content-Length": ([("Transfer-Encoding", "chunked"), ("Content-Length", "0")], b"0\r\n\r\n"),
    "Transfer-Encoding: identity": ([("Transfer-Encoding", "identity")], b""),
}


def smuggling_request(port: int, name: str) -> bytes:
    if name == "obs-fold":
        head = request_bytes(port, "/echo", [("X-Folded", "a")])
        return head.replace(b"X-Folded: a\r\n", b"X-Folded: a\r\n  continued\r\n")
    if name == "obs-fold of Upgrade":
        head = request_bytes(port, "/echo")
        return head.replace(b"Upgrade: websocket\r\n", b"Upgrade:\r\n websocket\r\n")
    if name == "space before colon":
        head = request_bytes(port, "/echo", [("Content-Length", "0")])
        return head.replace(b"Content-Length: 0", b"Content-Length : 5") + b"hello"
    extra, body = SMUGGLING[name]
    return request_bytes(port, "/echo", extra) + body


SMUGGLING_NAMES = [*SMUGGLING, "obs-fold", "obs-fold of Upgrade", "space before colon"]


@pytest.mark.parametrize("name", SMUGGLING_NAMES)
async def test_request_smuggling_on_the_upgrade_is_400(serve, name):
    opened: list[str] = []

    async def handler(ws):
        opened.append(ws.path)
        await ws.accept()
        async for m in ws:
            await ws.send(m)

    server = await serve({"/echo": handler})
    client = await RawClient.connect(server.port)
    try:
        await client.send(smuggling_request(server.port, name))
        response = await client.read_response()
        assert response.status == 400, response
        assert "sec-websocket-accept" not in response.headers
        assert await client.at_eof(), "the connection is closed after the 400"
    finally:
        client.close()
    assert opened == [], "no WebSocket was opened"
    assert server.stats()["connections_total"] == 0
    assert server.stats()["handshakes_refused"]["bad_request"] == 1
    await echo_ok(server.port)
    assert opened == ["/echo"]


async def test_request_smuggling_in_numbers_is_bounded():
    rounds = 30
    async with proc_server() as server:
        probe = EchoProbe(server.port)
        memory = server.memory(f"{rounds * len(SMUGGLING_NAMES)} smuggling attempts")

        async def attempt(name: str) -> int:
            client = await RawClient.connect(server.port)
            try:
                await client.send(smuggling_request(server.port, name))
                return (await client.read_response()).status
            finally:
                client.close()

        statuses = await gather_limited([attempt(name) for name in SMUGGLING_NAMES * rounds], limit=50)
        memory.stop()
        assert statuses == [400] * len(statuses)
        assert await probe.stop() > 0
        stats = await server.stats()
        assert stats["handshakes_refused"]["bad_request"] == len(statuses)
        print(memory)
        assert memory.growth < 16, f"{memory}: bound 16 MiB"
