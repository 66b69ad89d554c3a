"""Ready-made apps: ``python -m ferrosocket ferrosocket.examples:echo``.

* `echo` echoes text as text and binary as binary, on every path (used by the
  conformance run and the benchmarks).
* `broadcast` relays each message a client sends to every other client.
* `chat` is the demo's chat room; `demo` is the whole demo app (page at
  ``/``, chat at ``/chat``, echo at ``/echo``, and its icon). The page's
  live panel shows the server's own counters (``server.stats()``), sent by
  the chat once a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources

from ._errors import WebSocketDisconnect
from .config import HTTPResponse
from .server import Handler, Server, _current_server
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


class _Room:
    """Connections of one relay; each message goes to everyone else."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def relay(self, sender: WebSocket | None, message: str | bytes) -> None:
        for member in list(self.members):
            if member is sender:
                continue
            try:
                await member.send(message)
            except WebSocketDisconnect:
                self.members.discard(member)


_broadcast_room = _Room()


async def broadcast(ws: WebSocket) -> None:
    """Relay each message to every other connected client."""
    await ws.accept()
    _broadcast_room.members.add(ws)
    try:
        async for message in ws:
            await _broadcast_room.relay(ws, message)
    finally:
        _broadcast_room.members.discard(ws)


class _ChatRoom(_Room):
    """The demo's room, plus a ticker that sends the server's stats to
    everyone once a second while anyone is there."""

    def __init__(self) -> None:
        super().__init__()
        self.ticker: asyncio.Task[None] | None = None

    def start_ticker(self) -> None:
        server = _current_server.get(None)
        if server is not None and (self.ticker is None or self.ticker.done()):
            self.ticker = asyncio.ensure_future(self._tick(server))

    async def _tick(self, server: Server) -> None:
        before, then = server.stats(), time.monotonic()
        while self.members and server.stats():
            await asyncio.sleep(1.0)
            now, stats = time.monotonic(), server.stats()
            if not stats:  # the server stopped
                return
            elapsed = max(now - then, 1e-3)
            panel = {
                "type": "stats",
                "connections": stats["connections_open"],
                "in_per_s": round((stats["messages_in"] - before["messages_in"]) / elapsed, 1),
                "out_per_s": round((stats["messages_out"] - before["messages_out"]) / elapsed, 1),
                "refused": sum(stats["handshakes_refused"].values()),
            }
            before, then = stats, now
            await self.relay(None, json.dumps(panel))


_chat_room = _ChatRoom()


def _notice(text: str) -> str:
    return json.dumps({"type": "notice", "text": text})


def _clean_name(name: str | None, fallback: str) -> str:
    name = " ".join((name or "").split())[:32]
    return name or fallback


async def chat(ws: WebSocket) -> None:
    """The demo chat. A client sends JSON commands (plain text counts as
    ``say``): ``{"type": "say", "text"}`` goes to everyone, the sender
    included, as ``{"type": "chat", "name", "text"}``; ``{"type": "name",
    "name"}`` renames without reconnecting; ``{"type": "ping", "id"}`` is
    answered to the sender alone with ``{"type": "pong", "id"}`` (the page's
    round-trip time). Everyone gets ``notice`` messages (joined, left,
    renamed) and, once a second, the server's ``stats``."""
    await ws.accept()
    name = _clean_name(ws.query_params.get("name"), f"guest-{ws.client[1] if ws.client else 0}")
    _chat_room.members.add(ws)
    _chat_room.start_ticker()
    await _chat_room.relay(None, _notice(f"{name} joined ({len(_chat_room.members)} here)"))
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
                    await _chat_room.relay(None, _notice(f"{name} is now {new}"))
                    name = new
            elif kind == "say" and str(command.get("text", "")).strip():
                text = str(command["text"])[:2000]
                await _chat_room.relay(None, json.dumps({"type": "chat", "name": name, "text": text}))
    finally:
        _chat_room.members.discard(ws)
        await _chat_room.relay(None, _notice(f"{name} left"))


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
