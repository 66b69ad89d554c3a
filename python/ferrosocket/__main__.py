"""Command line: ``python -m ferrosocket [module:app] [--host H] [--port P]``.

With no app it serves the built-in demo: a chat page at ``/``, the chat
WebSocket at ``/chat`` and an echo at ``/echo``. Every `WebSocketConfig`
setting has a flag of the same name (``max_message_size`` is
``--max-message-size``), generated from the dataclass so the two never drift.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import socket
import sys
from typing import Any

from .config import WebSocketConfig
from .server import run

# Settings whose value None means "off"; on the command line 0 says that.
_OFF_IS_ZERO = {"ping_interval", "ping_timeout", "idle_timeout"}


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


def _config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (WebSocketConfig; defaults in brackets)")
    for field in dataclasses.fields(WebSocketConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if field.name == "allowed_origins":
            group.add_argument(
                "--origin", action="append", dest="allowed_origins", help="allowed Origin, repeatable (https://*.x.com)"
            )
        elif isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f"[{default}]")
        elif field.name in _OFF_IS_ZERO:
            group.add_argument(flag, type=float, default=default or 0.0, help=f"seconds, 0 disables [{default}]")
        else:
            group.add_argument(flag, type=type(default), default=default, help=f"[{default}]")


def config_from_args(args: argparse.Namespace) -> WebSocketConfig:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(WebSocketConfig):
        value = getattr(args, field.name)
        if field.name in _OFF_IS_ZERO:
            value = value or None
        elif field.name == "allowed_origins" and value is not None:
            value = tuple(value)
        values[field.name] = value
    return WebSocketConfig(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ferrosocket", description=__doc__.splitlines()[0])
    parser.add_argument("app", nargs="?", help="module:handler or module:routes (default: the built-in demo)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 picks one)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"], help="event loop")
    parser.add_argument("--ssl-certfile", help="PEM certificate chain: serve wss://")
    parser.add_argument("--ssl-keyfile", help="PEM private key for --ssl-certfile")
    parser.add_argument("--uds", help="listen on this Unix domain socket path instead of host:port")
    parser.add_argument("--fd", type=int, help="serve on this already listening socket descriptor (systemd)")
    _config_flags(parser)
    args = parser.parse_args(argv)

    sys.path.insert(0, ".")
    if args.app is None:
        from .examples import demo

        app = demo
    else:
        app = load_app(args.app)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    listen: dict[str, Any] = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile, "unix": args.uds}
    if args.fd is not None:
        listen["sock"] = socket.socket(fileno=args.fd)
    run(app, args.host, args.port, config=config, log_level=args.log_level, loop=args.loop, **listen)


if __name__ == "__main__":
    main()
