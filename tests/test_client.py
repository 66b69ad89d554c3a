"""`ferrosocket.connect()` against real servers: ours, websockets' and
aiohttp's, over TCP and wss:// with a test CA; refusals, subprotocols,
compression, close codes and reconnection while the server restarts."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import aiohttp.web
import ferrosocket
import pytest
import trustme
import websockets.asyncio.server as ws_server
from rawws import upgrade_response

BIG = bytes(range(256)) * 4096  # 1 MiB


async def websockets_echo(ws: ws_server.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_websockets_server_text_binary_big_and_compression() -> None:
    async with ws_server.serve(websockets_echo, "127.0.0.1", 0, subprotocols=["b"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with ferrosocket.connect(f"ws://127.0.0.1:{port}/", subprotocols=["a", "b"], max_size=2 << 20) as ws:
            assert ws.subprotocol == "b"
            assert ws.extensions and ws.extensions[0].startswith("permessage-deflate")
            await ws.send_text("héllo")
            assert await ws.receive_text() == "héllo"
            await ws.send_bytes(BIG)
            assert await ws.receive_bytes() == BIG
            await ws.close(4001, "done")
        assert ws.close_code == 4001


async def test_aiohttp_server_without_compression_and_server_close_code() -> None:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        ws = aiohttp.web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.data == "bye":
                await ws.close(code=4002, message=b"server says bye")
            else:
                await ws.send_str(msg.data)
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/ws", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with ferrosocket.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
            assert ws.extensions == []
            await ws.send_text("x" * 70000)
            assert await ws.receive_text() == "x" * 70000
            await ws.send_text("bye")
            with pytest.raises(ferrosocket.WebSocketDisconnect) as info:
                await ws.receive_text()
            assert (info.value.code, info.value.reason) == (4002, "server says bye")
    finally:
        await runner.cleanup()


async def test_refusal_carries_status_headers_and_body(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.reject(403, b"go away", headers={"X-Why": "test"})

    server = await serve({"/ws": handler})
    with pytest.raises(ferrosocket.InvalidStatus) as info:
        await ferrosocket.connect(f"ws://127.0.0.1:{server.port}/ws")
    assert info.value.status == 403
    assert info.value.body == b"go away"
    assert info.value.headers["x-why"] == "test"
    assert "403" in str(info.value)
    with pytest.raises(ferrosocket.InvalidStatus) as info:
        await ferrosocket.connect(f"ws://127.0.0.1:{server.port}/nowhere")
    assert info.value.status == 404


async def test_our_server_echo_and_response_headers(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept(subprotocol=ws.subprotocols[0], headers={"X-Hello": "1"})
        async for message in ws:
            await ws.send(message)

    server = await serve({"/echo": handler})
    ws = await ferrosocket.connect(f"ws://127.0.0.1:{server.port}/echo", subprotocols=["chat"])
    try:
        assert ws.subprotocol == "chat"
        assert ws.response_headers["x-hello"] == "1"
        for i in range(50):
            await ws.send_text(f"m{i}")
        assert [await ws.receive_text() for _ in range(50)] == [f"m{i}" for i in range(50)]
        await ws.ping(b"p")
    finally:
        await ws.close()
        await ws.wait_closed()
    assert ws.state == "CLOSED"


async def test_wss_with_a_test_ca_and_hostname_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    async with ws_server.serve(websockets_echo, "127.0.0.1", 0, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        tls = ferrosocket.ClientSSL(cafile=str(cafile))
        async with ferrosocket.connect(f"wss://localhost:{port}/", ssl=tls) as ws:
            await ws.send_text("secret")
            assert await ws.receive_text() == "secret"
        # The certificate does not name this host: refused by default...
        wrong = ferrosocket.ClientSSL(cafile=str(cafile), server_hostname="example.com")
        with pytest.raises(ssl.SSLError):
            await ferrosocket.connect(f"wss://127.0.0.1:{port}/", ssl=wrong)
        # ...and accepted with the name check off (the chain is still verified).
        lax = ferrosocket.ClientSSL(cafile=str(cafile), server_hostname="example.com", check_hostname=False)
        async with ferrosocket.connect(f"wss://127.0.0.1:{port}/", ssl=lax) as ws:
            await ws.send_text("ok")
            assert await ws.receive_text() == "ok"
        # The system roots do not know the test CA.
        with pytest.raises(ssl.SSLError):
            await ferrosocket.connect(f"wss://localhost:{port}/")


async def test_open_timeout_and_connection_refused() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(TimeoutError):
        await ferrosocket.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await ferrosocket.connect(f"ws://127.0.0.1:{port}/")
    with pytest.raises(ferrosocket.client.InvalidURI):
        await ferrosocket.connect("http://127.0.0.1/")


async def test_async_for_reconnects_while_the_server_restarts() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    greetings = []

    async def restart_later() -> None:
        await asyncio.sleep(0.3)  # the client's first attempts are refused
        async with ws_server.serve(websockets_echo, "127.0.0.1", port) as server:
            while len(greetings) < 1:
                await asyncio.sleep(0.05)
            server.close()  # drop the first connection: the client reconnects
        async with ws_server.serve(websockets_echo, "127.0.0.1", port):
            while len(greetings) < 2:
                await asyncio.sleep(0.05)

    task = asyncio.create_task(restart_later())
    async for ws in ferrosocket.connect(
        f"ws://127.0.0.1:{port}/", backoff_initial=0.1, backoff_min=0.05, backoff_max=0.2
    ):
        try:
            await ws.send_text(f"hello {len(greetings)}")
            greetings.append(await ws.receive_text())
            if len(greetings) == 2:
                break
            await ws.receive_text()  # until the server goes away
        except ferrosocket.WebSocketDisconnect:
            continue
    await task
    assert greetings == ["hello 0", "hello 1"]


async def test_wait_closed_after_the_last_message_answers_the_servers_close(serve) -> None:  # type: ignore[no-untyped-def]
    """RFC 6455 §5.5.1: the server's close is answered once the client has
    read what came before it and waits, not after the client's close timeout
    (60 s here: the wait below gives up long before)."""

    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        await ws.send_text("301")
        await ws.close(1000)

    server = await serve({"/": handler})
    ws = await ferrosocket.connect(f"ws://127.0.0.1:{server.port}/", close_timeout=60)
    assert await ws.receive_text() == "301"
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert (ws.state, ws.close_code) == ("CLOSED", 1000)


async def test_async_for_stops_on_a_4xx(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(ws: ferrosocket.WebSocket) -> None:
        await ws.reject(401)

    server = await serve({"/": handler})
    with pytest.raises(ferrosocket.InvalidStatus) as info:
        async for _ws in ferrosocket.connect(f"ws://127.0.0.1:{server.port}/", backoff_initial=0.01):
            pytest.fail("no connection expected")
    assert info.value.status == 401


async def test_a_configured_deflate_offer_is_what_the_server_answers_to() -> None:
    offer = ferrosocket.DeflateOffer(
        client_max_window_bits=10,
        server_max_window_bits=12,
        client_no_context_takeover=True,
        server_no_context_takeover=True,
    )
    async with ws_server.serve(websockets_echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ferrosocket.connect(f"ws://127.0.0.1:{port}/", compression=offer, max_size=2 << 20) as ws:
            (agreed,) = ws.extensions
            for param in ("server_max_window_bits=12", "client_max_window_bits=10", "server_no_context_takeover"):
                assert param in agreed
            text = "ferrosocket " * 50000
            for _ in range(3):  # context reset after each message on both sides
                await ws.send_text(text)
                assert await ws.receive_text() == text
    with pytest.raises(ValueError, match="server_max_window_bits"):
        ferrosocket.DeflateOffer(server_max_window_bits=16)
    with pytest.raises(ValueError, match="DeflateOffer"):
        ferrosocket.connect("ws://127.0.0.1:1/", compression="gzip")


async def test_a_deflate_answer_beyond_the_offer_fails_the_handshake() -> None:
    """RFC 7692 §7.1.2: a server_max_window_bits larger than the one asked for,
    or an extension never offered, must fail the connection."""
    answers = iter(["permessage-deflate; server_max_window_bits=14", "x-webkit-deflate-frame"])

    async def fake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(upgrade_response(head, [("Sec-WebSocket-Extensions", next(answers))]))
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(fake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        offer = ferrosocket.DeflateOffer(server_max_window_bits=12)
        with pytest.raises(ferrosocket.InvalidHandshake, match="server_max_window_bits"):
            await ferrosocket.connect(f"ws://127.0.0.1:{port}/", compression=offer)
        with pytest.raises(ferrosocket.InvalidHandshake, match="not offered"):
            await ferrosocket.connect(f"ws://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
