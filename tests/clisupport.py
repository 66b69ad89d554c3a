"""Running ``python -m ferrosocket`` in a subprocess for the CLI tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

STARTUP = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, cwd: Path | None = None, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for commands that exit at once); `prelude`
    is Python run first in the same process, e.g. to hide a package."""
    code = f"{prelude}\nimport sys\nfrom ferrosocket.__main__ import main\nsys.argv[0] = 'ferrosocket'\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=STARTUP, cwd=cwd, check=False
    )


class Cli:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    async def output(self) -> str:
        """Everything the process printed (it must have exited). A worker it
        left behind would hold the pipe open, so after a while the process
        group is killed and what was printed until then is returned."""
        assert self.process.stdout is not None
        try:
            data = await asyncio.wait_for(self.process.stdout.read(), STARTUP)
        except TimeoutError:
            self.kill_group()
            data = await self.process.stdout.read()
            data += b"\n[clisupport: output still open after the process exited; its process group was killed]"
        return data.decode(errors="replace")

    def kill_group(self) -> None:
        """SIGKILL the CLI and everything it started (its own session), even
        after the CLI itself exited: orphaned workers must not outlive a test."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop_and_read(self) -> str:
        """SIGTERM, a zero exit, and the output."""
        returncode = await self.stop()
        output = await self.output()
        assert returncode == 0, output
        return output


@pytest.fixture
async def cli() -> AsyncIterator[Callable[..., Awaitable[Cli]]]:
    """`await cli("module:app", "--flag", ...)` runs the CLI on a free port
    (log level warning unless the arguments say otherwise) and waits until it
    accepts connections; the process is killed after the test if needed."""
    started: list[Cli] = []

    async def start(*args: str, cwd: Path | None = None, port: int | None = None) -> Cli:
        port = port or free_port()
        level = [] if "--log-level" in args else ["--log-level", "warning"]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ferrosocket",
            "--port",
            str(port),
            *level,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        running = Cli(process, port)
        started.append(running)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while True:
            if process.returncode is not None:
                pytest.fail(f"the CLI exited with {process.returncode}:\n{await running.output()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if loop.time() > deadline:
                    pytest.fail("the CLI did not start listening")
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return running

    yield start
    for running in started:
        running.kill_group()
        await running.process.wait()
