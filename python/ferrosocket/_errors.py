"""Exceptions raised by ferrosocket.

The native binding raises these classes too, so a handler catches the same
exceptions whichever layer noticed the problem.
"""

from __future__ import annotations

__all__ = ["WebSocketError", "WebSocketDisconnect", "WebSocketException", "MessageTypeError"]


class WebSocketError(Exception):
    """Base class of ferrosocket's exceptions."""


class WebSocketDisconnect(WebSocketError):
    """The connection is closed; `code` and `reason` say how.

    Raised by `receive_text()`, `receive_bytes()`, `receive_json()`, the
    `iter_*()` helpers and every send once the connection has closed, as in
    Starlette. `code` is the peer's close code (1005 if it sent none, 1006 if
    it vanished without a close frame) or the code ferrosocket closed with.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (f": {self.reason}" if self.reason else "")


class MessageTypeError(WebSocketError, TypeError):
    """`receive_text()` got a binary message, or `receive_bytes()` a text one."""


class WebSocketException(Exception):
    """Raise it in a handler to close the connection with `code` and `reason`.

    As in Starlette: before `accept()` the upgrade is refused (HTTP 403, as
    ASGI servers answer a close before accept); after it the close handshake
    starts with this code. Nothing is logged: it is a decision, not a bug.
    """

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"
