"""Malformed input from raw sockets: the server fails the connection with the
RFC 6455 close code, refuses bad handshakes with the right HTTP status, and
one bad client does not disturb the others."""

from __future__ import annotations

import asyncio

import pytest
import rawws
from ferrosocket import Close
from rawws import BINARY, CLOSE, CONT, PING, TEXT, frame
from support import TIMEOUT, Outcome, echo, fast_config, url
from websockets.asyncio.client import connect

LIMIT = 1024  # max_message_size for these tests

VIOLATIONS = {
    "unmasked frame": ([frame(TEXT, b"hi", masked=False)], 1002),
    "invalid utf-8": ([frame(TEXT, b"ab\xff\xfe")], 1007),
    "utf-8 surrogate": ([frame(TEXT, b"\xed\xa0\x80")], 1007),
    "utf-8 truncated at end": ([frame(TEXT, b"a\xe2\x82")], 1007),
    # Fail fast: the bad byte is in a non-final fragment and no more follows.
    "invalid utf-8 in first fragment": ([frame(TEXT, b"ok\xc0\xaf", fin=False)], 1007),
    "reserved opcode 3": ([frame(0x3, b"")], 1002),
    "reserved control opcode 0xB": ([frame(0xB, b"")], 1002),
    "rsv1 without extension": ([frame(TEXT, b"x", rsv=4)], 1002),
    "fragmented ping": ([frame(PING, b"x", fin=False)], 1002),
    "ping over 125 bytes": ([frame(PING, b"x" * 126)], 1002),
    "continuation without start": ([frame(CONT, b"x")], 1002),
    "new message inside fragmented one": ([frame(TEXT, b"a", fin=False), frame(TEXT, b"b")], 1002),
    "close with 1-byte payload": ([frame(CLOSE, b"\x03")], 1002),
    "close code 1005": ([frame(CLOSE, rawws.close_payload(1005))], 1002),
    "close code 999": ([frame(CLOSE, rawws.close_payload(999))], 1002),
    "close code 5000": ([frame(CLOSE, rawws.close_payload(5000))], 1002),
    "message over the limit": ([frame(BINARY, b"x" * (LIMIT + 1))], 1009),
    "fragments over the limit": ([frame(TEXT, b"x" * 400, fin=False)] + [frame(CONT, b"x" * 400, fin=False)] * 2, 1009),
    # The declared length alone must be refused, before any payload arrives.
    "declared length of 1 GiB": ([frame(BINARY, b"", length=1 << 30)], 1009),
}


@pytest.mark.parametrize(("frames", "code"), list(VIOLATIONS.values()), ids=list(VIOLATIONS))
async def test_protocol_violation_fails_connection(serve, raw, frames, code):
    async def handler(ws):
        await ws.accept()
        while True:
            message = await ws.receive()
            if isinstance(message, Close):
                return message, ws.state

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config(max_message_size=LIMIT))
    client = await raw(server.port)
    await client.handshake()
    for data in frames:
        await client.send(data)
    received_code, _ = await client.expect_close()
    assert received_code == code
    assert await client.at_eof(), "the server kept the TCP connection open after failing it"
    message, state = await outcome.result()
    assert (message.code, state) == (code, "CLOSED")


async def test_close_with_invalid_utf8_reason(serve, raw):
    server = await serve(echo)
    client = await raw(server.port)
    await client.handshake()
    await client.send_frame(CLOSE, rawws.close_payload(1000, b"\xff"))
    code, _ = await client.expect_close()
    assert code in (1002, 1007)


async def test_message_at_the_limit_is_accepted(serve, raw):
    server = await serve(echo, fast_config(max_message_size=LIMIT))
    client = await raw(server.port)
    await client.handshake()
    await client.send_frame(BINARY, b"y" * LIMIT)
    assert await client.recv_message() == (BINARY, b"y" * LIMIT)


async def request_status(raw, port: int, request: bytes) -> rawws.Response:
    client = await raw(port)
    await client.send(request)
    return await client.read_response()


async def test_bad_version_gets_426_with_supported_version(serve, raw):
    server = await serve(echo)
    request, _ = rawws.upgrade_request(server.port, version="8")
    response = await request_status(raw, server.port, request)
    assert response.status == 426
    assert response.headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"omit": ("Sec-WebSocket-Key",)}, 400),
        ({"key": "dG9vIHNob3J0"}, 400),  # base64 of 9 bytes, not 16
        ({"key": "not base64!!not base64!!"}, 400),
        ({"omit": ("Host",)}, 400),
    ],
    ids=["missing key", "short key", "non-base64 key", "missing host"],
)
async def test_bad_handshake_gets_400(serve, raw, kwargs, status):
    server = await serve(echo)
    request, _ = rawws.upgrade_request(server.port, **kwargs)
    assert (await request_status(raw, server.port, request)).status == status


async def test_upgrade_with_post_is_refused(serve, raw):
    server = await serve(echo)
    request, _ = rawws.upgrade_request(server.port)
    response = await request_status(raw, server.port, request.replace(b"GET ", b"POST ", 1))
    assert response.status in (400, 405)


async def test_garbage_instead_of_http_gets_400(serve, raw):
    server = await serve(echo)
    assert (await request_status(raw, server.port, b"\x01\x02 garbage\r\n\r\n")).status == 400


async def test_oversized_headers_get_431(serve, raw):
    server = await serve(echo, fast_config(max_headers_size=4096))
    request, _ = rawws.upgrade_request(server.port, extra=[("X-Big", "a" * 8000)])
    assert (await request_status(raw, server.port, request)).status == 431


async def test_incomplete_handshake_times_out(serve, raw):
    server = await serve(echo, fast_config(handshake_timeout=0.2))
    client = await raw(server.port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert await client.at_eof(timeout=TIMEOUT)


async def test_bad_client_does_not_affect_another(serve, raw):
    server = await serve(echo)
    async with connect(url(server)) as good:
        await good.send("before")
        assert await asyncio.wait_for(good.recv(), TIMEOUT) == "before"
        bad = await raw(server.port)
        await bad.handshake()
        await bad.send(frame(TEXT, b"unmasked", masked=False))
        assert (await bad.expect_close())[0] == 1002
        garbage = await raw(server.port)
        await garbage.send(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert (await garbage.read_response()).status == 400
        await good.send("after")
        assert await asyncio.wait_for(good.recv(), TIMEOUT) == "after"


@pytest.mark.parametrize(
    ("bad", "code"),
    [(frame(TEXT, b"ab\xff\xfe"), 1007), (frame(0x3, b""), 1002), (frame(BINARY, b"x" * (LIMIT + 1)), 1009)],
    ids=["invalid utf-8", "reserved opcode", "over the limit"],
)
async def test_failure_behind_a_queued_message_keeps_its_code_when_the_handler_closes(serve, raw, bad, code):
    """RFC 6455 §7.1.7: the failure decides the code on the wire, even when the
    handler, which has not received "hello" yet, closes with 1000."""

    async def handler(ws):
        await ws.accept()
        while ws.close_code is None:  # the engine has decided the ending
            await asyncio.sleep(0.005)
        decided = ws.close_code
        await ws.close(1000)
        return decided

    outcome = Outcome(handler)
    server = await serve(outcome, fast_config(max_message_size=LIMIT))
    client = await raw(server.port)
    await client.handshake()
    await client.send(frame(TEXT, b"hello") + bad)
    received_code, _ = await client.expect_close()
    assert received_code == code
    assert await outcome.result() == code
