"""Limits (issue 6, item 3): HTTP head sizes (431), message and frame sizes
(1009), absurd declared lengths, write-side backpressure against a peer that
never reads (sends wait, then 1008 after write_timeout), and max_connections
(503). Each hostile case also checks that a well-behaved client is served.

The memory side of these attacks is measured on a server in its own process
in test_hostile.py."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest
from ferrosocket import WebSocketDisconnect
from rawws import BINARY, CONT, TEXT, RawClient, upgrade_request
from relsupport import TIMEOUT, EchoProbe, echo_ok, raw_request, raw_upgraded, zero_mask_frame
from support import Outcome, echo, fast_config
from websockets.asyncio.client import connect

HTTP_LIMITS = dict(max_request_line=1024, max_headers_size=4096, max_headers=10)


def head_with(port: int, *, path: str = "/", extra: list[tuple[str, str]] | None = None) -> bytes:
    return upgrade_request(port, path, extra=extra)[0]


@pytest.fixture
async def limited(serve):
    """An echo server on every path with small HTTP limits."""
    return await serve(echo, fast_config(**HTTP_LIMITS))


async def _refused(port: int, request: bytes, status: int) -> None:
    response, closed = await raw_request(port, request)
    assert response.status == status, response
    assert closed, "the connection is closed after a refusal"


async def test_request_line_over_the_limit_is_431(limited):
    await _refused(limited.port, head_with(limited.port, path="/" + "a" * 2000), 431)
    assert limited.stats()["handshakes_refused"]["bad_request"] == 1
    assert limited.stats()["connections_total"] == 0
    await echo_ok(limited.port)


async def test_request_line_at_the_limit_is_accepted(limited):
    # "GET " + path + " HTTP/1.1" is exactly max_request_line bytes.
    path = "/" + "a" * (1024 - len("GET  HTTP/1.1") - 1)
    request = head_with(limited.port, path=path)
    assert request.index(b"\r\n") == 1024
    client = await RawClient.connect(limited.port)
    try:
        await client.send(request)
        assert (await client.read_response_head()).status == 101
    finally:
        client.close()


async def test_endless_request_line_is_431_without_waiting_for_its_end(limited):
    """64 KiB and no newline: refused on the bytes seen, not buffered."""
    await _refused(limited.port, b"GET /" + b"a" * 65536, 431)
    await echo_ok(limited.port)


async def test_header_block_over_the_limit_is_431(limited):
    await _refused(limited.port, head_with(limited.port, extra=[("X-Big", "b" * 5000)]), 431)
    await echo_ok(limited.port)


async def test_endless_header_block_is_431(limited):
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"c" * 65536
    await _refused(limited.port, request, 431)
    await echo_ok(limited.port)


async def test_more_headers_than_max_headers_is_431(limited):
    extra = [(f"X-H{i}", "v") for i in range(15)]
    await _refused(limited.port, head_with(limited.port, extra=extra), 431)
    await echo_ok(limited.port)


async def test_exactly_max_headers_is_accepted(limited):
    extra = [(f"X-H{i}", "v") for i in range(5)]  # 5 standard + 5 = 10
    client = await RawClient.connect(limited.port)
    try:
        await client.send(head_with(limited.port, extra=extra))
        assert (await client.read_response_head()).status == 101
    finally:
        client.close()


def _failing(result: list[int]) -> Outcome:
    """An echo handler that records the close code it ends with."""

    async def handler(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_bytes(await ws.receive_bytes())
        except WebSocketDisconnect as exc:
            result.append(exc.code)
            return exc.code

    return Outcome(handler)


async def test_message_over_max_message_size_is_1009(serve, raw):
    codes: list[int] = []
    outcome = _failing(codes)
    server = await serve({"/m": outcome, "/echo": echo}, fast_config(max_message_size=1024))
    client = await raw(server.port)
    await client.handshake("/m")
    # Up to the limit is fine...
    await client.send_frame(BINARY, b"a" * 512, fin=False)
    await client.send_frame(CONT, b"b" * 512)
    assert await client.recv_message() == (BINARY, b"a" * 512 + b"b" * 512)
    # ...one byte more, in two fragments each under the limit, is not.
    await client.send_frame(BINARY, b"a" * 600, fin=False)
    await client.send_frame(CONT, b"b" * 425)
    assert (await client.expect_close())[0] == 1009
    assert await client.at_eof()
    assert await outcome.result() == 1009
    await echo_ok(server.port)


async def test_frame_over_max_frame_size_is_1009(serve, raw):
    codes: list[int] = []
    outcome = _failing(codes)
    server = await serve({"/f": outcome, "/echo": echo}, fast_config(max_frame_size=512, max_message_size=4096))
    client = await raw(server.port)
    await client.handshake("/f")
    # A 2,000-byte message in frames under the frame limit is fine...
    await client.send_frame(BINARY, b"x" * 500, fin=False)
    for _ in range(2):
        await client.send_frame(CONT, b"x" * 500, fin=False)
    await client.send_frame(CONT, b"x" * 500)
    assert await client.recv_message() == (BINARY, b"x" * 2000)
    # ...a single 513-byte frame is not.
    await client.send_frame(BINARY, b"y" * 513)
    assert (await client.expect_close())[0] == 1009
    assert await outcome.result() == 1009
    await echo_ok(server.port)


@pytest.mark.parametrize(
    ("length", "code"),
    [((1 << 63) - 1, 1009), (1 << 32, 1009), (1 << 63, 1002), ((1 << 64) - 1, 1002)],
    ids=["2^63-1", "2^32", "2^63 (MSB set)", "2^64-1"],
)
async def test_absurd_declared_length(serve, raw, length, code):
    """RFC 6455 §5.2: the 64-bit length's most significant bit must be 0, so
    2^63 and above are protocol errors (1002); 2^63-1 is well-formed but
    far over max_frame_size (1009). Both are decided on the header alone."""
    codes: list[int] = []
    outcome = _failing(codes)
    server = await serve({"/l": outcome, "/echo": echo})
    client = await raw(server.port)
    await client.handshake("/l")
    await client.send(struct.pack("!BBQ", 0x82, 0xFF, length) + b"\0\0\0\0" + b"z" * 100)
    assert (await client.expect_close())[0] == code
    assert await client.at_eof()
    assert await outcome.result() == code
    await echo_ok(server.port)


async def test_text_in_one_byte_fragments_is_reassembled(serve):
    """Covered against a server in its own process (RSS and time bounds):
    test_hostile.py::test_16_mib_in_one_byte_fragments_is_echoed. Here, a
    text message in 1-byte fragments, multi-byte UTF-8 split across them."""
    server = await serve(echo)
    client = await raw_upgraded(server.port, "/")
    try:
        text = "żółw 🐢 " * 2000
        data = text.encode()
        wire = b"".join(
            zero_mask_frame(TEXT if i == 0 else CONT, data[i : i + 1], fin=i == len(data) - 1) for i in range(len(data))
        )
        await client.send(wire)
        assert await client.recv_message(timeout=TIMEOUT) == (TEXT, data)
    finally:
        client.close()


HIGH, LOW, CHUNK, WRITE_TIMEOUT = 64 * 1024, 16 * 1024, 16 * 1024, 1.0


async def _never_reading_peer(serve, raw, close_timeout: float):
    """A handler sending 16 KiB messages as fast as it may to a raw client
    that never reads (4 KiB receive buffer). Returns (outcome, progress,
    server, probe, client, stalled_since) once the handler's send has been
    pending for 0.3 s."""
    progress = {"sent": 0, "max_buffered": 0}

    async def firehose(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_bytes(bytes(CHUNK))
                progress["sent"] += 1
                progress["max_buffered"] = max(progress["max_buffered"], ws.buffered_amount)
        except WebSocketDisconnect as exc:
            return exc.code, time.monotonic(), ws.state

    outcome = Outcome(firehose)
    config = fast_config(
        write_high_water=HIGH, write_low_water=LOW, write_timeout=WRITE_TIMEOUT, close_timeout=close_timeout
    )
    server = await serve({"/fire": outcome, "/echo": echo}, config)
    probe = EchoProbe(server.port)
    client = await raw(server.port, rcvbuf=4096)
    await client.handshake("/fire")

    async def stalled() -> float:
        last, since = -1, time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            if progress["sent"] != last:
                last, since = progress["sent"], time.monotonic()
            elif time.monotonic() - since >= 0.3:
                return since

    stalled_since = await asyncio.wait_for(stalled(), TIMEOUT)
    return outcome, progress, server, probe, client, stalled_since


# Bounded: the high-water mark plus at most the one message that crossed it.
BUFFER_BOUND = HIGH + CHUNK + 64


async def test_peer_that_never_reads_blocks_sends_then_is_dropped_with_1008(serve, raw):
    close_timeout = 1.0
    outcome, progress, server, probe, client, stalled_since = await _never_reading_peer(serve, raw, close_timeout)
    assert not outcome.future.done(), "the handler's send is pending, not failed"
    assert progress["max_buffered"] <= BUFFER_BOUND, progress
    assert probe.count > 0

    code, failed_at, state = await outcome.result(timeout=WRITE_TIMEOUT + close_timeout + 5)
    assert code == 1008
    # A loose bound here; the next test holds the pending send to
    # write_timeout itself.
    assert failed_at - stalled_since < WRITE_TIMEOUT + close_timeout + 1.5
    assert state == "CLOSED"
    assert progress["max_buffered"] <= BUFFER_BOUND, progress
    # The well-behaved client was served throughout and still is.
    assert await probe.stop() > 0
    await echo_ok(server.port)


async def test_pending_send_fails_with_1008_at_write_timeout_not_after_close_timeout_too(serve, raw):
    close_timeout = 3.0
    outcome, progress, server, probe, client, stalled_since = await _never_reading_peer(serve, raw, close_timeout)
    code, failed_at, state = await outcome.result(timeout=WRITE_TIMEOUT + close_timeout + 5)
    assert code == 1008
    assert failed_at - stalled_since < WRITE_TIMEOUT + 1.5, failed_at - stalled_since
    await probe.stop()


async def test_max_connections_refuses_the_next_upgrade_with_503(serve, raw):
    server = await serve({"/echo": echo}, fast_config(max_connections=3))
    url = f"ws://127.0.0.1:{server.port}/echo"
    clients = [await connect(url, open_timeout=TIMEOUT, ping_interval=None) for _ in range(3)]
    try:
        response, closed = await raw_request(server.port, head_with(server.port, path="/echo"))
        assert response.status == 503
        assert closed
        assert server.stats()["handshakes_refused"]["overloaded"] == 1
        # The open ones are still served.
        for i, c in enumerate(clients):
            await c.send(f"c{i}")
            assert await asyncio.wait_for(c.recv(), TIMEOUT) == f"c{i}"
        # A slot frees up when one leaves.
        await clients.pop().close()

        async def slot() -> None:
            while server.connections >= 3:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(slot(), TIMEOUT)
        await echo_ok(server.port)
    finally:
        for c in clients:
            await c.close()
