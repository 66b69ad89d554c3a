"""Large sends: a `bytes` or `str` payload is queued by reference (the engine
keeps the object alive until written), any other buffer is copied once when
`send_bytes()` is called. What the peer receives is what the payload held at
that call, whatever the caller does with a mutable buffer afterwards, and the
engine lets go of a `bytes` object once it is written."""

from __future__ import annotations

import asyncio
import sys

import ferrosocket
import pytest
from support import TIMEOUT, Outcome, url
from websockets.asyncio.client import connect

MIB = 1 << 20
#: Enough at once that the socket cannot take it all and most of it waits
#: in the outbound queue (the sender awaits the low-water mark in between).
COUNT = 16


async def receive_all(server: ferrosocket.Server, count: int) -> list[bytes]:
    async with connect(url(server), max_size=None) as client:
        return [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in range(count)]


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
async def test_mutable_buffer_changed_after_send_is_not_what_is_sent(serve, kind):
    async def handler(ws):
        await ws.accept()
        buffer = bytearray(MIB)
        for i in range(COUNT):
            buffer[:] = bytes([i]) * MIB
            await ws.send_bytes(buffer if kind == "bytearray" else memoryview(buffer))
            # Changed as soon as the send returns, while earlier messages are
            # still queued or in flight.
            buffer[:] = b"\xff" * MIB
        await ws.receive()

    server = await serve(handler)
    received = await receive_all(server, COUNT)
    assert [len(r) for r in received] == [MIB] * COUNT
    for i, message in enumerate(received):
        assert message == bytes([i]) * MIB, f"message {i} changed after send_bytes() returned"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("size", [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 3 * MIB + 7])
async def test_sizes_around_the_by_reference_threshold(serve, kind, size):
    payload = bytes(i % 251 for i in range(size))

    async def handler(ws):
        await ws.accept()
        for _ in range(3):
            await ws.send_bytes(kind(payload))
        await ws.receive()

    server = await serve(handler)
    assert await receive_all(server, 3) == [payload] * 3


@pytest.mark.parametrize(
    "text",
    ["a" * (16 * 1024 - 1), "a" * (16 * 1024), "é" * (8 * 1024 - 1), "é" * (8 * 1024), "ü€😀" * 300_000],
    ids=["ascii-below", "ascii-at", "utf8-below", "utf8-at", "utf8-3mib"],
)
async def test_text_around_the_by_reference_threshold(serve, text):
    """The threshold is on the UTF-8 length, which for non-ASCII text is not
    the string's length; what arrives is the text, each time."""

    async def handler(ws):
        await ws.accept()
        for _ in range(3):
            await ws.send_text(text)
        await ws.receive()

    server = await serve(handler)
    assert await receive_all(server, 3) == [text] * 3


def large_payload(kind: type) -> bytes | str:
    if kind is bytes:
        return bytes(i % 253 for i in range(MIB))
    return "".join(chr(0x61 + i % 26) if i % 7 else "é" for i in range(MIB // 2))


@pytest.mark.parametrize("kind", [bytes, str])
async def test_a_queued_payload_is_held_not_copied(serve, kind):
    """Sent while the client reads nothing, most of COUNT large messages wait
    in the queue: each holds a reference to the one object (a copy would
    hold none)."""
    payload = large_payload(kind)
    baseline = sys.getrefcount(payload)
    held = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.accept()
        send = ws.send_bytes if kind is bytes else ws.send_text
        waits = [send(payload) for _ in range(COUNT)]
        held.set_result(sys.getrefcount(payload) - baseline)
        for wait in waits:
            await wait
        await ws.receive()

    server = await serve(handler)
    async with connect(url(server), max_size=None) as client:
        queued = await asyncio.wait_for(held, TIMEOUT)
        received = [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in range(COUNT)]
    assert received == [payload] * COUNT
    # The socket takes a few MiB before the client reads; the rest is queued.
    assert queued >= COUNT // 2, f"only {queued} of {COUNT} queued messages hold the object"


@pytest.mark.parametrize("kind", [bytes, str])
async def test_one_object_queued_many_times_is_released(serve, kind):
    payload = large_payload(kind)
    baseline = sys.getrefcount(payload)
    done = asyncio.Event()

    async def handler(ws):
        await ws.accept()
        send = ws.send_bytes if kind is bytes else ws.send_text
        for _ in range(COUNT):
            await send(payload)
        await done.wait()
        return ws

    outcome = Outcome(handler)
    server = await serve(outcome)
    received = await receive_all(server, COUNT)
    assert received == [payload] * COUNT
    done.set()
    ws = await outcome.result()
    # The last writes may finish after the client read them; the engine's
    # references go once they are written (a decref made off the GIL is
    # applied at the next call into the engine, here buffered_amount).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (ws.buffered_amount > 0 or sys.getrefcount(payload) > baseline) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert sys.getrefcount(payload) == baseline
