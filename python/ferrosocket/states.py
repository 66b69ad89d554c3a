"""`WebSocketState`: Starlette's two per-side connection states.

`WebSocket.client_state` and `WebSocket.application_state` move exactly as
Starlette's do, so code that checks them (``if ws.client_state ==
WebSocketState.CONNECTED``) behaves the same. They are bookkeeping of what
the handler has seen and done, which is why they live in Python next to the
handler and not in the engine: the engine's own view is `WebSocket.state`.

- `client_state`: CONNECTING until the handler takes the ``websocket.connect``
  event (`receive()` before `accept()`, or `accept()` itself); CONNECTED; and
  DISCONNECTED once the handler has received the close (`Close` from
  `receive()`, `WebSocketDisconnect` from a `receive_*()`, the end of an
  ``async for``).
- `application_state`: CONNECTING until the handler answers; CONNECTED after
  `accept()`; DISCONNECTED after `close()` (before or after accepting), after
  `reject()`, or once a send found the connection gone; RESPONSE between an
  ASGI ``websocket.http.response.start`` and its last body part.
"""

from __future__ import annotations

import enum

__all__ = ["WebSocketState"]


class WebSocketState(enum.Enum):
    """One side's state, with Starlette's names and values."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3
