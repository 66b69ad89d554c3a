"""`ferrosocket.connect()` against the other servers users run it with
(picows, aiohttp with compression, websockets' close codes), over Unix
sockets, through 5xx refusals while reconnecting, and with keepalive
finding a server that stopped answering. test_client.py has the basics
(websockets and aiohttp echo, wss with a test CA, refusals, reconnection)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp.web
import ferrosocket
import pytest
import websockets.asyncio.server as ws_server
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from rawws import upgrade_response

BIG = bytes(range(256)) * 4096  # 1 MiB


class PicowsEcho(WSListener):
    """Echo frame by frame; "bye" makes the server close with 4003."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"bye":
            transport.send_close(4003, b"picows says bye")
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def picows_factory(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener | None:
    if request.path == b"/nope":
        return None  # picows answers 404
    offered = request.headers.get("sec-websocket-protocol", "")
    if "chat" in [p.strip() for p in offered.split(",")]:
        response = WSUpgradeResponse.create_101_response(extra_headers={"Sec-WebSocket-Protocol": "chat"})
        return WSUpgradeResponseWithListener(response, PicowsEcho())
    return PicowsEcho()


@pytest.fixture
async def picows_port() -> AsyncIterator[int]:
    server = await ws_create_server(picows_factory, "127.0.0.1", 0, max_frame_size=4 << 20)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_picows_server_text_binary_big_subprotocol_and_close_code(picows_port: int) -> None:
    uri = f"ws://127.0.0.1:{picows_port}/"
    async with ferrosocket.connect(uri, subprotocols=["chat"], max_size=2 << 20) as ws:
        assert ws.subprotocol == "chat"
        assert ws.extensions == []  # picows has no compression
        await ws.send_text("héllo")
        assert await ws.receive_text() == "héllo"
        await ws.send_bytes(BIG)
        assert await ws.receive_bytes() == BIG
        await ws.send_text("bye")
        with pytest.raises(ferrosocket.WebSocketDisconnect) as info:
            await ws.receive_text()
        assert (info.value.code, info.value.reason) == (4003, "picows says bye")
    async with ferrosocket.connect(uri) as ws:
        assert ws.subprotocol is None
        await ws.close(4100, "client done")
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (4100, "client done")
    with pytest.raises(ferrosocket.InvalidStatus) as refused:
        await ferrosocket.connect(f"ws://127.0.0.1:{picows_port}/nope")
    assert refused.value.status == 404


async def test_aiohttp_server_with_compression_and_subprotocols() -> None:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        ws = aiohttp.web.WebSocketResponse(protocols=("v2", "v1"), compress=True, max_msg_size=4 << 20)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            else:
                await ws.send_bytes(msg.data)
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/ws", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ferrosocket.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["v1"], max_size=2 << 20) as ws:
            assert ws.subprotocol == "v1"
            (agreed,) = ws.extensions
            assert agreed.startswith("permessage-deflate")
            text = '{"price": 101.25, "qty": 3}' * 20000
            for _ in range(3):  # context takeover across messages
                await ws.send_text(text)
                assert await ws.receive_text() == text
            await ws.send_bytes(BIG)
            assert await ws.receive_bytes() == BIG
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("code", [1001, 1008, 1011, 4999])
async def test_websockets_server_close_codes_reach_the_client(code: int) -> None:
    async def handler(ws: ws_server.ServerConnection) -> None:
        await ws.recv()
        await ws.close(code, f"reason {code}")

    async with ws_server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ferrosocket.connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send_text("go")
            with pytest.raises(ferrosocket.WebSocketDisconnect) as info:
                await ws.receive_text()
            assert (info.value.code, info.value.reason) == (code, f"reason {code}")


async def test_unix_socket_to_our_server_and_to_websockets(tmp_path: Path) -> None:
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        await ws.send_text(f"{ws.path} {ws.headers['host']}")

    ours = str(tmp_path / "ours.sock")
    async with ferrosocket.serve({"/u": handler}, unix=ours):
        async with ferrosocket.connect("ws://localhost/u", unix_socket_path=ours) as ws:
            assert await ws.receive_text() == "/u localhost"

    async def echo(ws: ws_server.ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    theirs = str(tmp_path / "theirs.sock")
    async with ws_server.unix_serve(echo, theirs):
        async with ferrosocket.connect("ws://localhost/", unix_socket_path=theirs) as ws:
            await ws.send_bytes(b"over unix")
            assert await ws.receive_bytes() == b"over unix"
    with pytest.raises(OSError):
        await ferrosocket.connect("ws://localhost/", unix_socket_path=str(tmp_path / "missing.sock"))


async def test_async_for_retries_a_503_and_connects_when_the_server_recovers() -> None:
    attempts: list[int] = []

    async def handler(ws: ferrosocket.WebSocket) -> None:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            await ws.reject(503, b"warming up")
            return
        await ws.accept()
        await ws.send_text("ready")

    async with ferrosocket.serve(handler, "127.0.0.1", 0) as server:
        async for ws in ferrosocket.connect(
            f"ws://127.0.0.1:{server.port}/", backoff_initial=0.05, backoff_min=0.02, backoff_max=0.1
        ):
            assert await ws.receive_text() == "ready"
            break
    assert attempts == [0, 1, 2]


async def test_keepalive_closes_a_connection_whose_server_stopped_answering() -> None:
    """The server completes the handshake, then reads nothing and answers no
    ping: the client's ping_timeout must end the connection (1011)."""
    stalled: list[socket.socket] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(upgrade_response(await reader.readuntil(b"\r\n\r\n")))
        await writer.drain()
        stalled.append(writer.get_extra_info("socket"))
        await asyncio.sleep(30)

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await ferrosocket.connect(
            f"ws://127.0.0.1:{port}/", ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3
        )
        with pytest.raises(ferrosocket.WebSocketDisconnect) as info:
            await asyncio.wait_for(ws.receive_text(), 20)
        assert info.value.code == 1011
        await asyncio.wait_for(ws.wait_closed(), 20)
        assert stalled
    finally:
        server.close()
