"""ferrosocket: a WebSocket server for Python with a Rust engine.

Write ``async def handler(ws)`` with Starlette's semantics and serve it::

    import ferrosocket

    async def echo(ws: ferrosocket.WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    ferrosocket.run({"/echo": echo}, host="127.0.0.1", port=8765)

Sockets, framing, UTF-8 validation, pings and close handshakes run in Rust on
tokio: on the loop's own thread when ferrosocket made the loop (`run()`, the
CLI, `new_event_loop()`), on I/O threads otherwise; handlers run on the
asyncio loop.
"""

from . import status
from ._errors import MessageTypeError, WebSocketDisconnect, WebSocketError, WebSocketException
from ._native import Binary, Bus, Close, Text
from .client import ClientSSL, ClientWebSocket, DeflateOffer, InvalidHandshake, InvalidStatus, connect
from .config import HTTPResponse, WebSocketConfig
from .datastructures import URL, Address, CloseCode, Headers, MutableHeaders, QueryParams
from .eventloop import EventLoop, new_event_loop
from .server import App, Handler, Server, run, serve
from .states import WebSocketState
from .websocket import Message, WebSocket

__version__ = "0.1.0"

__all__ = [
    "Address",
    "App",
    "Binary",
    "Bus",
    "ClientSSL",
    "ClientWebSocket",
    "DeflateOffer",
    "InvalidHandshake",
    "InvalidStatus",
    "Close",
    "CloseCode",
    "EventLoop",
    "HTTPResponse",
    "Handler",
    "Headers",
    "Message",
    "MessageTypeError",
    "MutableHeaders",
    "QueryParams",
    "Server",
    "Text",
    "URL",
    "WebSocket",
    "WebSocketConfig",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketException",
    "WebSocketState",
    "connect",
    "new_event_loop",
    "run",
    "serve",
    "status",
]
