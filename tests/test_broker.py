"""Topics shared between server processes through a broker: a real
redis-server (started per test, see brokersupport.py) or a ferrosocket.Bus
hub, and each ferrosocket server in its own process (the CLI running
tests/broker_app.py), so every message crosses a real process boundary.

Exactly-once is checked with a sentinel: after the counted messages every
receiver's next message must be the sentinel, so a duplicate would show.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import ferrosocket
import pytest
import rawws
import trustme
from brokersupport import RedisServer, broker_state, server_stats, until, until_async
from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).parent
TIMEOUT = 10.0


async def start_server(cli, broker: str, *extra: str):
    return await cli("broker_app:app", "--broker", broker, "--no-access-log", *extra, cwd=HERE)


async def room(port: int, **kwargs) -> ClientConnection:
    return await connect(f"ws://127.0.0.1:{port}/room", max_size=None, **kwargs)


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def expect_in_order(publisher: ClientConnection, readers: list[ClientConnection], count: int) -> None:
    """`publisher` sends `count` messages; each reader gets them all, in
    order; then a sentinel from the last reader arrives next everywhere."""
    want = [f"m{i}" if i % 3 else f"m{i}".encode() for i in range(count)]
    for message in want:
        await publisher.send(message)
    for reader in readers:
        assert [await recv(reader) for _ in want] == want
    sentinel, others = readers[-1], readers[:-1]
    await sentinel.send("end")
    for reader in [publisher, *others]:
        assert await recv(reader) == "end"  # nothing twice, nothing of its own


async def test_two_servers_share_redis_in_order_exactly_once(cli, redis):
    broker = await redis()
    a = await start_server(cli, broker.url())
    b = await start_server(cli, broker.url())
    async with await room(a.port) as a1, await room(a.port) as a2, await room(b.port) as b1, await room(b.port) as b2:
        await until_async(lambda: _numsub(broker, 2), what="both servers subscribed on Redis")
        await expect_in_order(a1, [a2, b1, b2], 300)
        await expect_in_order(b2, [b1, a1, a2], 50)
    stats_a, stats_b = await server_stats(a.port), await server_stats(b.port)
    assert stats_a["broker"]["state"] == "connected"
    assert stats_a["broker"]["published"] == 301 and stats_a["broker"]["received"] == 51
    assert stats_b["broker"]["received"] == 301
    assert stats_a["broker"]["unsent"] == stats_a["broker"]["dropped"] == 0
    # The last subscriber gone, each server unsubscribes its channel.
    await until_async(lambda: _numsub(broker, 0), what="channel unsubscribed")


async def _numsub(broker: RedisServer, n: int) -> bool:
    return await broker.subscribers("ferrosocket:room") == n


async def test_redis_restart_resumes_without_reconnecting_clients(cli, redis):
    broker = await redis()
    a = await start_server(cli, broker.url())
    b = await start_server(cli, broker.url())
    async with await room(a.port) as a1, await room(a.port) as a2, await room(b.port) as b1:
        await until_async(lambda: _numsub(broker, 2), what="both servers subscribed")
        await expect_in_order(a1, [a2, b1], 10)
        await broker.stop()
        # Local delivery goes on while Redis is gone; what could not be sent is counted.
        i = 0

        async def lost_counted() -> bool:
            nonlocal i
            await a1.send(f"lost{i}")
            assert await recv(a2) == f"lost{i}"
            i += 1
            return (await server_stats(a.port))["broker"]["unsent"] > 0

        await until_async(lost_counted, what="unsent publishes counted")
        await broker.start()
        j = 0

        async def probe_arrives() -> bool:
            nonlocal j
            await a1.send(f"probe{j}")
            assert await recv(a2) == f"probe{j}"
            j += 1
            try:
                message = await asyncio.wait_for(b1.recv(), 0.2)
            except TimeoutError:
                return False
            assert isinstance(message, str) and message.startswith("probe"), message
            return True

        await until_async(probe_arrives, 30, "delivery across servers after the restart")
        for k in range(20):
            await a1.send(f"after{k}")
        seen: list[str | bytes] = []
        while len(seen) < 20:  # probes still in flight come first, then nothing but these
            message = await recv(b1)
            if seen or not str(message).startswith("probe"):
                seen.append(message)
        assert seen == [f"after{k}" for k in range(20)]
    stats = await server_stats(a.port)
    assert stats["broker"]["reconnects"] >= 1 and stats["broker"]["state"] == "connected"


async def test_redis_down_at_start_up_then_up(cli, redis):
    secret = "start-up-pw-4711"
    broker = RedisServer(port=_free_port(), password=secret)
    a = await start_server(cli, broker.url(), "--log-level", "info")
    async with await room(a.port) as a1:
        assert (await server_stats(a.port))["broker"]["state"] in ("connecting", "disconnected")
        await broker.start()
        await until_async(lambda: _is_connected(a.port), what="connected once Redis is up")
        await until_async(lambda: _numsub(broker, 1), what="subscribed after connecting")
        # A message published on the channel by another Redis client arrives.
        assert await broker.command("PUBLISH", "ferrosocket:room", "from redis-cli") == 1
        assert await recv(a1) == "from redis-cli"
        stats = await server_stats(a.port)
    output = await a.stop_and_read()
    await broker.stop()
    assert "unreachable" in output and "connected" in output, output
    assert secret not in output and secret not in str(stats)
    assert ":***@" in output and ":***@" in stats["broker"]["url"]


def _free_port() -> int:
    from clisupport import free_port

    return free_port()


async def _is_connected(port: int) -> bool:
    return await broker_state(port) == "connected"


async def test_password_protected_redis_and_a_wrong_password(cli, redis):
    secret = "pw-s3cr3t-0815"
    broker = await redis(password=secret)
    a = await start_server(cli, broker.url(), "--log-level", "info")
    b = await start_server(cli, broker.url(), "--log-level", "info")
    wrong = await start_server(cli, broker.url(password="wr0ng-pw-99"), "--log-level", "info")
    async with await room(a.port) as a1, await room(b.port) as b1:
        await until_async(lambda: _numsub(broker, 2), what="both servers authenticated and subscribed")
        await expect_in_order(a1, [b1], 20)
        stats = [await server_stats(s.port) for s in (a, b, wrong)]
    assert stats[2]["broker"]["state"] != "connected"
    outputs = [await s.stop_and_read() for s in (a, b, wrong)]
    everything = "".join(outputs) + str(stats)
    assert secret not in everything and "wr0ng-pw-99" not in everything
    assert "unreachable" in outputs[2] and ":***@" in outputs[2], outputs[2]
    assert all(s["broker"]["url"] == f"redis://:***@127.0.0.1:{broker.port}/0" for s in stats)


async def test_rediss_with_a_password(cli, redis, tmp_path, monkeypatch):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = [str(tmp_path / name) for name in ("cert.pem", "key.pem", "ca.pem")]
    cert.cert_chain_pems[0].write_to_path(files[0])
    cert.private_key_pem.write_to_path(files[1])
    ca.cert_pem.write_to_path(files[2])
    secret = "tls-pw-1234"
    broker = await redis(password=secret, tls=(files[0], files[1], files[2]))
    # The engine trusts the system's roots; SSL_CERT_FILE points them at the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", files[2])
    a = await start_server(cli, broker.url(), "--log-level", "info")
    b = await start_server(cli, broker.url(), "--log-level", "info")
    async with await room(a.port) as a1, await room(b.port) as b1:
        await until_async(lambda: _numsub(broker, 2), what="both servers subscribed over TLS")
        await expect_in_order(a1, [b1], 20)
        stats = await server_stats(a.port)
    assert stats["broker"]["url"] == f"rediss://:***@127.0.0.1:{broker.port}/0"
    outputs = [await s.stop_and_read() for s in (a, b)]
    assert all(secret not in out for out in outputs)


async def test_local_bus_between_two_processes(cli, tmp_path):
    path = str(tmp_path / "bus.sock")
    with ferrosocket.Bus(path) as bus:
        a = await start_server(cli, bus.url)
        b = await start_server(cli, bus.url)
        async with await room(a.port) as a1, await room(a.port) as a2, await room(b.port) as b1:
            await until(lambda: bus.stats()["subscriptions"] == 2, what="both servers subscribed on the bus")
            await expect_in_order(a1, [a2, b1], 300)
            await expect_in_order(b1, [a1, a2], 30)
        await until(lambda: bus.stats()["subscriptions"] == 0, what="unsubscribed after the last left")
        stats = bus.stats()
        assert stats["clients"] == 2 and stats["dropped"] == 0
        assert stats["published"] == stats["forwarded"] == 332
    assert not os.path.exists(path)


async def test_slow_subscriber_on_another_server_does_not_stall_the_rest(cli, redis):
    broker = await redis()
    a = await start_server(cli, broker.url())
    b = await start_server(cli, broker.url(), "--backpressure-limit", "262144", "--write-timeout", "60")
    stalled = await rawws.RawClient.connect(b.port, rcvbuf=4096)
    await stalled.handshake("/room")
    try:
        async with await room(a.port) as publisher, await room(b.port) as reader:
            await until_async(lambda: _numsub(broker, 2), what="both servers subscribed")
            await until_async(lambda: _subscriptions(b.port, 2), what="both subscribers on b")
            count, payload = 1500, "x" * 4096  # 6 MB: far past the limit and the socket buffers
            got: list[str] = []
            for i in range(count):
                await publisher.send(f"{i}:{payload}")
                if i % 16 == 15:
                    while len(got) <= i - 8:
                        got.append(str(await recv(reader)))
            while len(got) < count:
                got.append(str(await recv(reader)))
            assert [m.split(":", 1)[0] for m in got] == [str(i) for i in range(count)]
            stats = await server_stats(b.port)
            assert stats["publish_dropped"] > 0 and stats["broker"]["received"] == count
    finally:
        stalled.close()


async def _subscriptions(port: int, n: int) -> bool:
    return (await server_stats(port))["subscriptions"] == n


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:6379", "must start with redis://"),
        ("redis://:hunter2@127.0.0.1:notaport/0", "port"),
        ("ferrosocket+unix://relative.sock", "absolute"),
    ],
)
def test_bad_broker_urls_fail_clearly_without_the_password(url, why):
    with pytest.raises(ValueError, match=why) as info:
        ferrosocket.serve(lambda ws: None, broker=url)  # type: ignore[arg-type, return-value]
    assert "hunter2" not in str(info.value)
    from clisupport import run_cli

    result = run_cli("--broker", url)
    assert result.returncode == 2 and why in result.stderr and "hunter2" not in result.stderr
