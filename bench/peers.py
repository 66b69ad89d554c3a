"""The servers bench/run.py measures, and how to start each one.

A command is a list with ``{port}``, ``{python}`` and ``{target}`` (the cargo
target dir) filled in at start. ``broadcast`` is the command for the
broadcast scenario: the same as ``cmd`` for the peer scripts (they serve
/broadcast themselves), a different app for ferrosocket's Python package,
and None where the server has no relay (the Rust-only echo); a `cmd` of
None runs only in the broadcast scenarios (two workers on the local bus).

``kind`` decides the ratios: "peer" servers compete for "best peer";
websockets is the fixed baseline; ferrosocket entries are measured against
both. All peers run on uvloop, their best loop; ferrosocket runs on both.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE = "websockets"


@dataclass(frozen=True)
class Server:
    name: str
    kind: str  # "peer" | "ferrosocket"
    cmd: tuple[str, ...] | None
    broadcast: tuple[str, ...] | None

    def command(self, scenario: str) -> tuple[str, ...] | None:
        return self.broadcast if scenario.startswith("broadcast") else self.cmd


def _script(name: str, *extra: str) -> tuple[str, ...]:
    return ("{python}", "bench/servers/" + name, "--port", "{port}", *extra)


def _peer(name: str, script: str, *extra: str) -> Server:
    cmd = _script(script, *extra)
    return Server(name, "peer", cmd, cmd)


def _ferro(name: str, *extra: str) -> Server:
    def app(target: str) -> tuple[str, ...]:
        # Keepalive off like the peers'; compression is never negotiated
        # because loadgen does not offer it.
        return (
            "{python}", "-m", "ferrosocket", target, "--host", "127.0.0.1", "--port", "{port}",
            "--ping-interval", "0", *extra,
        )  # fmt: skip

    # ferrosocket.examples:broadcast is provided by the package team: a relay
    # that sends each message it receives to every other open connection.
    return Server(name, "ferrosocket", app("ferrosocket.examples:echo"), app("ferrosocket.examples:broadcast"))


SERVERS: tuple[Server, ...] = (
    _peer("websockets", "websockets_server.py"),
    _peer("picows", "picows_server.py"),
    _peer("aiohttp", "aiohttp_server.py"),
    _peer("uvicorn-websockets", "uvicorn_server.py", "--ws", "websockets"),
    _peer("uvicorn-wsproto", "uvicorn_server.py", "--ws", "wsproto"),
    _peer("granian", "granian_server.py"),
    # The default: the engine on the loop's thread (ferrosocket.EventLoop).
    _ferro("ferrosocket"),
    # The engine on one I/O thread (--threads 1), the bridge of any other loop.
    _ferro("ferrosocket-thread", "--threads", "1"),
    _ferro("ferrosocket-uvloop", "--loop", "uvloop"),
    # Two worker processes sharing topics through the local bus: the cost of
    # crossing processes (broadcast only; the echo scenarios need no bus).
    Server(
        "ferrosocket-2workers",
        "ferrosocket",
        None,
        _ferro("-", "--workers", "2").broadcast,
    ),
    # The engine with no Python: the limit, not a competitor. No relay.
    Server(
        "ferrosocket-rust",
        "ferrosocket",
        ("{target}/release/examples/echo", "--host", "127.0.0.1", "--port", "{port}"),
        None,
    ),
)
