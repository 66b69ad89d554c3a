"""Settings: `WebSocketConfig` and `HTTPResponse`.

Every field maps one-to-one to a setting of the Rust engine, which holds
the defaults and the checks: the field defaults below are read from
`_native.config_defaults()` (written once, in rust/server/src/config.rs and
rust/python/src/config.rs), and `__post_init__` hands the whole object to
`_native.check_config`, so a bad value raises `ValueError` with the engine's
message as soon as the config is built, not when a server starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from . import _native

__all__ = ["WebSocketConfig", "HTTPResponse"]

_DEFAULTS: dict[str, Any] = _native.config_defaults()


@dataclasses.dataclass(frozen=True)
class WebSocketConfig:
    """Limits, buffers and timeouts of a server and its connections.

    The defaults come from the engine; ``WebSocketConfig()`` shows them."""

    #: Largest message accepted after reassembling fragments; beyond it the
    #: connection closes with 1009 (16 MiB by default, like uvicorn).
    max_message_size: int = _DEFAULTS["max_message_size"]
    #: Largest single frame accepted (1009 beyond); never more than
    #: max_message_size.
    max_frame_size: int = _DEFAULTS["max_frame_size"]
    #: Messages queued for the handler before the engine stops reading the
    #: socket (TCP flow control then slows the client down); at least 1.
    max_queue: int = _DEFAULTS["max_queue"]
    #: Bytes of queued messages at which reading pauses as well.
    max_queue_bytes: int = _DEFAULTS["max_queue_bytes"]
    #: Outbound bytes above which `send_*()` waits for the writer.
    write_high_water: int = _DEFAULTS["write_high_water"]
    #: Outbound bytes at which waiting senders resume (at most write_high_water).
    write_low_water: int = _DEFAULTS["write_low_water"]
    #: Seconds to wait for the peer's close frame after ours.
    close_timeout: float = _DEFAULTS["close_timeout"]
    #: Seconds a client has to send a complete upgrade request.
    handshake_timeout: float = _DEFAULTS["handshake_timeout"]
    #: Open connections beyond which new upgrades get HTTP 503.
    max_connections: int = _DEFAULTS["max_connections"]
    #: Longest HTTP request line (431 beyond).
    max_request_line: int = _DEFAULTS["max_request_line"]
    #: Largest HTTP header block (431 beyond).
    max_headers_size: int = _DEFAULTS["max_headers_size"]
    #: Most HTTP headers in a request (431 beyond).
    max_headers: int = _DEFAULTS["max_headers"]
    #: tokio I/O threads doing the socket I/O and framing (at least 1). None:
    #: the engine runs on the loop's thread when the loop is a
    #: `ferrosocket.EventLoop` (what `run()` and the CLI use), and on one I/O
    #: thread on any other loop.
    threads: int | None = _DEFAULTS["threads"]
    #: Seconds `close()`/shutdown waits for handlers to finish before
    #: cancelling them.
    shutdown_timeout: float = _DEFAULTS["shutdown_timeout"]
    #: Seconds between keepalive pings; None disables keepalive.
    ping_interval: float | None = _DEFAULTS["ping_interval"]
    #: Seconds an unanswered ping may wait before the peer is declared gone
    #: and the connection is closed with 1011; None never gives up.
    ping_timeout: float | None = _DEFAULTS["ping_timeout"]
    #: Close (1001) connections that received no data message for this many
    #: seconds (pings and pongs do not count); None never does.
    idle_timeout: float | None = _DEFAULTS["idle_timeout"]
    #: Seconds a peer may take no bytes while data waits for it; then it is
    #: dropped and the handler sees close code 1008.
    write_timeout: float = _DEFAULTS["write_timeout"]
    #: Browser origins allowed to connect, e.g. ("https://app.example.com",
    #: "https://*.example.com"); None allows all. Others get HTTP 403.
    allowed_origins: tuple[str, ...] | None = _DEFAULTS["allowed_origins"]
    #: With `allowed_origins`, also refuse requests without an Origin header.
    require_origin: bool = _DEFAULTS["require_origin"]
    #: Accept permessage-deflate (RFC 7692) when the client offers it.
    #: Compression runs on the engine's threads, never on the event loop.
    compression: bool = _DEFAULTS["compression"]
    #: zlib level 0-9; the default 6 is zlib's own (and websockets'): its ratio
    #: at about websockets' CPU or less. 1 or 3 trade ratio for CPU.
    compression_level: int = _DEFAULTS["compression_level"]
    #: zlib memory level 1-9 (per-connection compressor state ~ 2**(level+9) bytes).
    compression_mem_level: int = _DEFAULTS["compression_mem_level"]
    #: Largest LZ77 window (server_max_window_bits) we use, 8-15.
    compression_window_bits: int = _DEFAULTS["compression_window_bits"]
    #: Messages shorter than this many bytes go out uncompressed (0: all).
    compression_threshold: int = _DEFAULTS["compression_threshold"]

    # -- topics (ws.publish / server.publish; see ferrosocket.topics) --------
    #: Bytes buffered for one connection beyond which a published message is
    #: not queued for it: it is dropped for that connection (counted in
    #: ``ws.publish_dropped`` and ``server.stats()["publish_dropped"]``), or
    #: with `close_on_backpressure_limit` the connection is closed with 1013
    #: (try again later). 1 MiB by default: ~16,000 small messages of slack
    #: for a subscriber that falls behind, and a hard bound on what it can
    #: hold. A connection's own ``send_*()`` are not limited by it (they wait
    #: at `write_high_water`); one with nothing buffered always takes a message.
    backpressure_limit: int = _DEFAULTS["backpressure_limit"]
    #: Close a subscriber at its backpressure limit (1013) instead of
    #: dropping messages for it.
    close_on_backpressure_limit: bool = _DEFAULTS["close_on_backpressure_limit"]

    def __post_init__(self) -> None:
        origins = self.allowed_origins
        if origins is not None and not isinstance(origins, (str, bytes, tuple)):
            # Any iterable of strings, kept as a tuple so the config stays
            # hashable; anything else is left for the engine to refuse.
            try:
                object.__setattr__(self, "allowed_origins", tuple(origins))
            except TypeError:
                pass
        _native.check_config(self)


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
