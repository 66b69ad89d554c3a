"""The app the broker tests run in server processes: ``/room`` subscribes to
"room" and publishes what it receives to the other subscribers (of every
server sharing the broker); ``/stats`` sends ``server.stats()`` as JSON."""

from __future__ import annotations

import json

from ferrosocket import WebSocket


async def room(ws: WebSocket) -> None:
    await ws.accept()
    ws.subscribe("room")
    async for message in ws:
        ws.publish("room", message)


async def stats(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text(json.dumps(ws.served_by.stats()))
    await ws.close()


app = {"/room": room, "/stats": stats}
