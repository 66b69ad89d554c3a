"""Autobahn client-suite driver for the Python client (``ferrosocket.connect``).

Run against ``kosoku --mode fuzzingserver`` (scripts/conformance.py does)::

    python scripts/autobahn_client.py ws://127.0.0.1:9001 [agent] [parallel]

``parallel`` cases (default 1) run at once, as in the Rust driver, but each
in its own process (see ``main``).

Keepalive is off, the size limit is raised past the suite's largest
message (16 MiB), and the permessage-deflate offer adds
``client_no_context_takeover`` (the offer Autobahn's own client testee makes,
which the 13.x cases need), as for the Rust driver
(rust/server/examples/autobahn_client.rs, whose docs say why).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
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


def run_case(base: str, agent: str, case: int) -> str | None:
    try:
        asyncio.run(echo_case(f"{base}/runCase?case={case}&agent={agent}"))
    except Exception as exc:  # a failed case must not stop the run
        return f"case {case}: {exc!r}"
    return None


async def case_count(base: str) -> int:
    async with ferrosocket.connect(f"{base}/getCaseCount", **OPTIONS) as ws:
        return int(await ws.receive_text())


async def update_reports(base: str, agent: str) -> None:
    async with ferrosocket.connect(f"{base}/updateReports?agent={agent}", **OPTIONS) as ws:
        await ws.wait_closed()


def main(base: str, agent: str, parallel: int) -> None:
    count = asyncio.run(case_count(base))
    # Parallel cases run in separate processes (spawned: no fork of a process
    # that has engine threads), each case on its own event loop: in one
    # process a short-timeout case (12.3.1: 1,000 round trips in 60 s) would
    # queue on the one loop behind the 128 KiB messages of its neighbours.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(1, parallel), mp_context=context) as pool:
        cases = range(1, count + 1)
        for error in pool.map(run_case, [base] * count, [agent] * count, cases):
            if error:
                print(error, file=sys.stderr)
    asyncio.run(update_reports(base, agent))
    print(f"ran {count} cases")


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9001"
    agent = sys.argv[2] if len(sys.argv) > 2 else "ferrosocket-python"
    main(base, agent, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
