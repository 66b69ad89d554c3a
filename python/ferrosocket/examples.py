"""Ready-made apps: ``python -m ferrosocket ferrosocket.examples:echo``.

* `echo` echoes text as text and binary as binary, on every path (used by the
  conformance run and the benchmarks).
* `broadcast` relays each message a client sends to every other client.
* `chat` is the demo's chat room; `demo` is the whole demo app (page at
  ``/``, chat at ``/chat``, echo at ``/echo``).
"""

from __future__ import annotations

import json
from importlib import resources

from ._errors import WebSocketDisconnect
from .config import HTTPResponse
from .server import Handler
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


_chat_room = _Room()


async def chat(ws: WebSocket) -> None:
    """The demo chat: ``{"name", "text"}`` JSON in, the same out to everyone
    (the sender included), plus join/leave notices."""
    await ws.accept()
    name = ws.query_params.get("name") or f"guest-{ws.client[1] if ws.client else 0}"
    _chat_room.members.add(ws)
    notice = json.dumps({"name": "server", "text": f"{name} joined ({len(_chat_room.members)} here)"})
    await _chat_room.relay(None, notice)
    try:
        async for message in ws.iter_text():
            text = message[:2000]
            await _chat_room.relay(None, json.dumps({"name": name, "text": text}))
    finally:
        _chat_room.members.discard(ws)
        await _chat_room.relay(None, json.dumps({"name": "server", "text": f"{name} left"}))


def _page() -> HTTPResponse:
    html = resources.files(__package__).joinpath("demo.html").read_text(encoding="utf-8")
    return HTTPResponse(html, headers={"Cache-Control": "no-cache"})


demo: dict[str, Handler | HTTPResponse] = {"/": _page(), "/chat": chat, "/echo": echo}
