"""Settings: `WebSocketConfig` and `HTTPResponse`.

Every field maps one-to-one to a setting of the Rust engine, which enforces
it; Python only carries the values to it when the server starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ["WebSocketConfig", "HTTPResponse"]


@dataclasses.dataclass(frozen=True)
class WebSocketConfig:
    """Limits, buffers and timeouts of a server and its connections."""

    #: Largest message accepted after reassembling fragments; beyond it the
    #: connection closes with 1009. 16 MiB, like uvicorn.
    max_message_size: int = 16 * 1024 * 1024
    #: Largest single frame accepted (1009 beyond).
    max_frame_size: int = 16 * 1024 * 1024
    #: Messages queued for the handler before the engine stops reading the
    #: socket (TCP flow control then slows the client down).
    max_queue: int = 64
    #: Bytes of queued messages at which reading pauses as well.
    max_queue_bytes: int = 16 * 1024 * 1024
    #: Outbound bytes above which `send_*()` waits for the writer.
    write_high_water: int = 64 * 1024
    #: Outbound bytes at which waiting senders resume.
    write_low_water: int = 16 * 1024
    #: Seconds to wait for the peer's close frame after ours.
    close_timeout: float = 10.0
    #: Seconds a client has to send a complete upgrade request.
    handshake_timeout: float = 10.0
    #: Open connections beyond which new upgrades get HTTP 503.
    max_connections: int = 100_000
    #: Longest HTTP request line (431 beyond).
    max_request_line: int = 8192
    #: Largest HTTP header block (431 beyond).
    max_headers_size: int = 16384
    #: Most HTTP headers in a request (431 beyond).
    max_headers: int = 100
    #: tokio worker threads doing the socket I/O and framing.
    threads: int = 1
    #: Seconds `close()`/shutdown waits for handlers to finish before
    #: cancelling them.
    shutdown_timeout: float = 10.0
    #: Seconds between keepalive pings; None disables keepalive.
    ping_interval: float | None = 20.0
    #: Seconds an unanswered ping may wait before the peer is declared gone
    #: and the connection is closed with 1011; None never gives up.
    ping_timeout: float | None = 20.0
    #: Close (1001) connections that received no data message for this many
    #: seconds (pings and pongs do not count).
    idle_timeout: float | None = None
    #: Seconds a peer may take no bytes while data waits for it; then it is
    #: dropped and the handler sees close code 1008.
    write_timeout: float = 30.0
    #: Browser origins allowed to connect, e.g. ("https://app.example.com",
    #: "https://*.example.com"); None allows all. Others get HTTP 403.
    allowed_origins: tuple[str, ...] | None = None
    #: With `allowed_origins`, also refuse requests without an Origin header.
    require_origin: bool = False
    #: Accept permessage-deflate (RFC 7692) when the client offers it.
    #: Compression runs on the engine's threads, never on the event loop.
    compression: bool = True
    #: zlib level 0-9; 3 keeps most of level 6's ratio at about half the CPU.
    compression_level: int = 3
    #: zlib memory level 1-9 (per-connection compressor state ~ 2**(level+9) bytes).
    compression_mem_level: int = 8
    #: Largest LZ77 window (server_max_window_bits) we use, 9-15.
    compression_window_bits: int = 15
    #: Messages shorter than this many bytes go out uncompressed (0: all).
    compression_threshold: int = 0

    # -- topics (ws.publish / server.publish; see ferrosocket.topics) --------
    #: Bytes buffered for one connection beyond which a published message is
    #: not queued for it: it is dropped for that connection (counted in
    #: ``ws.publish_dropped`` and ``server.stats()["publish_dropped"]``), or
    #: with `close_on_backpressure_limit` the connection is closed with 1013
    #: (try again later). 1 MiB: ~16,000 small messages of slack for a
    #: subscriber that falls behind, and a hard bound on what it can hold.
    #: A connection's own ``send_*()`` are not limited by it (they wait at
    #: `write_high_water`); one with nothing buffered always takes a message.
    backpressure_limit: int = 1024 * 1024
    #: Close a subscriber at its backpressure limit (1013) instead of
    #: dropping messages for it.
    close_on_backpressure_limit: bool = False

    _OPTIONAL: ClassVar[tuple[str, ...]] = ("ping_interval", "ping_timeout", "idle_timeout")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("allowed_origins", "require_origin", "compression", "close_on_backpressure_limit"):
                continue
            if value is None and field.name in self._OPTIONAL:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"WebSocketConfig.{field.name} must be a non-negative number, not {value!r}")
        if self.allowed_origins is not None:
            if isinstance(self.allowed_origins, str) or not all(isinstance(o, str) for o in self.allowed_origins):
                raise ValueError("allowed_origins must be a sequence of origin strings")
            object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
        if self.write_low_water > self.write_high_water:
            raise ValueError("write_low_water must not exceed write_high_water")
        if self.max_queue < 1 or self.threads < 1:
            raise ValueError("max_queue and threads must be at least 1")

    def native_kwargs(self) -> dict[str, Any]:
        """The engine's keyword arguments (everything but shutdown_timeout)."""
        kwargs = dataclasses.asdict(self)
        del kwargs["shutdown_timeout"]
        if self.allowed_origins is not None:
            kwargs["allowed_origins"] = list(self.allowed_origins)
        return kwargs


@dataclasses.dataclass(frozen=True)
class HTTPResponse:
    """A fixed HTTP response served to plain GET requests on a path.

    Put it in the app mapping next to WebSocket handlers, e.g.
    ``{"/": HTTPResponse(page_html), "/chat": chat}``. The engine answers it
    without running Python.
    """

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] | None = None

    def native(self) -> tuple[int, list[tuple[str, str]], bytes]:
        body = self.body.encode() if isinstance(self.body, str) else bytes(self.body)
        headers = [("Content-Type", self.content_type)]
        headers += list((self.headers or {}).items())
        return (self.status, headers, body)
