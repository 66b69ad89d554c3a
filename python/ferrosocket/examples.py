"""Ready-made apps: ``python -m ferrosocket ferrosocket.examples:echo``.

* `echo` echoes text as text and binary as binary, on every path (used by the
  conformance run and the benchmarks).
* `broadcast` relays each message a client sends to every other client.
* `chat` is the demo's chat: rooms (``/chat?room=name``, default "lobby")
  are topics; `demo` is the whole demo app (page at ``/``, chat at
  ``/chat``, echo at ``/echo``).

Both relays use topics (`ferrosocket.topics`): the engine frames each
message once and delivers it to every subscriber from Rust, and a member
that stops reading has messages dropped at its backpressure limit instead
of stalling the others.
"""

from __future__ import annotations

import json
from importlib import resources

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


async def broadcast(ws: WebSocket) -> None:
    """Relay each message to every other connected client."""
    await ws.accept()
    ws.subscribe("broadcast")
    async for message in ws:
        ws.publish("broadcast", message)


def _say(name: str, text: str) -> str:
    return json.dumps({"name": name, "text": text})


async def chat(ws: WebSocket) -> None:
    """The demo chat: ``{"name", "text"}`` JSON in, the same out to everyone
    in the room (the sender included), plus join/leave notices."""
    await ws.accept()
    name = ws.query_params.get("name") or f"guest-{ws.client[1] if ws.client else 0}"
    room = "chat:" + (ws.query_params.get("room") or "lobby")[:64]
    hub = ws.served_by
    ws.subscribe(room)
    hub.publish(room, _say("server", f"{name} joined ({hub.subscribers(room)} here)"))
    try:
        async for message in ws.iter_text():
            hub.publish(room, _say(name, message[:2000]))
    finally:
        # Subscriptions end with the connection anyway; leaving first keeps
        # the notice from being queued for a socket that is gone.
        ws.unsubscribe(room)
        hub.publish(room, _say("server", f"{name} left"))


def _page() -> HTTPResponse:
    html = resources.files(__package__).joinpath("demo.html").read_text(encoding="utf-8")
    return HTTPResponse(html, headers={"Cache-Control": "no-cache"})


demo: dict[str, Handler | HTTPResponse] = {"/": _page(), "/chat": chat, "/echo": echo}
