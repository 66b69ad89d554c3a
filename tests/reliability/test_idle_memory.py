"""Memory per idle connection: a server holding many connections that send
nothing keeps no read buffer for them and no room for futures they do not
use (the handshake's, TLS's, vectored writes', lingering's). The bound is
1.5x what ferrosocket measures (about 8 KiB per connection with a Python
handler coroutine each, bench/README.md's memory table) and below every
peer measured there; before the engine dropped those it was about 17 KiB."""

from __future__ import annotations

import asyncio

from relsupport import echo_ok, proc_server, raw_upgraded

N = 1000


async def test_an_idle_connection_costs_under_12_kib():
    async with proc_server() as server:
        await echo_ok(server.port)  # first-connection allocations out of the way
        memory = server.memory(f"{N} idle connections")
        limit = asyncio.Semaphore(100)

        async def one():
            async with limit:
                return await raw_upgraded(server.port, "/echo")

        clients = await asyncio.gather(*(one() for _ in range(N)))
        try:
            await asyncio.sleep(0.5)
            memory.stop()
            assert (await server.stats())["connections_open"] >= N
        finally:
            for c in clients:
                c.close()
        per_connection = (memory.after - memory.before) * 1024 / N
        print(f"{memory}: {per_connection:.1f} KiB per idle connection")
        assert per_connection < 12, f"{memory}: {per_connection:.1f} KiB per idle connection, bound 12"
        await echo_ok(server.port)
