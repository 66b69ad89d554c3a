"""WebSocketConfig settings are enforced: HTTP limits, connection limit,
frame limit, keepalive, idle and write timeouts, allowed origins."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re

import pytest
from ferrosocket import Close, WebSocketDisconnect
from rawws import BINARY, CONT, PING, PONG, TEXT, frame
from support import TIMEOUT, Outcome, echo, fast_config, url
from websockets.asyncio.client import connect


async def test_max_connections_refuses_with_503(serve, raw):
    server = await serve(echo, fast_config(max_connections=2))
    async with connect(url(server)), connect(url(server)):
        client = await raw(server.port)
        await client.request_upgrade()
        assert (await client.read_response()).status == 503
        client.close()
    # Once they are gone there is room again.
    for _ in range(100):
        if server.connections == 0:
            break
        await asyncio.sleep(0.02)
    async with connect(url(server)) as again:
        await again.send("room")
        assert await asyncio.wait_for(again.recv(), TIMEOUT) == "room"


async def test_long_request_line_gets_431(serve, raw):
    server = await serve(echo, fast_config(max_request_line=200))
    client = await raw(server.port)
    await client.request_upgrade("/" + "a" * 300)
    assert (await client.read_response()).status == 431


async def test_too_many_headers_get_431(serve, raw):
    server = await serve(echo, fast_config(max_headers=8))
    client = await raw(server.port)
    await client.request_upgrade(extra=[(f"X-H{i}", "v") for i in range(10)])
    assert (await client.read_response()).status == 431


async def test_max_frame_size_limits_frames_not_messages(serve, raw):
    server = await serve(echo, fast_config(max_frame_size=100, max_message_size=1000))
    ok = await raw(server.port)
    await ok.handshake()
    await ok.send(frame(TEXT, b"a" * 80, fin=False) + frame(CONT, b"b" * 80, fin=False) + frame(CONT, b"c" * 80))
    assert await ok.recv_message() == (TEXT, b"a" * 80 + b"b" * 80 + b"c" * 80)
    too_big = await raw(server.port)
    await too_big.handshake()
    await too_big.send_frame(BINARY, b"x" * 101)
    assert (await too_big.expect_close())[0] == 1009


async def test_keepalive_pings_and_pongs_keep_the_connection(serve, raw):
    server = await serve(echo, fast_config(ping_interval=0.1, ping_timeout=2.0))
    client = await raw(server.port)
    await client.handshake()
    for _ in range(2):
        ping = await client.recv_frame()
        assert ping.opcode == PING
        await client.send_frame(PONG, ping.payload)
    await client.send_text("still here")
    assert await client.recv_message() == (TEXT, b"still here")


async def test_unanswered_keepalive_ping_closes_with_1011(serve, raw):
    async def handler(ws):
        await ws.accept()
        return await ws.receive()

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config(ping_interval=0.1, ping_timeout=0.2))
    client = await raw(server.port)
    await client.handshake()
    code, _ = await client.expect_close()  # skipping the pings, never answering
    assert code == 1011
    message = await outcome.result()
    assert isinstance(message, Close) and message.code == 1011


async def test_idle_timeout_closes_with_1001(serve, raw):
    server = await serve(echo, fast_config(idle_timeout=0.3, ping_interval=None))
    client = await raw(server.port)
    await client.handshake()
    await client.send_text("one")
    assert await client.recv_message() == (TEXT, b"one")
    assert (await client.expect_close())[0] == 1001


async def test_write_timeout_closes_a_peer_that_does_not_read_with_1008(serve, raw, held):
    config = fast_config(write_timeout=0.3, ping_interval=None, shutdown_timeout=0.1)
    server = await serve(held, config)
    client = await raw(server.port, rcvbuf=4096)
    await client.request_upgrade()
    ws = await held.next()
    await ws.accept()
    chunk = os.urandom(64 * 1024)
    sender = asyncio.ensure_future(fill(ws, chunk))
    for _ in range(500):
        if ws.state == "CLOSED":
            break
        await asyncio.sleep(0.01)
    assert (ws.state, ws.close_code) == ("CLOSED", 1008)
    sender.cancel()


async def fill(ws, chunk: bytes) -> None:
    for _ in range(2000):  # 128 MiB: far beyond any kernel buffer
        await ws.send_bytes(chunk)


async def test_write_timeout_releases_a_waiting_sender(serve, raw):
    async def handler(ws):
        await ws.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await fill(ws, os.urandom(64 * 1024))
        return info.value.code

    outcome = Outcome(handler)
    config = fast_config(write_timeout=0.3, close_timeout=20, ping_interval=None, shutdown_timeout=0.1)
    server = await serve(outcome, config)
    client = await raw(server.port, rcvbuf=4096)
    await client.handshake()
    # write_timeout is 0.3 s; 3 s is ten times that, far below close_timeout.
    assert await outcome.result(timeout=3) == 1008


ORIGINS = ("https://app.example.org", "https://*.example.com")


@pytest.mark.parametrize(
    ("origin", "require", "status"),
    [
        ("https://app.example.org", False, 101),
        ("https://a.example.com", False, 101),
        ("https://evil.example.net", False, 403),
        ("http://app.example.org", False, 403),
        (None, False, 101),
        (None, True, 403),
    ],
)
async def test_allowed_origins(serve, raw, origin, require, status):
    server = await serve(echo, fast_config(allowed_origins=ORIGINS, require_origin=require))
    client = await raw(server.port)
    await client.request_upgrade(extra=[("Origin", origin)] if origin else [])
    assert (await client.read_response_head()).status == status


async def test_unix_socket(tmp_path):
    import ferrosocket
    from websockets.asyncio.client import unix_connect

    path = str(tmp_path / "ws.sock")
    async with ferrosocket.serve(echo, unix=path, config=fast_config()):
        async with unix_connect(path, "ws://localhost/x") as client:
            await client.send("over unix")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "over unix"


def test_config_validation():
    import ferrosocket

    with pytest.raises(ValueError):
        ferrosocket.WebSocketConfig(write_low_water=10, write_high_water=5)
    with pytest.raises(ValueError):
        ferrosocket.WebSocketConfig(max_queue=0)
    with pytest.raises(ValueError):
        ferrosocket.WebSocketConfig(close_timeout=-1)
    with pytest.raises(ValueError):
        ferrosocket.WebSocketConfig(allowed_origins="https://a.example")
    assert ferrosocket.WebSocketConfig().max_message_size == 16 * 1024 * 1024


def test_every_field_default_comes_from_the_engine():
    import ferrosocket
    from ferrosocket import _native

    defaults = _native.config_defaults()
    fields = {f.name: f.default for f in dataclasses.fields(ferrosocket.WebSocketConfig)}
    assert fields == defaults


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"write_low_water": 10, "write_high_water": 5}, "write_low_water (10) must not exceed write_high_water (5)"),
        ({"max_queue": 0}, "max_queue must be at least 1"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"compression_window_bits": 16}, "compression_window_bits must be 8-15"),
        ({"compression_window_bits": 7}, "compression_window_bits must be 8-15"),
        ({"compression_level": 10}, "compression_level"),
        ({"compression_mem_level": 0}, "compression_mem_level"),
        ({"ping_interval": 0}, "ping_interval must be more than 0 seconds"),
        ({"close_timeout": -1}, "close_timeout must be a non-negative number of seconds"),
        ({"shutdown_timeout": float("nan")}, "shutdown_timeout"),
        ({"max_message_size": -1}, "max_message_size must be a non-negative integer"),
        ({"max_queue": True}, "max_queue must be a non-negative integer"),
        ({"max_queue": "64"}, "max_queue must be a non-negative integer"),
        ({"compression": 1}, "compression must be True or False"),
        ({"allowed_origins": "https://a.example"}, "allowed_origins must be None or a sequence"),
        ({"allowed_origins": [1]}, "allowed_origins must be None or a sequence"),
    ],
)
def test_bad_settings_raise_value_error_with_the_engine_message(kwargs, message):
    import ferrosocket

    with pytest.raises(ValueError, match=re.escape(message)):
        ferrosocket.WebSocketConfig(**kwargs)


@pytest.mark.parametrize("bits", [8, 9, 15])
def test_window_bits_8_to_15_are_accepted(bits):
    import ferrosocket

    assert ferrosocket.WebSocketConfig(compression_window_bits=bits).compression_window_bits == bits


def test_allowed_origins_are_kept_as_a_tuple():
    import ferrosocket

    config = ferrosocket.WebSocketConfig(allowed_origins=["https://a.example"])
    assert config.allowed_origins == ("https://a.example",)
    hash(config)


async def test_window_bits_8_is_announced_and_used(serve):
    server = await serve(echo, fast_config(compression_window_bits=8))
    async with connect(url(server), compression="deflate") as client:
        assert "server_max_window_bits=8" in client.response.headers["Sec-WebSocket-Extensions"]
        await client.send("abc" * 1000)
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "abc" * 1000
