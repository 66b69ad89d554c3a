"""Command line: ``python -m ferrosocket [module:app] [--host H] [--port P]``.

With no app it serves the built-in demo: a chat page at ``/``, the chat
WebSocket at ``/chat`` and an echo at ``/echo``.
"""

from __future__ import annotations

import argparse
import importlib
import socket
import sys
from typing import Any

from .config import WebSocketConfig
from .server import run


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (dots allowed in the attribute)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"error: app must look like 'module:handler', got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"error: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SystemExit(f"error: {module_name!r} has no attribute {attr!r}") from None
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ferrosocket", description=__doc__.splitlines()[0])
    parser.add_argument("app", nargs="?", help="module:handler or module:routes (default: the built-in demo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 picks one)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"], help="event loop")
    parser.add_argument("--threads", type=int, default=1, help="tokio I/O threads (default 1)")
    parser.add_argument("--max-message-size", type=int, default=WebSocketConfig.max_message_size)
    parser.add_argument("--max-connections", type=int, default=WebSocketConfig.max_connections)
    parser.add_argument("--ping-interval", type=float, default=20.0, help="keepalive ping seconds (0 disables)")
    parser.add_argument("--ping-timeout", type=float, default=20.0, help="seconds to wait for a pong (0: forever)")
    parser.add_argument("--idle-timeout", type=float, default=0.0, help="close idle connections (0 disables)")
    parser.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    parser.add_argument("--compression-threshold", type=int, default=0, help="send messages below N bytes plain")
    parser.add_argument("--origin", action="append", help="allowed Origin (repeatable; https://*.example.com ok)")
    parser.add_argument("--ssl-certfile", help="PEM certificate chain: serve wss://")
    parser.add_argument("--ssl-keyfile", help="PEM private key for --ssl-certfile")
    parser.add_argument("--uds", help="listen on this Unix domain socket path instead of host:port")
    parser.add_argument("--fd", type=int, help="serve on this already listening socket descriptor (systemd)")
    args = parser.parse_args(argv)

    sys.path.insert(0, ".")
    if args.app is None:
        from .examples import demo

        app = demo
    else:
        app = load_app(args.app)
    config = WebSocketConfig(
        threads=args.threads,
        max_message_size=args.max_message_size,
        max_connections=args.max_connections,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout or None,
        idle_timeout=args.idle_timeout or None,
        allowed_origins=tuple(args.origin) if args.origin else None,
        compression=not args.no_compression,
        compression_threshold=args.compression_threshold,
    )
    listen: dict[str, object] = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile, "unix": args.uds}
    if args.fd is not None:
        listen["sock"] = socket.socket(fileno=args.fd)
    run(app, args.host, args.port, config=config, log_level=args.log_level, loop=args.loop, **listen)


if __name__ == "__main__":
    main()
