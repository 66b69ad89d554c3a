"""Topics: ``ws.subscribe(topic)``, ``ws.publish(topic, msg)``, ``server.publish(topic, msg)``.

The names and semantics follow uWebSockets and Bun. The topic table lives
in the Rust engine: a published message is framed once, every subscriber's
write queue takes a reference to the same buffer, and the engine's threads
write it out. No Python runs per subscriber, so publishing to 10,000
connections costs about as much Python as one send.

Publishing never blocks and never raises because of a slow subscriber:
each connection may hold at most `WebSocketConfig.backpressure_limit` bytes
(1 MiB by default); past it a published message is dropped for that
connection (counted in `WebSocket.publish_dropped` and in
``server.stats()["publish_dropped"]``) or, with
`close_on_backpressure_limit`, the connection is closed with 1013 (try again
later). Every other subscriber carries on. Delivery is at most once.

Order: messages from one publisher reach each subscriber in publish order,
interleaved with that connection's own ``send_*()`` calls in call order.

These are mixins of `WebSocket` and `Server`, kept here so the topic API
reads in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _native

if TYPE_CHECKING:
    from .server import Server

__all__ = ["PublishMessage", "WebSocketTopics", "ServerTopics"]

#: What `publish()` takes: `str` goes out as text, bytes-like as binary.
PublishMessage = str | bytes | bytearray | memoryview


class WebSocketTopics:
    """The topic half of `WebSocket` (see the module docs)."""

    __slots__ = ()
    _c: _native.Connection
    _server: Server | None

    def subscribe(self, topic: str) -> bool:
        """Subscribe to `topic` (after `accept()`); subscriptions end when
        the connection closes. Returns False if it was already subscribed
        or the connection is already closed."""
        return self._c.subscribe(topic)

    def unsubscribe(self, topic: str) -> bool:
        """Stop receiving `topic`; False if not subscribed."""
        return self._c.unsubscribe(topic)

    def is_subscribed(self, topic: str) -> bool:
        """Whether this connection is subscribed to `topic`."""
        return self._c.is_subscribed(topic)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics this connection is subscribed to, in subscription order."""
        return tuple(self._c.topics)

    def publish(self, topic: str, message: PublishMessage, *, compress: bool | None = None) -> int:
        """Send `message` to every subscriber of `topic` except this
        connection. Returns how many connections it was queued for; never
        blocks, never raises because of a slow subscriber. `compress=False`
        sends it uncompressed everywhere (None: as configured)."""
        return self._c.publish(topic, message, compress)

    @property
    def publish_dropped(self) -> int:
        """Published messages dropped for this connection at its
        `backpressure_limit`."""
        return self._c.publish_dropped

    @property
    def served_by(self) -> Server:
        """The `Server` that accepted this connection, e.g. for
        ``ws.served_by.publish(topic, msg)`` (to everyone, this connection
        included). (`ws.server` is the ``(host, port)`` the client reached.)"""
        if self._server is None:
            raise RuntimeError("this WebSocket was not created by a ferrosocket Server")
        return self._server


class ServerTopics:
    """The topic half of `Server` (see the module docs)."""

    __slots__ = ()
    _native: _native.NativeServer | None

    def publish(self, topic: str, message: PublishMessage, *, compress: bool | None = None) -> int:
        """Send `message` to every subscriber of `topic`. Returns how many
        connections it was queued for (0 when the server is not running).
        Never blocks; safe to call from any thread."""
        native = self._native
        if native is None:
            return 0
        return native.publish(topic, message, compress)

    def subscribers(self, topic: str) -> int:
        """How many connections are subscribed to `topic` now."""
        native = self._native
        return 0 if native is None else native.subscribers(topic)
