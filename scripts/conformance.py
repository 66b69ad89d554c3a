"""Run the Autobahn TestSuite cases (the `kosoku` package) against ferrosocket.

Server mode: three servers are checked side by side, each started fresh on a free port
with keepalive off (as the peers are run: an Autobahn case that outlasts the
ping interval on a busy machine would see our ping and fail):

* ``rust``: the engine alone, ``target/release/examples/echo``;
* ``python``: ``python -m ferrosocket ferrosocket.examples:echo``, the engine
  on the loop's thread (the CLI's default);
* ``python-thread``: the same with ``--threads 1``, the engine on an I/O thread.

A case passes when both its behaviour and its close behaviour are OK or
INFORMATIONAL; NON-STRICT, FAILED and UNIMPLEMENTED are failures. All 517
cases run, permessage-deflate (sections 12 and 13) included.

Client mode: ``kosoku --mode fuzzingserver`` is started on a free port and
the clients are run against it, each with its own agent name so one
fuzzingserver per client keeps the reports apart:

* ``rust-client``: ``target/release/examples/autobahn_client``;
* ``python-client``: ``scripts/autobahn_client.py``.

The fuzzingserver writes its report (the same ``index.json`` as the server
mode) only when the client has asked for ``/updateReports``, and then
exits by itself; it is waited for, not stopped, or the report is lost.

The default run (the test command's) is four suites, two at a time: the Rust
echo, the Python echo on the loop's thread, and both clients, ordered so that
a server suite runs beside a client suite. Each client driver runs 4 cases at
once (as ``kosoku -p 4`` does for a server). Not all four at once: Autobahn
gives a case 60 s, and 12.4.1 (1,000 small compressed round trips) shares its
server's thread with three neighbours compressing up to 128 KiB messages, so
its time grows with the CPU the server gets; with four suites and a CPU hog on
2 cores the Rust echo's 12.4.1 ran past 60 s (one suite and the hog: 13-16 s).
``python-thread`` runs on request (``--only python-thread``): its frames
are the same engine's, and what the I/O-thread bridge changes (how
messages reach the loop) is what the test command's second pytest pass
covers, so in CI it would buy little for a fifth of the conformance run's
CPU (the suites are CPU-bound on a 2-core machine: 840 s quiet, 1290 s
beside other work).

    python scripts/conformance.py [--only rust|python|python-thread|rust-client|python-client] [--keep-reports DIR]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"OK", "INFORMATIONAL"}
EXCLUDED: list[str] = []
PARALLEL = 4  # cases at once, in every suite
SUITES_AT_ONCE = 2  # see the module docs: why not all four
# A bound on one suite, far above its time on an idle 2-core machine: it
# only has to stop a hung run, not judge a slow one.
SUITE_TIMEOUT = 1800


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not listen on port {port} within {timeout} s")


def server_command(name: str, port: int) -> list[str]:
    if name == "rust":
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "ferrosocket", "--example", "echo"], cwd=ROOT, check=True
        )
        return [
            str(ROOT / "target/release/examples/echo"),
            "--host", "127.0.0.1", "--port", str(port), "--ping-interval", "0",
        ]  # fmt: skip
    threads = ["--threads", "1"] if name == "python-thread" else []
    return [
        sys.executable, "-m", "ferrosocket", "ferrosocket.examples:echo",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--ping-interval", "0", *threads,
    ]  # fmt: skip


CLIENTS = ("rust-client", "python-client")


def client_command(name: str, url: str) -> list[str]:
    if name == "rust-client":
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "ferrosocket", "--example", "autobahn_client"],
            cwd=ROOT,
            check=True,
        )
        return [str(ROOT / "target/release/examples/autobahn_client"), url, name, str(PARALLEL)]
    return [sys.executable, str(ROOT / "scripts/autobahn_client.py"), url, name, str(PARALLEL)]


def run_client_suite(name: str, outdir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["kosoku", "--mode", "fuzzingserver", f"127.0.0.1:{port}", "-o", str(outdir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port, server)
        subprocess.run(client_command(name, f"ws://127.0.0.1:{port}"), cwd=ROOT, check=False, timeout=SUITE_TIMEOUT)
        # After /updateReports the fuzzingserver writes index.json and exits.
        server.wait(timeout=120)
    except subprocess.TimeoutExpired as exc:
        print(f"conformance[{name}]: {exc}", file=sys.stderr)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def run_suite(name: str, outdir: Path) -> tuple[collections.Counter[str], list[str]]:
    if name in CLIENTS:
        run_client_suite(name, outdir)
        return read_index(outdir)
    port = free_port()
    proc = subprocess.Popen(server_command(name, port), cwd=ROOT)
    try:
        wait_port(port, proc)
        cmd = ["kosoku", f"127.0.0.1:{port}", "-o", str(outdir), "-p", str(PARALLEL)]
        for pattern in EXCLUDED:
            cmd += ["-x", pattern]
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:  # reported as "no index.json", the others still count
        print(f"conformance[{name}]: {exc}", file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return read_index(outdir)


def read_index(outdir: Path) -> tuple[collections.Counter[str], list[str]]:
    found = sorted(outdir.rglob("index.json"))
    if not found:
        return collections.Counter(), ["no index.json report was written"]
    index = json.loads(found[0].read_text())
    counts: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    for cases in index.values():
        for case, result in cases.items():
            behavior, close = result["behavior"], result["behaviorClose"]
            counts[behavior] += 1
            if behavior not in GOOD or close not in GOOD:
                bad.append(f"{case}: {behavior} (close {close})")
    return counts, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["rust", "python", "python-thread", *CLIENTS])
    parser.add_argument("--keep-reports", type=Path, help="copy the kosoku reports here")
    parser.add_argument("--timing", action="store_true", help="print each suite's wall time")
    args = parser.parse_args()
    if shutil.which("kosoku") is None:
        print("kosoku is not installed: pip install kosoku", file=sys.stderr)
        return 2
    # Two slots: a server suite and a client suite start, and each slot takes the
    # next suite when its own ends (the server suites are the longer ones).
    names = [args.only] if args.only else ["rust", "python-client", "python", "rust-client"]
    # Build before the suites start, so they run at once on ready binaries.
    if "rust" in names:
        server_command("rust", 0)
    if "rust-client" in names:
        client_command("rust-client", "")

    def one(name: str) -> tuple[str, collections.Counter[str], list[str]]:
        with tempfile.TemporaryDirectory() as tmp:
            outdir = Path(tmp) / name
            started = time.monotonic()
            counts, bad = run_suite(name, outdir)
            if args.timing:
                print(f"conformance[{name}]: {time.monotonic() - started:.0f} s", flush=True)
            if args.keep_reports:
                shutil.copytree(outdir, args.keep_reports / name, dirs_exist_ok=True)
        return name, counts, bad

    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(min(len(names), SUITES_AT_ONCE)) as pool:
        results = list(pool.map(one, names))
    for name, counts, bad in results:
        total = sum(counts.values())
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"conformance[{name}]: {total} cases: {summary}")
        for line in bad:
            print(f"  BAD {line}")
        failed += len(bad)
        passed += total - len(bad)
        if total == 0:
            print(f"conformance[{name}]: no case ran", file=sys.stderr)
            failed += 1
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
