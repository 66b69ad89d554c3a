"""Autobahn client-suite driver for the Python client (``ferrosocket.connect``).

Run against ``kosoku --mode fuzzingserver`` (scripts/conformance.py does)::

    python scripts/autobahn_client.py ws://127.0.0.1:9001 [agent] [parallel]

``parallel`` cases (default 1) run at once, as in the Rust driver.

Keepalive is off, the size limit is raised past the suite's largest
message (16 MiB), and the permessage-deflate offer adds
``client_no_context_takeover`` (the offer Autobahn's own client testee makes,
which the 13.x cases need), as for the Rust driver
(rust/server/examples/autobahn_client.rs, whose docs say why).
"""

from __future__ import annotations

import asyncio
import sys

import ferrosocket

OPTIONS = {
    "ping_interval": None,
    "ping_timeout": None,
    "max_size": 64 << 20,
    "compression": ferrosocket.DeflateOffer(client_no_context_takeover=True),
}


async def echo_case(url: str) -> None:
    async with ferrosocket.connect(url, **OPTIONS) as ws:
        async for message in ws:
            await ws.send(message)


async def main(base: str, agent: str, parallel: int) -> None:
    async with ferrosocket.connect(f"{base}/getCaseCount", **OPTIONS) as ws:
        count = int(await ws.receive_text())
    cases = iter(range(1, count + 1))

    async def worker() -> None:
        for case in cases:  # shared: each case is taken once
            try:
                await echo_case(f"{base}/runCase?case={case}&agent={agent}")
            except Exception as exc:  # a failed case must not stop the run
                print(f"case {case}: {exc!r}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(max(1, parallel))))
    async with ferrosocket.connect(f"{base}/updateReports?agent={agent}", **OPTIONS) as ws:
        await ws.wait_closed()
    print(f"ran {count} cases")


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9001"
    agent = sys.argv[2] if len(sys.argv) > 2 else "ferrosocket-python"
    asyncio.run(main(base, agent, int(sys.argv[3]) if len(sys.argv) > 3 else 1))
