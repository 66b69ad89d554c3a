"""ASGI's shapes for Starlette code: events in, event dicts out, the scope.

A Starlette handler speaks ASGI through its `WebSocket`: it reads
``message["type"]`` from `receive()`, sends ``{"type": "websocket.send",
"text": ...}``, and sometimes reads ``websocket.scope``. ferrosocket has no
ASGI layer underneath (the engine hands over messages directly), so this
module translates at the edges instead, and only when such code runs:

- `Text`, `Binary` and `Close` answer the mapping protocol themselves (in
  Rust, computed on read); here they are registered as `Mapping`s so that
  ``match m: case {"type": "websocket.receive"}`` works too;
- `CONNECT` is the ``websocket.connect`` event `receive()` returns once
  before `accept()`, as Starlette's does;
- `send_event()` turns an ASGI send dict into the matching method call;
- `header_list()` takes handshake headers as ASGI gives them (bytes pairs),
  as str pairs, or as a mapping;
- `build_scope()` builds the ASGI ``websocket`` scope when first read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ._native import Binary, Close, Text

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["Connect", "CONNECT", "HeaderItems", "header_list", "send_event", "build_scope", "convert_params"]

for _cls in (Text, Binary, Close):
    Mapping.register(_cls)


class Connect(Mapping[str, str]):
    """The ``{"type": "websocket.connect"}`` event."""

    __slots__ = ()

    def __getitem__(self, key: str) -> str:
        if key == "type":
            return "websocket.connect"
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("type",))

    def __len__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(other) == {"type": "websocket.connect"}

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Connect()"


CONNECT = Connect()

HeaderItems = Mapping[str, str] | Mapping[bytes, bytes] | Sequence[tuple[str | bytes, str | bytes]] | None


def _text(value: str | bytes, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    raise TypeError(f"a header {what} must be str or bytes, got {type(value).__name__}")


def header_list(headers: HeaderItems) -> list[tuple[str, str]] | None:
    """``(name, value)`` str pairs from bytes pairs (ASGI's form, decoded as
    latin-1), str pairs or a mapping. Names and values are checked by the
    engine: CR, LF or NUL raise `ValueError`."""
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(_text(k, "name"), _text(v, "value")) for k, v in items]


_CONVERT: dict[str, Any] = {"str": str, "path": str, "int": int, "float": float, "uuid": uuid.UUID}


def convert_params(params: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Path parameters as the engine matched them, converted as Starlette's
    convertors do (`int`, `float`, `uuid.UUID`, `str`)."""
    return {name: _CONVERT[conv](text) for name, conv, text in params}


async def send_event(ws: WebSocket, message: Mapping[str, Any]) -> None:
    """Do what an ASGI send event asks."""
    kind = message.get("type")
    if kind == "websocket.send":
        data = message.get("bytes")
        if data is not None:
            await ws.send_bytes(data)
        elif message.get("text") is not None:
            await ws.send_text(message["text"])
        else:
            raise ValueError('a "websocket.send" event needs "text" or "bytes"')
    elif kind == "websocket.close":
        await ws.close(message.get("code", 1000), message.get("reason"))
    elif kind == "websocket.accept":
        await ws.accept(message.get("subprotocol"), message.get("headers"))
    elif kind == "websocket.http.response.start":
        ws._start_response(int(message["status"]), message.get("headers"))
    elif kind == "websocket.http.response.body":
        await ws._response_body(message.get("body", b""), bool(message.get("more_body", False)))
    else:
        raise ValueError(
            'expected an ASGI event of type "websocket.send", "websocket.close", "websocket.accept" '
            f'or "websocket.http.response.start"/"websocket.http.response.body", got {kind!r}'
        )


def build_scope(ws: WebSocket) -> dict[str, Any]:
    """The ASGI ``websocket`` scope of this connection, as uvicorn builds it
    plus Starlette's ``path_params``."""
    c = ws._c
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "wss" if c.tls else "ws",
        "server": c.server,
        "client": c.client,
        "root_path": "",
        "path": unquote(c.path),
        "raw_path": c.path.encode(),
        "query_string": c.query_string.encode(),
        "headers": ws.headers.raw,
        "subprotocols": c.subprotocols,
        "state": {},
        "extensions": {"websocket.http.response": {}},
        "path_params": ws.path_params,
    }
