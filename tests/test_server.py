"""The Server object: port 0, serve_forever, close, wait_closed, shutdown
with 1001, and handlers that outlive the shutdown."""

from __future__ import annotations

import asyncio
import socket

import ferrosocket
import pytest
import websockets
from support import TIMEOUT, echo, fast_config, url
from websockets.asyncio.client import connect


async def server_close_code(client) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(client.recv(), TIMEOUT)
    assert info.value.rcvd is not None, "no close frame from the server"
    return info.value.rcvd.code, info.value.rcvd.reason


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_port_zero_picks_distinct_free_ports():
    async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as a:
        async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as b:
            assert a.port != 0 and b.port != 0 and a.port != b.port
            assert a.host == "127.0.0.1"
            for server in (a, b):
                async with connect(url(server)) as client:
                    await client.send("hi")
                    assert await asyncio.wait_for(client.recv(), TIMEOUT) == "hi"


async def test_awaiting_serve_starts_the_server():
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    try:
        async with connect(url(server)) as client:
            await client.send(b"x")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"x"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert await refuses_connections(server.port)


async def test_close_closes_clients_with_1001_and_stops_listening():
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    async with connect(url(server)) as first, connect(url(server)) as second:
        assert server.connections == 2
        server.close()
        assert await server_close_code(first) == (1001, "")
        assert await server_close_code(second) == (1001, "")
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert await refuses_connections(server.port)


async def test_close_with_custom_code_and_reason():
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    async with connect(url(server)) as client:
        server.close(1012, "restarting")
        assert await server_close_code(client) == (1012, "restarting")
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


@pytest.mark.parametrize(("code", "reason"), [(999, ""), (1005, ""), (70000, ""), (1001, "r" * 124)])
async def test_close_with_an_invalid_code_or_reason_raises_before_closing_anything(code, reason):
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    try:
        async with connect(url(server)) as client:
            with pytest.raises(ValueError, match="123 bytes" if reason else "close code"):
                server.close(code, reason)
            # Nothing was closed: the connection still echoes, new ones are accepted.
            await client.send("still open")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "still open"
            async with connect(url(server)) as later:
                await later.send("accepted")
                assert await asyncio.wait_for(later.recv(), TIMEOUT) == "accepted"
            server.close(1001, "bye")
            assert await server_close_code(client) == (1001, "bye")
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_leaving_the_context_closes_clients_with_1001():
    async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as server:
        client = await connect(url(server))
    try:
        assert await server_close_code(client) == (1001, "")
    finally:
        await client.close()


async def test_serve_forever_returns_after_close():
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    forever = asyncio.ensure_future(server.serve_forever())
    try:
        async with connect(url(server)) as client:
            await client.send("alive")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "alive"
            assert not forever.done()
            server.close()
            assert await server_close_code(client) == (1001, "")
        # The handlers are done and the clients gone: only the shutdown itself is left.
        await asyncio.wait_for(forever, 1.0)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_serve_forever_returns_when_another_task_waits_closed():
    server = await ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    forever = asyncio.ensure_future(server.serve_forever())
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    await asyncio.wait_for(forever, TIMEOUT)
    assert await refuses_connections(server.port)


async def test_cancelling_serve_forever_shuts_down():
    server = ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config())
    forever = asyncio.ensure_future(server.serve_forever())
    for _ in range(100):
        if server.port != 0:
            break
        await asyncio.sleep(0.01)
    async with connect(url(server)) as client:
        forever.cancel()
        assert await server_close_code(client) == (1001, "")
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(forever, TIMEOUT)
    assert await refuses_connections(server.port)


async def test_wait_closed_waits_for_handler_cleanup():
    cleaned = []

    async def handler(ws):
        await ws.accept()
        try:
            async for _ in ws:
                pass
        finally:
            await asyncio.sleep(0.05)  # cleanup that itself awaits
            cleaned.append(ws.close_code)

    server = await ferrosocket.serve(handler, "127.0.0.1", 0, config=fast_config())
    async with connect(url(server)) as client:
        await client.send("x")
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert cleaned == [1001]


async def test_handler_ignoring_shutdown_is_cancelled_after_timeout():
    outcome = []

    async def stubborn(ws):
        await ws.accept()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    server = await ferrosocket.serve(stubborn, "127.0.0.1", 0, config=fast_config(shutdown_timeout=0.2))
    async with connect(url(server)) as client:
        server.close()
        assert await server_close_code(client) == (1001, "")
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert outcome == ["cancelled"]


async def test_new_upgrades_during_shutdown_are_refused():
    async def slow_to_leave(ws):
        await ws.accept()
        try:
            async for _ in ws:
                pass
        finally:
            await asyncio.sleep(0.3)

    server = await ferrosocket.serve(slow_to_leave, "127.0.0.1", 0, config=fast_config())
    async with connect(url(server)):
        server.close()
        closing = asyncio.ensure_future(server.wait_closed())
        try:
            async with connect(url(server), open_timeout=TIMEOUT):
                pytest.fail("a new connection was accepted during shutdown")
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 503
        except (OSError, websockets.InvalidMessage):
            # Refused outright (listener gone), or reset without an answer:
            # the connect raced the listener's close and sat in its backlog.
            pass
        await asyncio.wait_for(closing, TIMEOUT)


async def test_port_in_use_raises_os_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            async with ferrosocket.serve(echo, "127.0.0.1", port, config=fast_config()):
                pass
    # The failed start left the loop usable for the next server.
    async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as server:
        async with connect(url(server)) as client:
            await client.send("ok")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "ok"
