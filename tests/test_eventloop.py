"""The engine on the loop's thread: `ferrosocket.EventLoop` and its selector.

Which mode runs when (the rules of README's "Where the engine runs"), that
the selector keeps `selectors.BaseSelector`'s contract for asyncio's other
users of the loop (pipes, subprocesses, executors, `call_soon_threadsafe`,
signals), and that a handler blocking the loop delays the engine but
deadlocks nothing. Tests that need a `ferrosocket.EventLoop` make one, so
they run the same in both FERROSOCKET_BRIDGE modes of the suite.
"""

from __future__ import annotations

import asyncio
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import ferrosocket
import pytest
import websockets
from ferrosocket import WebSocket
from support import BRIDGE, TIMEOUT, echo, fast_config, url

ROOT = Path(__file__).resolve().parent.parent


def on_event_loop(coro_fn):  # type: ignore[no-untyped-def]
    """Run `coro_fn()` on a fresh `ferrosocket.EventLoop` (in a thread: the
    test's own loop is running) and return its result."""
    result: list[object] = []

    def target() -> None:
        with asyncio.Runner(loop_factory=ferrosocket.new_event_loop) as runner:
            result.append(runner.run(coro_fn()))

    worker = threading.Thread(target=target)
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    assert result, "the coroutine raised (see the thread's traceback)"
    return result[0]


async def test_serve_on_the_suites_loop_runs_in_the_suites_mode(serve):
    server = await serve(echo)
    assert server.on_loop == (BRIDGE == "loop")
    async with websockets.connect(url(server)) as client:
        await client.send("hello")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "hello"


async def test_threads_selects_io_threads_on_any_loop(serve):
    server = await serve(echo, fast_config(threads=1))
    assert not server.on_loop
    async with websockets.connect(url(server)) as client:
        await client.send(b"\x00\x01")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"\x00\x01"


def test_a_stock_loop_keeps_io_threads_and_ferrosockets_loop_runs_on_it():
    async def mode() -> tuple[bool, str]:
        async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as server:
            async with websockets.connect(url(server)) as client:
                await client.send("x")
                return server.on_loop, await asyncio.wait_for(client.recv(), TIMEOUT)

    assert asyncio.run(mode()) == (False, "x")
    on_loop, echoed = on_event_loop(mode)
    assert echoed == "x"
    assert on_loop == (BRIDGE == "loop")


async def test_blocking_handler_stalls_then_every_connection_resumes(serve):
    """time.sleep() in a handler blocks the engine too in loop mode; once it
    returns, the blocked connection and the others carry on."""

    async def sleepy(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            if message == "block":
                time.sleep(0.5)
            await ws.send_text(message)

    server = await serve(sleepy)
    async with websockets.connect(url(server)) as a, websockets.connect(url(server)) as b:
        await a.send("block")
        await b.send("during")
        assert await asyncio.wait_for(a.recv(), TIMEOUT) == "block"
        assert await asyncio.wait_for(b.recv(), TIMEOUT) == "during"
        for client in (a, b):
            for i in range(20):
                await client.send(f"after {i}")
                assert await asyncio.wait_for(client.recv(), TIMEOUT) == f"after {i}"


async def test_other_descriptors_subprocesses_and_threads_share_the_loop(serve):
    server = await serve(echo)
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    left.setblocking(False)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    loop.add_reader(left, lambda: got.put_nowait(left.recv(100)))
    try:
        async with websockets.connect(url(server)) as client:
            right.send(b"driver data")
            await client.send("ws data")
            assert await asyncio.wait_for(got.get(), TIMEOUT) == b"driver data"
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "ws data"
            # A thread's call_soon_threadsafe wakes the loop while it waits.
            woken = loop.create_future()
            threading.Timer(0.05, lambda: loop.call_soon_threadsafe(woken.set_result, "woken")).start()
            assert await asyncio.wait_for(woken, TIMEOUT) == "woken"
            assert await loop.run_in_executor(None, sum, [1, 2, 3]) == 6
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "print(input().upper())", stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(proc.communicate(b"piped\n"), TIMEOUT)
            assert (out, proc.returncode) == (b"PIPED\n", 0)
            await client.send("still echoing")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "still echoing"
    finally:
        loop.remove_reader(left)
        left.close()
        right.close()


async def test_two_servers_on_one_loop(serve):
    first, second = await serve(echo), await serve(echo)
    async with websockets.connect(url(first)) as a, websockets.connect(url(second)) as b:
        for i in range(10):
            await a.send(f"a{i}")
            await b.send(f"b{i}")
            assert await asyncio.wait_for(a.recv(), TIMEOUT) == f"a{i}"
            assert await asyncio.wait_for(b.recv(), TIMEOUT) == f"b{i}"


def test_selector_keeps_the_base_selector_contract():
    selector = ferrosocket._native.Selector()
    left, right = socket.socketpair()
    try:
        key = selector.register(left, selectors.EVENT_READ, "data")
        assert (key.fileobj, key.fd, key.events, key.data) == (left, left.fileno(), selectors.EVENT_READ, "data")
        with pytest.raises(KeyError):
            selector.register(left.fileno(), selectors.EVENT_READ)
        with pytest.raises(ValueError):
            selector.register(right, 0)
        with pytest.raises(ValueError):
            selector.register(-1, selectors.EVENT_READ)
        assert selector.get_key(left) == key
        assert dict(selector.get_map()) == {left.fileno(): key}
        assert selector.select(0) == []
        right.send(b"x")
        assert selector.select(TIMEOUT) == [(key, selectors.EVENT_READ)]
        # Level-triggered: still ready until read.
        assert selector.select(0) == [(key, selectors.EVENT_READ)]
        left.recv(1)
        assert selector.select(0) == []
        both = selector.modify(left, selectors.EVENT_READ | selectors.EVENT_WRITE, "both")
        assert both.data == "both"
        assert selector.select(TIMEOUT) == [(both, selectors.EVENT_WRITE)]
        assert selector.unregister(left) == both
        with pytest.raises(KeyError):
            selector.get_key(left)
        with pytest.raises(KeyError):
            selector.unregister(left)
        assert selector.select(0.01) == []
    finally:
        selector.close()
        left.close()
        right.close()
    assert selector.get_map() is None
    with pytest.raises(RuntimeError, match="closed"):
        selector.select(0)


def test_loop_factory_for_asyncio_runner():
    async def main() -> str:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ferrosocket.EventLoop)
        async with ferrosocket.serve(echo, "127.0.0.1", 0, config=fast_config()) as server:
            async with websockets.connect(url(server)) as client:
                await client.send("via runner")
                return await asyncio.wait_for(client.recv(), TIMEOUT)

    assert on_event_loop(main) == "via runner"


SIGINT_SCRIPT = """
import asyncio, faulthandler, ferrosocket, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True)  # where it waits, if it hangs
# As started from a terminal: a test run started in the background (`cmd &`
# in a shell without job control) passes SIGINT on ignored, and Python then
# installs no KeyboardInterrupt handler for asyncio.Runner to build on.
signal.signal(signal.SIGINT, signal.default_int_handler)
async def main():
    async with ferrosocket.serve(lambda ws: ws.accept(), "127.0.0.1", 0):
        print("ready", flush=True)
        await asyncio.sleep(3600)
try:
    with asyncio.Runner(loop_factory=ferrosocket.new_event_loop) as runner:
        runner.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""


def test_ctrl_c_interrupts_a_loop_waiting_in_the_engine():
    """No add_signal_handler here: SIGINT must still end the engine's wait."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        try:
            returncode = proc.wait(TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            # Still running: have it print every thread's stack, then fail with it.
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            proc.kill()
            _, stderr = proc.communicate()
            pytest.fail(f"SIGINT did not end the process; its stacks:\n{stderr}")
        assert returncode == 3, proc.stderr.read() if proc.stderr else ""
        assert proc.stdout.read() == "interrupted\n"
    finally:
        proc.kill()
        proc.wait()
