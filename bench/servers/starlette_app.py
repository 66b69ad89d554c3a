"""The Starlette app shared by the ASGI peers (uvicorn, granian).

Echo on every path, relay on /broadcast, written the way a Starlette user
would: ``receive()`` then ``send_text``/``send_bytes``. The relay awaits
each send in turn; a client that went away is skipped.
"""

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

clients: set[WebSocket] = set()


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            await ws.send_text(text)
        else:
            await ws.send_bytes(message["bytes"])


async def relay(ws: WebSocket) -> None:
    await ws.accept()
    clients.add(ws)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            for c in tuple(clients):
                if c is not ws:
                    try:
                        await c.send(message | {"type": "websocket.send"})
                    except Exception:
                        clients.discard(c)
    finally:
        clients.discard(ws)


app = Starlette(routes=[WebSocketRoute("/broadcast", relay), WebSocketRoute("/{path:path}", echo)])
