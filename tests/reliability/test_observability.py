"""Observability (issue 6, item 8): log records on the "ferrosocket" logger
(per-connection lines on its child "ferrosocket.access") for connections
opened and closed (with code and duration), handshake refusals (with the
reason) and handler errors; and server.stats() counters for connections,
messages, bytes and refusals by reason."""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import ferrosocket
from rawws import RawClient
from relsupport import TIMEOUT, echo_ok, raw_request, request_bytes
from support import echo, fast_config
from websockets.asyncio.client import connect

REASONS = {
    "bad_request",
    "timeout",
    "not_found",
    "origin",
    "overloaded",
    "tls",
    "plain_http",
    "shutting_down",
    "handler",
}


async def _until(predicate, timeout: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in ("ferrosocket", "ferrosocket.access")]


async def test_connection_open_and_closed_are_logged_with_code_and_duration(serve, caplog):
    caplog.set_level(logging.INFO, logger="ferrosocket")
    server = await serve({"/echo": echo})
    async with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=TIMEOUT, ping_interval=None) as client:
        peer = f"127.0.0.1:{client.local_address[1]}"
        await client.send("x")
        await client.recv()
        await asyncio.sleep(0.2)
    await _until(lambda: any("connection closed" in m for m in _messages(caplog)))
    messages = _messages(caplog)
    assert f"connection open: {peer} /echo" in messages
    closed = [m for m in messages if m.startswith(f"connection closed: {peer} /echo")]
    assert len(closed) == 1
    match = re.search(r"code=(\d+) duration=(\d+\.\d)s$", closed[0])
    assert match, closed[0]
    assert match.group(1) == "1000"
    assert 0.1 <= float(match.group(2)) < 5


async def test_vanished_client_is_logged_with_1006(serve, caplog):
    caplog.set_level(logging.INFO, logger="ferrosocket")
    server = await serve({"/echo": echo})
    client = await RawClient.connect(server.port)
    await client.handshake("/echo")
    client.close()
    await _until(lambda: any("connection closed" in m for m in _messages(caplog)))
    assert any(re.search(r"connection closed: .* /echo code=1006 ", m) for m in _messages(caplog))


async def test_handshake_refusals_are_logged_with_the_reason(serve, caplog):
    caplog.set_level(logging.INFO, logger="ferrosocket")
    server = await serve({"/echo": echo}, fast_config(allowed_origins=("https://ok.example",), handshake_timeout=0.3))
    port = server.port
    assert (await raw_request(port, request_bytes(port, "/nope")))[0].status == 404
    evil = request_bytes(port, "/echo", [("Origin", "https://evil.example")])
    assert (await raw_request(port, evil))[0].status == 403
    assert (await raw_request(port, b"GET /echo HTTP/1.1\r\nHost x\r\n\r\n"))[0].status == 400
    silent = socket.create_connection(("127.0.0.1", port))
    try:
        await _until(lambda: len([m for m in _messages(caplog) if "handshake refused" in m]) >= 4)
    finally:
        silent.close()
    refused = [m for m in _messages(caplog) if m.startswith("handshake refused: 127.0.0.1:")]
    assert any("HTTP 404" in m and "/nope" in m for m in refused), refused
    assert any("HTTP 403" in m and "evil.example" in m for m in refused), refused
    assert any("HTTP 400" in m and "malformed" in m for m in refused), refused
    assert any("dropped" in m and "timeout" in m for m in refused), refused
    await echo_ok(port)


async def test_handler_error_is_logged_and_closes_with_1011(serve, caplog):
    caplog.set_level(logging.INFO, logger="ferrosocket")

    async def boom(ws):
        await ws.accept()
        await ws.receive_text()
        raise ValueError("boom in handler")

    server = await serve({"/boom": boom, "/echo": echo})
    async with connect(f"ws://127.0.0.1:{server.port}/boom", open_timeout=TIMEOUT, ping_interval=None) as client:
        await client.send("go")
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
    assert client.close_code == 1011
    errors = [r for r in caplog.records if r.name == "ferrosocket" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == "handler for /boom raised"
    assert errors[0].exc_info and isinstance(errors[0].exc_info[1], ValueError)
    await _until(lambda: any("code=1011" in m for m in _messages(caplog)))
    await echo_ok(server.port)


async def test_stats_counters_move_as_expected(serve):
    server = await serve(
        {"/echo": echo},
        fast_config(allowed_origins=("https://ok.example",), handshake_timeout=0.3, max_request_line=256),
    )
    port = server.port
    stats = server.stats()
    assert set(stats["handshakes_refused"]) == REASONS
    assert all(n == 0 for n in stats["handshakes_refused"].values())
    assert {k: stats[k] for k in ("connections_total", "connections_open", "messages_in", "messages_out")} == {
        "connections_total": 0,
        "connections_open": 0,
        "messages_in": 0,
        "messages_out": 0,
    }

    sent = ["abc", b"\x00" * 1000, "é" * 10]  # 3 + 1000 + 20 bytes
    async with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=TIMEOUT, ping_interval=None) as client:
        for m in sent:
            await client.send(m)
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == m
        stats = server.stats()
        assert stats["connections_total"] == 1
        assert stats["connections_open"] == 1
        assert (stats["messages_in"], stats["messages_out"]) == (3, 3)
        assert (stats["bytes_in"], stats["bytes_out"]) == (1023, 1023)
    await _until(lambda: server.stats()["connections_open"] == 0)
    stats = server.stats()
    assert stats["connections_total"] == 1
    assert (stats["messages_in"], stats["messages_out"], stats["bytes_in"], stats["bytes_out"]) == (
        3,
        3,
        1023,
        1023,
    ), "closed connections' traffic is kept"

    # Refusals, by reason.
    assert (await raw_request(port, request_bytes(port, "/nope")))[0].status == 404
    assert (await raw_request(port, request_bytes(port, "/echo", [("Origin", "https://x.example")])))[0].status == 403
    assert (await raw_request(port, b"GET /echo HTTP/1.1\r\nHost x\r\n\r\n"))[0].status == 400
    assert (await raw_request(port, b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\n\r\n"))[0].status == 431
    with socket.create_connection(("127.0.0.1", port)):
        await _until(lambda: server.stats()["handshakes_refused"]["timeout"] == 1)
    refused = server.stats()["handshakes_refused"]
    assert refused == {**dict.fromkeys(REASONS, 0), "not_found": 1, "origin": 1, "bad_request": 2, "timeout": 1}
    assert server.stats()["connections_total"] == 1, "refused handshakes are not connections"

    # Another two connections add up.
    await echo_ok(port, n=2)  # 4 messages each way: "hello 0 ", b"\0", "hello 1 é", 101 bytes
    await _until(lambda: server.stats()["connections_open"] == 0)
    stats = server.stats()
    assert stats["connections_total"] == 2
    assert (stats["messages_in"], stats["messages_out"]) == (7, 7)
    extra = len(b"hello 0 ") + 1 + len("hello 1 é".encode()) + 101
    assert (stats["bytes_in"], stats["bytes_out"]) == (1023 + extra, 1023 + extra)


async def test_shutting_down_refusal_is_counted():
    async def lingering(ws):
        await ws.accept()
        async for _ in ws:
            pass
        await asyncio.sleep(0.5)  # keeps the server in its shutdown phase

    server = await ferrosocket.serve({"/slow": lingering}, "127.0.0.1", 0, config=fast_config(shutdown_timeout=2))
    try:
        client = await connect(f"ws://127.0.0.1:{server.port}/slow", open_timeout=TIMEOUT, ping_interval=None)
        # An upgrade whose head is complete only after close() started.
        raw = await RawClient.connect(server.port)
        head = request_bytes(server.port, "/slow")
        await raw.send(head[:-2])
        await _until(lambda: server.connections == 2)
        server.close()
        await raw.send(head[-2:])
        response = await raw.read_response()
        raw.close()
        assert response.status == 503
        assert server.stats()["handshakes_refused"]["shutting_down"] == 1
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
        assert client.close_code == 1001
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_plain_http_to_a_websocket_route_is_counted_and_logged(serve, caplog):
    caplog.set_level(logging.INFO, logger="ferrosocket")
    server = await serve({"/echo": echo})
    response, _ = await raw_request(server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 426
    await asyncio.sleep(0.2)
    assert server.stats()["handshakes_refused"]["plain_http"] == 1
    assert any("HTTP 426" in m for m in _messages(caplog))
