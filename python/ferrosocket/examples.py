"""Ready-made apps: ``python -m ferrosocket ferrosocket.examples:echo``.

* `echo` echoes text as text and binary as binary, on every path (used by the
  conformance run and the benchmarks).
* `broadcast` relays each message a client sends to every other client.
* `chat` is the demo's chat: rooms (``/chat?room=name``, default "lobby")
  are topics; `demo` is the whole demo app (page at ``/``, chat at
  ``/chat``, echo at ``/echo``, and its icon). The page's live panel shows
  the server's own counters (``server.stats()``) once a second. With
  ``--workers N`` a room's members may be on different workers: chat goes to
  all of them through the bus, but each worker's counters go, on a topic of
  that worker's own, only to the members it serves, and the panel says which
  worker that is.

Both relays use topics (`ferrosocket.topics`): the engine frames each
message once and delivers it to every subscriber from Rust, and a member
that stops reading has messages dropped at its backpressure limit instead
of stalling the others.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources

from . import _logging
from .config import HTTPResponse
from .server import Handler, Server
from .websocket import WebSocket

__all__ = ["echo", "broadcast", "chat", "demo"]


async def echo(ws: WebSocket) -> None:
    """Echo every message back with its type (public API only: this is what
    the conformance run and the benchmarks measure)."""
    await ws.accept()
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


async def broadcast(ws: WebSocket) -> None:
    """Relay each message to every other connected client."""
    await ws.accept()
    ws.subscribe("broadcast")
    async for message in ws:
        ws.publish("broadcast", message)


def _stats_topic(room: str) -> str:
    """This worker's panel topic for `room`: subscribers on other workers
    (reached through the bus) never subscribe to it."""
    return f"stats:{_logging.worker_id}:{room}"


class _Tickers:
    """One task per room with members on this worker: it publishes this
    worker's stats to them once a second, and ends when they are gone."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, server: Server, room: str) -> None:
        task = self.tasks.get(room)
        if task is None or task.done():
            self.tasks[room] = asyncio.ensure_future(self._tick(server, room))

    async def _tick(self, server: Server, room: str) -> None:
        before, then = server.stats(), time.monotonic()
        topic = _stats_topic(room)
        while server.subscribers(topic):
            await asyncio.sleep(1.0)
            now, stats = time.monotonic(), server.stats()
            if not stats:  # the server stopped
                return
            elapsed = max(now - then, 1e-3)
            sent = stats["messages_out"] + stats["deliveries"]
            sent_before = before["messages_out"] + before["deliveries"]
            panel = {
                "type": "stats",
                "connections": stats["connections_open"],
                "in_per_s": round((stats["messages_in"] - before["messages_in"]) / elapsed, 1),
                "out_per_s": round((sent - sent_before) / elapsed, 1),
                "refused": sum(stats["handshakes_refused"].values()),
                "worker": _logging.worker_id,
            }
            before, then = stats, now
            server.publish(topic, json.dumps(panel))


_tickers = _Tickers()


def _notice(text: str) -> str:
    return json.dumps({"type": "notice", "text": text})


def _clean_name(name: str | None, fallback: str) -> str:
    name = " ".join((name or "").split())[:32]
    return name or fallback


async def chat(ws: WebSocket) -> None:
    """The demo chat. Rooms (``?room=``, default "lobby") are topics. A client
    sends JSON commands (plain text counts as ``say``): ``{"type": "say",
    "text"}`` goes to everyone in the room, the sender included, as
    ``{"type": "chat", "name", "text"}``; ``{"type": "name", "name"}``
    renames without reconnecting; ``{"type": "ping", "id"}`` is answered to
    the sender alone with ``{"type": "pong", "id"}`` (the page's round-trip
    time). Everyone gets ``notice`` messages (joined, left, renamed) and,
    once a second, the ``stats`` of the worker serving it (``worker``: its
    id, 0 for a single process)."""
    await ws.accept()
    name = _clean_name(ws.query_params.get("name"), f"guest-{ws.client[1] if ws.client else 0}")
    room = "chat:" + (ws.query_params.get("room") or "lobby")[:64]
    hub = ws.served_by
    ws.subscribe(room)
    ws.subscribe(_stats_topic(room))
    _tickers.start(hub, room)
    # subscribers() counts this process; with workers, say whose count it is.
    where = f"on worker {_logging.worker_id}" if _logging.worker_id else "here"
    hub.publish(room, _notice(f"{name} joined ({hub.subscribers(room)} {where})"))
    try:
        async for message in ws.iter_text():
            try:
                command = json.loads(message)
            except ValueError:
                command = None
            if not isinstance(command, dict):
                command = {"type": "say", "text": message}
            kind = command.get("type")
            if kind == "ping":
                await ws.send_text(json.dumps({"type": "pong", "id": command.get("id")}))
            elif kind == "name":
                new = _clean_name(str(command.get("name", "")), name)
                if new != name:
                    hub.publish(room, _notice(f"{name} is now {new}"))
                    name = new
            elif kind == "say" and str(command.get("text", "")).strip():
                text = str(command["text"])[:2000]
                hub.publish(room, json.dumps({"type": "chat", "name": name, "text": text}))
    finally:
        # Subscriptions end with the connection anyway; leaving first keeps
        # the notice from being queued for a socket that is gone.
        ws.unsubscribe(room)
        ws.unsubscribe(_stats_topic(room))
        hub.publish(room, _notice(f"{name} left"))


def _page() -> HTTPResponse:
    html = resources.files(__package__).joinpath("demo.html").read_text(encoding="utf-8")
    return HTTPResponse(html, headers={"Cache-Control": "no-cache"})


# The page links the same icon inline; this answers browsers that ask anyway.
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
    'fill="#b7410e"/><path d="M4 4h8v2H6v2h5v2H6v2H4z" fill="#fff"/></svg>'
)

demo: dict[str, Handler | HTTPResponse] = {
    "/": _page(),
    "/favicon.ico": HTTPResponse(_ICON, content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}),
    "/chat": chat,
    "/echo": echo,
}
