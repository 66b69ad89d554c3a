"""permessage-deflate (RFC 7692) against real clients: negotiation, round
trips with and without context takeover, the per-send opt-out, and the
switch that turns it off."""

from __future__ import annotations

import asyncio
import json
import zlib

import aiohttp
import ferrosocket
from rawws import TEXT, RawClient, frame
from support import TIMEOUT, Outcome, fast_config, url
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


async def echo_with_compression(ws: ferrosocket.WebSocket) -> None:
    await ws.accept()
    await ws.send_text(ws.compression or "none")
    async for message in ws:
        await ws.send(message)


def feed(n: int) -> list[str]:
    return [json.dumps({"seq": i, "symbol": "ABC", "bid": 100 + i / 8, "ask": 100.5 + i / 8}) for i in range(n)]


async def test_websockets_client_negotiates_and_round_trips(serve):
    server = await serve(echo_with_compression)
    async with connect(url(server), ping_interval=None) as client:
        agreed = await asyncio.wait_for(client.recv(), TIMEOUT)
        assert agreed.startswith("permessage-deflate")
        assert client.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        for text in feed(50) + ["é" * 100_000]:
            await client.send(text)
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == text
        big = bytes(range(256)) * 4096
        await client.send(big)
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == big


async def test_no_context_takeover_both_ways(serve):
    server = await serve(echo_with_compression)
    factory = ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True)
    async with connect(url(server), extensions=[factory], compression=None, ping_interval=None) as client:
        agreed = await asyncio.wait_for(client.recv(), TIMEOUT)
        assert "server_no_context_takeover" in agreed
        for text in feed(20):
            await client.send(text)
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == text


async def test_aiohttp_client_with_compression(serve):
    server = await serve(echo_with_compression)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url(server), compress=15, autoping=False) as client:
            agreed = await asyncio.wait_for(client.receive_str(), TIMEOUT)
            assert agreed.startswith("permessage-deflate")
            assert client.compress == 12  # the window the server answered: its default
            for text in feed(20):
                await client.send_str(text)
                assert await asyncio.wait_for(client.receive_str(), TIMEOUT) == text


async def test_frames_are_compressed_unless_a_send_opts_out(serve):
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        await ws.send_text("a" * 1000)
        await ws.send_text("b" * 1000, compress=False)
        await ws.receive_text()

    server = await serve(handler)
    client = await RawClient.connect(server.port)
    try:
        await client.handshake("/", extra=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        compressed = await client.recv_frame()
        assert compressed.rsv == 4 and compressed.opcode == TEXT
        assert len(compressed.payload) < 100
        inflater = zlib.decompressobj(-15)
        assert inflater.decompress(compressed.payload + b"\x00\x00\xff\xff") == b"a" * 1000
        plain = await client.recv_frame()
        assert plain.rsv == 0 and plain.payload == b"b" * 1000
        # A compressed frame from the client is inflated too.
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflater.compress(b"done") + deflater.flush(zlib.Z_SYNC_FLUSH)
        await client.send(frame(TEXT, body[:-4], rsv=4))
    finally:
        client.close()


async def test_compression_can_be_switched_off(serve):
    outcome = Outcome(echo_with_compression)
    server = await serve(outcome, fast_config(compression=False))
    async with connect(url(server), ping_interval=None) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "none"
        assert "Sec-WebSocket-Extensions" not in client.response.headers


async def test_unacceptable_offer_is_declined_not_refused(serve):
    server = await serve(echo_with_compression)
    client = await RawClient.connect(server.port)
    try:
        offer = ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=3, x-unknown")
        response = await client.handshake("/", extra=[offer])
        assert "sec-websocket-extensions" not in response.headers
    finally:
        client.close()
