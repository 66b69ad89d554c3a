"""Worker processes: ``run("module:app", workers=N)`` and ``--workers N``.

One process is one event loop: past a core's worth of handler work, a
server needs more processes. The supervisor binds the listening socket
(TCP, TLS, a Unix socket, or an inherited descriptor) and starts N worker
processes that serve it, so a second process never meets "address already
in use" and a restarted worker takes over its socket without dropping the
connections waiting in the backlog.

Why SO_REUSEPORT for TCP: measured with 1000 connections to 2 workers
(``python bench/worker_balance.py``; figures in bench/README.md), one
shared socket let whichever worker woke first accept a burst: with 1000
connections opened 100 at a time and held, one worker took 73-78% of them
(51-53% of connections made one after another); with one SO_REUSEPORT
socket per worker the kernel hashes connections across them, 50-51% in
both. The cost: a connection hashed to a worker that is restarting waits in
that worker's backlog until the replacement serves it (the supervisor keeps
every worker's socket open across restarts, so nothing queued there is
reset), and one hashed to a worker that is stuck waits as long as it is
stuck. Unix sockets and inherited descriptors cannot be split that way:
their workers share the one socket, where the live workers take every
connection. Before the SO_REUSEPORT sockets a plain bind checks the port
is free, or a second server of the same user would silently share it.

Why fresh interpreters and an import string: each worker starts a new
Python (``sys.executable``) that imports the app itself, with the
supervisor's ``sys.path``; nothing is forked from a process that runs
threads (the local bus hub lives on one in the supervisor). So
``run(app, workers=N)`` needs ``app`` as ``"module:attribute"``, as
uvicorn does, and says so when given an object.

Topics across workers: unless a broker is given (``--broker redis://...``,
which every worker then joins itself), the supervisor serves a local bus
(`ferrosocket.Bus`) on a Unix socket in a private temporary directory and
every worker joins it, so a publish reaches the subscribers of every worker.

Each worker gets a socketpair, its lifeline: the worker writes one byte on
it once it serves, and watches it for end-of-file, so a supervisor killed
with SIGKILL does not leave workers serving behind it. The first worker
starts alone and the others once it serves, so an app or a certificate that
cannot start fails once, with one worker's message. A worker that exits
before it served stops the supervisor with the worker's exit code instead
of restarting it forever; one that dies later is restarted after a delay
that doubles from 0.5 s to 30 s and resets once a worker has run for 30 s.
SIGTERM or SIGINT is forwarded as SIGTERM: every worker closes its
connections (1001, or the configured shutdown code) and waits up to
``shutdown_timeout`` for its handlers; a worker still running ``GRACE``
seconds later is killed. A second signal kills them at once. Log lines say
``[0]`` for the supervisor and ``[1]`` … ``[N]`` for the workers (see
`_logging`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from . import _logging, _native
from .config import WebSocketConfig

__all__ = ["WorkerStartError", "supervise"]

logger = logging.getLogger("ferrosocket")

#: Seconds past `shutdown_timeout` a worker may take to exit before it is killed.
GRACE = 5.0
#: Restart delays: the first, the cap, and how long a worker must run for
#: the delay to start again from the first.
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET = 0.5, 30.0, 30.0

_WORKER_CODE = "import sys\nfrom ferrosocket.supervisor import worker_main\nworker_main(sys.argv[1:])"


class WorkerStartError(RuntimeError):
    """A worker exited before it served; `exit_code` is its exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _bind(host: str, port: int, unix: str | None, sock: socket.socket | None, workers: int) -> list[socket.socket]:
    """The listening sockets: one per worker for TCP (SO_REUSEPORT on one
    port), otherwise one that every worker shares."""
    if sock is not None:
        return [sock]
    if unix is not None:
        _remove_stale_socket(unix)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(unix)
        listener.listen(1024)
        return [listener]
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    if port:
        # SO_REUSEPORT would let a second server (same user) join this port
        # and take half its connections; a plain bind first fails with
        # "address already in use" while anyone listens there.
        socket.create_server((host, port), family=family).close()
    listeners: list[socket.socket] = []
    try:
        for _ in range(workers):
            listeners.append(socket.create_server((host, port), family=family, backlog=1024, reuse_port=True))
            port = listeners[0].getsockname()[1]  # port 0: the others join the port the first got
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def _unbind(listeners: list[socket.socket], unix: str | None) -> None:
    for listener in listeners:
        listener.close()
    if unix is not None:
        try:
            os.unlink(unix)
        except OSError:
            pass


def _start_bus(cleanup: contextlib.ExitStack) -> str:
    """The local bus hub every worker joins (in a directory only this user
    can enter); its broker URL."""
    directory = tempfile.mkdtemp(prefix="ferrosocket-bus-")
    cleanup.callback(shutil.rmtree, directory, True)
    bus = _native.Bus(os.path.join(directory, "bus.sock"))
    cleanup.callback(_close_bus, bus)
    return bus.url


def _close_bus(bus: _native.Bus) -> None:
    stats = bus.stats()
    logger.info(
        "local bus closed: %d message(s) published, %d forwarded, %d dropped",
        stats["published"],
        stats["forwarded"],
        stats["dropped"],
    )
    bus.close()


def _remove_stale_socket(path: str) -> None:
    """A socket file nobody accepts on (left by a previous run) is removed,
    as the engine does for a single process; any other file is left for the
    bind to report."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return
    except OSError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {-returncode} ({name})"
    return f"exited with code {returncode}"


class _Worker:
    """One worker slot: its id stays, its process changes on restart."""

    def __init__(self, worker_id: int) -> None:
        self.id = worker_id
        self.process: asyncio.subprocess.Process | None = None
        self.lifeline: socket.socket | None = None
        self.served = False
        self.serving = asyncio.Event()  # set the first time it serves


class Supervisor:
    def __init__(self, spec: dict[str, Any], workers: int, grace: float) -> None:
        self.spec = spec
        self.workers = [_Worker(i) for i in range(1, workers + 1)]
        self.listeners: dict[int, socket.socket] = {}
        self.grace = grace
        self.failed: WorkerStartError | None = None
        self.stop = asyncio.Event()
        self.signals = 0

    def on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals == 1:
            logger.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(self.workers))
            self.stop.set()
        else:
            logger.warning("second %s: killing the workers now", signal.Signals(signum).name)
            self._signal_all(signal.SIGKILL)

    def _signal_all(self, sig: int) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(sig)

    async def _spawn(self, worker: _Worker) -> asyncio.subprocess.Process:
        mine, theirs = socket.socketpair()
        listener = self.listeners[worker.id]
        spec = dict(self.spec, worker=worker.id, fd=listener.fileno(), lifeline=theirs.fileno())
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER_CODE,
                json.dumps(spec),
                pass_fds=(listener.fileno(), theirs.fileno()),
            )
        finally:
            theirs.close()
        mine.setblocking(False)
        worker.process, worker.lifeline, worker.served = process, mine, False
        logger.info("worker %d started (pid %d)", worker.id, process.pid)
        if self.stop.is_set():  # the signal came while it was starting
            process.send_signal(signal.SIGTERM)
        return process

    async def _watch_lifeline(self, worker: _Worker, lifeline: socket.socket) -> None:
        """The worker's one byte when it serves; end-of-file when it exits."""
        loop = asyncio.get_running_loop()
        try:
            if await loop.sock_recv(lifeline, 1):
                worker.served = True
                worker.serving.set()
        except OSError:
            pass

    async def _keep(self, worker: _Worker) -> None:
        """Run a worker slot until shutdown: start, wait, restart with backoff."""
        delay = BACKOFF_FIRST
        while not self.stop.is_set():
            process = await self._spawn(worker)
            assert worker.lifeline is not None
            watch = asyncio.ensure_future(self._watch_lifeline(worker, worker.lifeline))
            started = time.monotonic()
            returncode = await process.wait()
            await watch
            worker.lifeline.close()
            if self.stop.is_set():
                return
            if not worker.served and returncode > 0:
                self.failed = WorkerStartError(
                    f"worker {worker.id} (pid {process.pid}) {_describe(returncode)} before serving", returncode
                )
                logger.error("%s: stopping", self.failed)
                self.stop.set()
                return
            if time.monotonic() - started >= BACKOFF_RESET:
                delay = BACKOFF_FIRST
            logger.error(
                "worker %d (pid %d) %s; restarting in %.1f s", worker.id, process.pid, _describe(returncode), delay
            )
            try:
                await asyncio.wait_for(self.stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, BACKOFF_MAX)

    async def run(self, start: Callable[[], list[socket.socket]]) -> None:
        # Signal handlers go in before the socket is bound: a process manager
        # may send SIGTERM as soon as the port answers.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal, sig)
        listeners = start()
        # Worker i always serves the same socket, across restarts.
        self.listeners = {w.id: listeners[(w.id - 1) % len(listeners)] for w in self.workers}
        # The first worker goes alone: an app or certificate that cannot
        # start fails once, with one worker's message, not N times.
        first = self.workers[0]
        slots = [asyncio.ensure_future(self._keep(first))]
        stopped = asyncio.ensure_future(self.stop.wait())
        serving = asyncio.ensure_future(first.serving.wait())
        await asyncio.wait([stopped, serving], return_when=asyncio.FIRST_COMPLETED)
        serving.cancel()
        if not self.stop.is_set():
            slots += [asyncio.ensure_future(self._keep(worker)) for worker in self.workers[1:]]
        await stopped
        self._signal_all(signal.SIGTERM)
        done, pending = await asyncio.wait(slots, timeout=self.grace)
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                logger.warning(
                    "worker %d (pid %d) still running %.1f s after SIGTERM: killed",
                    worker.id,
                    worker.process.pid,
                    self.grace,
                )
                worker.process.kill()
        if pending:
            await asyncio.wait(pending)
        for slot in done:
            slot.result()  # a bug in the supervisor surfaces here, not silently
        logger.info("all workers stopped")


def supervise(
    app: Any,
    host: str,
    port: int,
    workers: int,
    *,
    config: WebSocketConfig,
    log_level: str | int | None,
    access_log: bool,
    loop: str,
    shutdown_code: int,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    unix: str | None = None,
    sock: socket.socket | None = None,
    **serve_options: Any,
) -> None:
    """Bind once and keep `workers` processes serving `app` (an import
    string) until SIGINT/SIGTERM; `serve_options` (the broker settings) go
    to every worker's `serve()`. Raises `OSError` when binding fails and
    `WorkerStartError` when a worker exits before it serves."""
    if not isinstance(app, str):
        raise TypeError(
            "run(app, workers=N) starts N processes that each import the app: pass it as an import string "
            "'module:attribute', e.g. run('myapp:app', workers=2)"
        )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ValueError("TLS needs both ssl_certfile and ssl_keyfile")
    _logging.configure(log_level, access_log)
    spec = {
        "app": app,
        "path": sys.path,
        "config": dataclasses.asdict(config),
        "log_level": log_level,
        "access_log": access_log,
        "loop": loop,
        "shutdown_code": shutdown_code,
        "serve": dict(serve_options, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile),
    }
    supervisor = Supervisor(spec, workers, config.shutdown_timeout + GRACE)
    with contextlib.ExitStack() as cleanup:

        def start() -> list[socket.socket]:
            """Bind, and start the local bus unless a broker is given."""
            listeners = _bind(host, port, unix, sock, workers)
            if sock is None:
                cleanup.callback(_unbind, listeners, unix)
            if spec["serve"].get("broker") is None:
                spec["serve"]["broker"] = _start_bus(cleanup)
            return listeners

        asyncio.run(supervisor.run(start))
    if supervisor.failed is not None:
        raise supervisor.failed


def worker_main(argv: list[str]) -> None:
    """The entry of a worker process (``python -c`` from `Supervisor._spawn`)."""
    from .__main__ import fail, load_app
    from .server import run

    spec = json.loads(argv[0])
    sys.path[:] = spec["path"]
    _logging.worker_id = spec["worker"]
    app = load_app(spec["app"])
    listener = socket.socket(fileno=spec["fd"])  # family and type read from the descriptor
    lifeline = socket.socket(fileno=spec["lifeline"])
    try:
        run(
            app,
            config=WebSocketConfig(**spec["config"]),
            log_level=spec["log_level"],
            access_log=spec["access_log"],
            loop=spec["loop"],
            shutdown_code=spec["shutdown_code"],
            sock=listener,
            _lifeline=lifeline,
            **spec["serve"],
        )
    except OSError as exc:
        fail(f"worker {spec['worker']} cannot serve: {exc}", 1)
    except ValueError as exc:
        fail(f"worker {spec['worker']}: {exc}", 2)
