"""Several ferrosocket processes sharing topics, as one benchmark "server".

``ferrosocket_group.py --port P [--port2 Q] --via redis|bus|none`` starts the
broker (a redis-server with no persistence, or a `ferrosocket.Bus` hub on a
thread of this process) and one ``python -m ferrosocket
ferrosocket.examples:broadcast`` process per port, all as children of this
process, so loadgen's ``--server-pid`` (which sums CPU over the process
tree) counts the servers *and* the broker. SIGTERM stops them all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--port2", type=int)
    p.add_argument("--via", choices=["redis", "bus", "none"], default="none")
    a = p.parse_args()
    children: list[subprocess.Popen[bytes]] = []
    bus = None
    broker: list[str] = []
    tmp = tempfile.mkdtemp(prefix="fsbench-")
    if a.via == "redis":
        rport = free_port()
        binary = shutil.which("redis-server") or "redis-server"
        redis_cmd = [binary, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        children.append(subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL))
        wait_port(rport)
        broker = ["--broker", f"redis://127.0.0.1:{rport}/0"]
    elif a.via == "bus":
        import ferrosocket

        bus = ferrosocket.Bus(os.path.join(tmp, "bus.sock"))
        broker = ["--broker", bus.url]
    ports = [a.port] + ([a.port2] if a.port2 else [])
    # The second server first: the harness starts measuring once --port accepts.
    for port in reversed(ports):
        cmd = [sys.executable, "-m", "ferrosocket", "ferrosocket.examples:broadcast", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--ping-interval", "0", "--no-access-log", "--log-level", "warning", *broker]
        children.append(subprocess.Popen(cmd))
        wait_port(port)

    def stop(*_: object) -> None:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        if bus is not None:
            bus.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
