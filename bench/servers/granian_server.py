"""granian (Rust HTTP server, ASGI interface) + Starlette, websockets on.

Best settings for one core: one worker, a single-threaded runtime with one
thread, uvloop, no access log. granian has no per-message deflate. Its
worker is a child process; the harness sums the process tree's CPU.
``--task-impl asyncio`` (the default) measured cheaper than ``rust`` here:
22.9 vs 28-29 us of server CPU per message in rtt-100.
"""

import argparse
import os
import sys
from pathlib import Path

from _common import HOST
from granian import Granian
from granian.constants import Interfaces, Loops, RuntimeModes, TaskImpl

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--task-impl", choices=("asyncio", "rust"), default="asyncio")
    args = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    Granian(
        "starlette_app:app",
        address=HOST,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        runtime_mode=RuntimeModes.st,
        runtime_threads=1,
        loop=Loops.uvloop,
        task_impl=TaskImpl(args.task_impl),
        websockets=True,
        log_access=False,
        working_dir=Path(here),
    ).serve()
