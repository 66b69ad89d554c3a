"""wss:// (issue 6, item 5) with certificates made in the test by trustme:
a client trusting the test CA connects and echoes (ALPN http/1.1); a plain
ws:// client or a silent TCP client on the TLS port fails without disturbing
the server."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import ferrosocket
import pytest
import trustme
import websockets
from ferrosocket import WebSocketDisconnect
from rawws import upgrade_request
from relsupport import TIMEOUT, echo_ok
from support import Outcome, echo, fast_config
from websockets.asyncio.client import connect

# Short, for the silent-client test, yet long enough for a real TLS handshake on
# a busy machine (the echo tests share this server).
HANDSHAKE_TIMEOUT = 1.5


@pytest.fixture(params=["ecdsa", "rsa"])
def ca(request) -> trustme.CA:
    key_type = trustme.KeyType.ECDSA if request.param == "ecdsa" else trustme.KeyType.RSA
    return trustme.CA(key_type=key_type)


@pytest.fixture
def tls_files(tmp_path, ca) -> tuple[str, str]:
    """(certificate chain, private key) PEM files for localhost and 127.0.0.1."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain = tmp_path / "chain.pem"
    key = tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return str(chain), str(key)


@pytest.fixture
async def tls_server(tls_files):
    chain, key = tls_files
    urls: list[str] = []

    async def handler(ws):
        urls.append(str(ws.url))
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    config = fast_config(handshake_timeout=HANDSHAKE_TIMEOUT)
    async with ferrosocket.serve(handler, "127.0.0.1", 0, config=config, ssl_certfile=chain, ssl_keyfile=key) as server:
        server.urls = urls  # type: ignore[attr-defined]
        yield server


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def test_wss_client_trusting_the_ca_echoes(tls_server, ca):
    assert tls_server.tls
    ctx = client_context(ca)
    for host in ("localhost", "127.0.0.1"):
        uri = f"wss://{host}:{tls_server.port}/secure"
        async with connect(uri, ssl=ctx, open_timeout=TIMEOUT, ping_interval=None) as client:
            ssl_object = client.transport.get_extra_info("ssl_object")
            assert ssl_object.selected_alpn_protocol() == "http/1.1"
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            for size in (1, 125, 126, 70_000, 1_000_000):
                data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
                await client.send(data)
                assert await asyncio.wait_for(client.recv(), TIMEOUT) == data
            await client.send("é" * 1000)
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "é" * 1000
    assert tls_server.urls[0].startswith("wss://")
    await echo_ok(tls_server.port, uri=f"wss://localhost:{tls_server.port}/", ssl=ctx)


async def test_client_not_trusting_the_ca_fails(tls_server):
    other = trustme.CA()
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(f"wss://localhost:{tls_server.port}/", ssl=client_context(other), open_timeout=TIMEOUT)


async def test_plain_ws_client_on_the_tls_port_fails_and_server_keeps_serving(tls_server, ca):
    with pytest.raises((websockets.exceptions.InvalidMessage, ConnectionError, EOFError, OSError)):
        await connect(f"ws://127.0.0.1:{tls_server.port}/", open_timeout=TIMEOUT, ping_interval=None)

    async def refused() -> None:
        while tls_server.stats()["handshakes_refused"]["tls"] < 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(refused(), TIMEOUT)
    assert tls_server.stats()["connections_total"] == 0
    await echo_ok(tls_server.port, uri=f"wss://localhost:{tls_server.port}/", ssl=client_context(ca))


async def test_silent_tcp_client_on_the_tls_port_is_dropped_after_handshake_timeout(tls_server, ca):
    sock = socket.create_connection(("127.0.0.1", tls_server.port))
    sock.setblocking(False)
    try:
        started = time.monotonic()
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1024), HANDSHAKE_TIMEOUT + 2)
        assert data == b""
        assert time.monotonic() - started >= HANDSHAKE_TIMEOUT - 0.1
    finally:
        sock.close()

    # The close reaches the client before the refusal is counted (with the
    # engine on an I/O thread, on another thread): wait for the count.
    async def counted() -> None:
        while tls_server.stats()["handshakes_refused"]["timeout"] < 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(counted(), TIMEOUT)
    assert tls_server.stats()["handshakes_refused"]["timeout"] == 1
    await echo_ok(tls_server.port, uri=f"wss://localhost:{tls_server.port}/", ssl=client_context(ca))


HIGH, CHUNK = 64 * 1024, 64 * 1024


async def _tls_never_reading_peer(tls_files, ca, write_timeout: float, close_timeout: float):
    """A handler sending 64 KiB messages over wss:// to a client that
    completed the upgrade and then stopped reading (ping_interval=None, so
    only write_timeout can notice). Returns (server, progress, outcome)."""
    chain, key = tls_files
    progress = {"sent": 0, "max_buffered": 0, "ws": None}

    async def firehose(ws):
        progress["ws"] = ws
        await ws.accept()
        try:
            while True:
                await ws.send_bytes(bytes(CHUNK))
                progress["sent"] += 1
                progress["max_buffered"] = max(progress["max_buffered"], ws.buffered_amount)
        except WebSocketDisconnect as exc:
            return exc.code, time.monotonic()

    outcome = Outcome(firehose)
    config = fast_config(
        write_high_water=HIGH,
        write_low_water=16 * 1024,
        write_timeout=write_timeout,
        close_timeout=close_timeout,
        ping_interval=None,
    )
    server = await ferrosocket.serve(
        {"/fire": outcome, "/echo": echo}, "127.0.0.1", 0, config=config, ssl_certfile=chain, ssl_keyfile=key
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock, ssl=client_context(ca), server_hostname="localhost")
    writer.write(upgrade_request(server.port, "/fire")[0])
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101 ")
    writer.transport.pause_reading()  # never read again
    return server, progress, outcome, writer


@pytest.mark.parametrize("ca", ["ecdsa"], indirect=True)
async def test_wss_peer_that_never_reads_blocks_sends_and_others_are_served(tls_files, ca):
    server, progress, outcome, writer = await _tls_never_reading_peer(tls_files, ca, 30.0, 1.0)
    try:
        last = -1
        while progress["sent"] != last:  # until the handler's send is pending
            last = progress["sent"]
            await asyncio.sleep(0.3)
        assert not outcome.future.done()
        assert progress["max_buffered"] <= HIGH + CHUNK + 64, progress
        assert progress["ws"].buffered_amount <= HIGH + CHUNK + 64
        await echo_ok(server.port, uri=f"wss://localhost:{server.port}/echo", ssl=client_context(ca))
    finally:
        writer.transport.abort()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("ca", ["ecdsa"], indirect=True)
async def test_wss_peer_that_never_reads_is_dropped_with_1008_after_write_timeout(tls_files, ca):
    write_timeout, close_timeout = 1.0, 1.0
    server, progress, outcome, writer = await _tls_never_reading_peer(tls_files, ca, write_timeout, close_timeout)
    try:
        code, _ = await outcome.result(timeout=write_timeout + close_timeout + 3)
        assert code == 1008
    finally:
        writer.transport.abort()
        server.close()
        await server.wait_closed()
