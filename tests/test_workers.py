"""``--workers N``: a supervisor and real worker processes. Connections land
on every worker, a publish reaches subscribers on every worker (through the
local bus, or Redis with --broker), a worker killed with SIGKILL is
replaced while the others' connections stay up, SIGTERM closes every client with 1001 (or 1012) and
exits 0, a worker that hangs on shutdown is killed after the grace period,
and an app that cannot be imported fails once, cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ferrosocket
import pytest
import trustme
import websockets
from brokersupport import RedisServer, until_async
from clisupport import STARTUP, run_cli
from support import TIMEOUT
from websockets.asyncio.client import ClientConnection, connect, unix_connect

PID_APP = """
import asyncio
import os
import time


async def app(ws):
    await ws.accept()
    ws.subscribe("room")
    await ws.send_text(str(os.getpid()))
    async for message in ws:
        if message.startswith("pub:"):
            ws.publish("room", message[4:])  # to every subscriber but ws, on every worker
            continue
        if message == "hang":
            await ws.send_text("hanging")
            # One wait in the loop's selector, so that the reply is on the wire
            # in both bridge modes (on the loop's thread the engine only runs
            # there), then block this worker's loop: it cannot shut down.
            await asyncio.sleep(0.05)
            time.sleep(3600)
        await ws.send_text(message)
"""

# Imports in the supervisor (which checks the app) but not in a worker.
FAILS_IN_WORKERS = """
import sys

if sys.argv[0] == "-c":
    raise RuntimeError("this app cannot start in a worker")


async def app(ws):
    await ws.accept()
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "pidapp.py").write_text(PID_APP)
    (tmp_path / "workerfail.py").write_text(FAILS_IN_WORKERS)
    (tmp_path / "broken.py").write_text("import no_such_dependency_here\n")
    return tmp_path


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def open_on(port: int) -> tuple[ClientConnection, int]:
    """A connection and the pid of the worker that serves it."""
    ws = await connect(f"ws://127.0.0.1:{port}/")
    return ws, int(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def one_on_each(port: int, workers: int, exclude: set[int] = frozenset()) -> dict[int, ClientConnection]:
    """Open connections until `workers` different workers (not in `exclude`)
    serve one each; the others are closed."""
    held: dict[int, ClientConnection] = {}
    for _ in range(500):
        ws, pid = await open_on(port)
        if pid in held or pid in exclude:
            await ws.close()
        else:
            held[pid] = ws
        if len(held) == workers:
            return held
    pytest.fail(f"500 connections reached only the workers {sorted(held)}")


async def until_received(
    send: Callable[[], Awaitable[None]], receive: Callable[[], Awaitable[Any]], wanted: Callable[[Any], bool]
) -> Any:
    """Send, and again every half second, until `receive()` gives a wanted
    message (a subscription on another worker reaches the bus a little
    after the subscribe call)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    while loop.time() < deadline:
        await send()
        try:
            message = await asyncio.wait_for(receive(), 0.5)
        except asyncio.TimeoutError:
            continue
        if wanted(message):
            return message
    pytest.fail(f"nothing sent reached the other worker in {STARTUP} s")


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    return info.value.rcvd.code if info.value.rcvd else None


async def test_connections_land_on_every_worker_and_logs_name_them(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", "--log-level", "info", cwd=app_dir)
    held = await one_on_each(running.port, 2)
    assert len(held) == 2
    for pid, ws in held.items():
        assert pid != running.process.pid
        assert parent_of(pid) == running.process.pid
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still here"
        await ws.close()
    lines = (await running.stop_and_read()).strip().splitlines()
    ids = set()
    for line in lines:
        found = re.match(r"\S+ \S+ (INFO|WARNING|ERROR) ferrosocket(\.access)?\[(\d+)\]: ", line)
        assert found, line
        ids.add(found[3])
    assert ids == {"0", "1", "2"}, lines


async def test_a_killed_worker_is_replaced_and_the_other_keeps_its_connections(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", "--log-level", "info", cwd=app_dir)
    held = await one_on_each(running.port, 2)
    victim, survivor = list(held)
    os.kill(victim, signal.SIGKILL)
    assert await close_code(held[victim]) is None  # the process died: no close frame

    # A worker that is neither of the first two shows up, child of the supervisor.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    replacement = None
    while replacement is None and loop.time() < deadline:
        ws, pid = await open_on(running.port)
        await ws.close()
        if pid not in held:
            replacement = pid
    assert replacement is not None, "no new worker served a connection"
    assert parent_of(replacement) == running.process.pid

    ws = held[survivor]
    await ws.send("after the restart")
    assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "after the restart"
    await ws.close()
    output = await running.stop_and_read()
    assert f"(pid {victim}) killed by signal 9 (SIGKILL); restarting in" in output, output


async def test_a_publish_reaches_subscribers_on_every_worker_in_order(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", cwd=app_dir)
    (a, on_a), (b, on_b) = (await one_on_each(running.port, 2)).items()
    neighbour, pid = await open_on(running.port)
    while pid != a:  # a second subscriber on a's worker
        await neighbour.close()
        neighbour, pid = await open_on(running.port)
    for sender, receiver in ((on_a, on_b), (on_b, on_a)):
        # Until the other worker's subscription has reached the bus, a
        # publish may find no one there: probe until one arrives.
        await until_received(lambda s=sender: s.send("pub:probe"), receiver.recv, lambda m: m == "probe")
        for i in range(100):
            await sender.send(f"pub:{i}")
        await sender.send("pub:end")
        got = []
        while (message := await asyncio.wait_for(receiver.recv(), TIMEOUT)) != "end":
            if message != "probe":
                got.append(message)
        assert got == [str(i) for i in range(100)]
    # The neighbour on a's worker got b's publishes, and a's through a's worker.
    seen = set()
    while "end" not in seen or len(seen) < 102:
        seen.add(await asyncio.wait_for(neighbour.recv(), TIMEOUT))
    assert {str(i) for i in range(100)} <= seen
    for ws in (on_a, on_b, neighbour):
        await ws.close()
    assert await running.stop() == 0


async def test_with_a_redis_broker_each_worker_uses_redis_and_no_bus(cli, app_dir, redis):
    broker = await redis()
    running = await cli("pidapp:app", "--workers", "2", "--broker", broker.url(), "--log-level", "info", cwd=app_dir)
    (_, on_a), (_, on_b) = (await one_on_each(running.port, 2)).items()
    # Each worker subscribed its own connection to Redis: no bus in between.
    await until_async(lambda: _numsub(broker, 2), what="both workers subscribed in Redis")
    await until_received(lambda: on_a.send("pub:through redis"), on_b.recv, lambda m: m == "through redis")
    await until_received(lambda: on_b.send("pub:and back"), on_a.recv, lambda m: m == "and back")
    for ws in (on_a, on_b):
        await ws.close()
    output = await running.stop_and_read()
    assert "local bus" not in output and "ferrosocket+unix" not in output, output
    assert f"127.0.0.1:{broker.port}" in output, output


async def _numsub(broker: RedisServer, n: int) -> bool:
    return await broker.subscribers("ferrosocket:room") == n


async def test_demo_chat_between_tabs_on_different_workers(cli):
    running = await cli("--workers", "2")
    base = f"ws://127.0.0.1:{running.port}/chat"

    async def next_of(client: ClientConnection, kind: str) -> dict:
        while True:
            message = json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))
            if message["type"] == kind:
                return message

    tabs: dict[int, ClientConnection] = {}
    for i in range(500):
        tab = await connect(f"{base}?name=tab{i}")
        worker = (await next_of(tab, "stats"))["worker"]  # the panel names its worker
        if worker in tabs:
            await tab.close()
        else:
            tabs[worker] = tab
        if len(tabs) == 2:
            break
    assert sorted(tabs) == [1, 2]
    one, two = tabs[1], tabs[2]
    # Until worker 2's subscription has reached the bus.
    chat = await until_received(lambda: one.send("anyone on worker 2?"), lambda: next_of(two, "chat"), bool)
    assert chat["text"] == "anyone on worker 2?"
    await two.send("yes, here")
    while (await next_of(one, "chat"))["text"] != "yes, here":
        pass
    # Each tab's panel keeps counting its own worker only.
    assert (await next_of(one, "stats"))["worker"] == 1
    assert (await next_of(two, "stats"))["worker"] == 2
    for tab in tabs.values():
        await tab.close()
    assert await running.stop() == 0


async def replacement_of(running: Any, known: set[int]) -> int:
    """The pid of a worker not in `known`, once one serves a connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    while loop.time() < deadline:
        ws, pid = await open_on(running.port)
        await ws.close()
        if pid not in known:
            return pid
    pytest.fail("no new worker served a connection")


async def test_a_worker_that_keeps_dying_is_restarted_later_each_time(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", "--log-level", "info", cwd=app_dir)
    known = set(await one_on_each(running.port, 2))
    victim = min(known)
    for _ in range(2):  # the same slot dies twice: its first worker, then the replacement
        os.kill(victim, signal.SIGKILL)
        victim = await replacement_of(running, known)
        known.add(victim)
    output = await running.stop_and_read()
    delays = re.findall(r"killed by signal 9 \(SIGKILL\); restarting in (\d+\.\d) s", output)
    assert delays == ["0.5", "1.0"], output


async def test_workers_of_a_killed_supervisor_shut_down(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", cwd=app_dir)
    held = await one_on_each(running.port, 2)
    running.process.kill()
    codes = await asyncio.gather(*(close_code(ws) for ws in held.values()))
    assert codes == [1001, 1001]  # each worker saw its lifeline close and shut down
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP
    while any(Path(f"/proc/{pid}").exists() for pid in held) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in held)


async def test_workers_share_an_inherited_socket(app_dir):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "pidapp:app",
        "--workers",
        "2",
        "--fd",
        str(listener.fileno()),
        "--log-level",
        "warning",
        cwd=app_dir,
        pass_fds=(listener.fileno(),),
    )
    listener.close()
    try:
        held = await one_on_each(port, 2)
        assert all(parent_of(pid) == process.pid for pid in held)
        for ws in held.values():
            await ws.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 1001), (signal.SIGTERM, 1012), (signal.SIGINT, 1001)], ids=str
)
async def test_sigterm_closes_every_client_on_every_worker_and_exits_zero(cli, app_dir, sig, code):
    running = await cli("pidapp:app", "--workers", "2", "--shutdown-code", str(code), cwd=app_dir)
    held = await one_on_each(running.port, 2)
    running.process.send_signal(sig)
    codes = await asyncio.gather(*(close_code(ws) for ws in held.values()))
    assert codes == [code, code]
    returncode = await asyncio.wait_for(running.process.wait(), STARTUP)
    output = await running.output()
    assert returncode == 0, output
    assert "Traceback" not in output, output


async def test_a_worker_hanging_on_shutdown_is_killed_after_the_grace_period(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", "--shutdown-timeout", "1", cwd=app_dir)
    held = await one_on_each(running.port, 2)
    stuck, fine = list(held)
    await held[stuck].send("hang")
    assert await asyncio.wait_for(held[stuck].recv(), TIMEOUT) == "hanging"
    running.process.send_signal(signal.SIGTERM)
    assert await close_code(held[fine]) == 1001
    # shutdown_timeout (1 s) + the grace period (5 s), with room for a busy machine.
    returncode = await asyncio.wait_for(running.process.wait(), 60)
    output = await running.output()
    assert returncode == 0, output
    assert f"worker 1 (pid {stuck})" in output or f"worker 2 (pid {stuck})" in output, output
    assert "still running 6.0 s after SIGTERM: killed" in output, output
    assert not Path(f"/proc/{stuck}").exists() or parent_of(stuck) != running.process.pid


@pytest.mark.parametrize(
    ("spec", "code", "says"),
    [
        ("nosuchmodule:app", 2, "no module named 'nosuchmodule'"),
        ("pidapp:nosuch", 2, "has no attribute 'nosuch'"),
        ("broken:app", 1, "importing 'broken' failed"),
    ],
)
def test_an_app_that_does_not_import_fails_once_before_any_worker(app_dir, spec, code, says):
    result = run_cli(spec, "--workers", "2", "--port", "0", cwd=app_dir)
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "worker" not in result.stderr


async def test_a_second_server_on_the_same_port_is_refused(cli, app_dir):
    running = await cli("pidapp:app", "--workers", "2", cwd=app_dir)
    for workers in ("2", "1"):
        result = await asyncio.to_thread(
            run_cli, "pidapp:app", "--workers", workers, "--port", str(running.port), cwd=app_dir
        )
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "address already in use" in lines[0], result.stderr
    assert await running.stop() == 0


def test_a_worker_that_cannot_start_stops_the_supervisor(app_dir):
    result = subprocess.run(
        [sys.executable, "-m", "ferrosocket", "workerfail:app", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=app_dir,
        timeout=STARTUP * 3,
        check=False,
    )
    assert result.returncode == 1, result
    assert "this app cannot start in a worker" in result.stderr
    assert "before serving: stopping" in result.stderr
    # No restart loop, and the second worker never started: one failure, told once.
    assert len(re.findall(r"worker \d started", result.stderr)) == 1, result.stderr
    assert "restarting" not in result.stderr


async def test_unix_socket_workers_share_it_and_remove_it(app_dir, tmp_path):
    path = tmp_path / "ws.sock"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ferrosocket",
        "pidapp:app",
        "--workers",
        "2",
        "--uds",
        str(path),
        "--log-level",
        "warning",
        cwd=app_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        pids: set[int] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while len(pids) < 2 and loop.time() < deadline:
            try:
                async with unix_connect(str(path), "ws://localhost/") as ws:
                    pids.add(int(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            except OSError:
                await asyncio.sleep(0.05)
        assert len(pids) == 2 and all(parent_of(pid) == process.pid for pid in pids)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP) == 0
        assert not path.exists()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_tls_workers_serve_wss_on_every_worker(cli, app_dir, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    running = await cli(
        "pidapp:app", "--workers", "2", "--ssl-certfile", str(chain), "--ssl-keyfile", str(key), cwd=app_dir
    )
    pids: set[int] = set()
    for _ in range(500):
        async with connect(f"wss://127.0.0.1:{running.port}/", ssl=context) as ws:
            pids.add(int(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        if len(pids) == 2:
            break
    assert len(pids) == 2 and all(parent_of(pid) == running.process.pid for pid in pids)
    assert await running.stop() == 0


def test_a_certificate_the_workers_cannot_read_stops_the_supervisor(app_dir, tmp_path):
    missing = str(tmp_path / "missing.pem")
    result = subprocess.run(
        [sys.executable, "-m", "ferrosocket", "pidapp:app", "--workers", "2", "--port", "0"]
        + ["--ssl-certfile", missing, "--ssl-keyfile", missing],
        capture_output=True,
        text=True,
        cwd=app_dir,
        timeout=STARTUP * 3,
        check=False,
    )
    assert result.returncode in (1, 2), result
    assert "missing.pem" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("ferrosocket: error: ") == 1, result.stderr
    assert "restarting" not in result.stderr


def test_run_with_workers_needs_an_import_string():
    async def app(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()

    with pytest.raises(TypeError, match=r"import string 'module:attribute', e\.g\. run\('myapp:app', workers=2\)"):
        ferrosocket.run(app, workers=2)
    with pytest.raises(ValueError, match="workers must be a whole number of at least 1"):
        ferrosocket.run(app, workers=0)
