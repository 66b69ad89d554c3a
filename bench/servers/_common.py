"""Shared bits of the peer servers: the command line and the event loop.

Every peer script takes ``--port`` (and ``--loop``), binds 127.0.0.1, and
serves an echo on every path plus a relay on ``/broadcast``. The harness
(bench/run.py) starts them pinned to one core; they print one line when
listening so a person running one by hand can see it is up.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any

HOST = "127.0.0.1"
# stream-1m sends 1 MiB messages; several peers default to a 1 MiB cap.
MAX_SIZE = 16 * 1024 * 1024


def parse_args(loops: tuple[str, ...] = ("uvloop", "asyncio")) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--loop", choices=loops, default=loops[0])
    return p.parse_args()


def run(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``main`` on uvloop (the peers' best setting) or plain asyncio."""
    try:
        if loop == "uvloop":
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    except KeyboardInterrupt:
        pass


def listening(name: str, port: int) -> None:
    print(f"{name} listening on {HOST}:{port}", flush=True)
