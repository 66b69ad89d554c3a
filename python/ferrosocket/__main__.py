"""Command line: ``python -m ferrosocket [module:app] [--host H] [--port P]``.

With no app it serves the built-in demo: a chat page at ``/``, the chat
WebSocket at ``/chat`` and an echo at ``/echo``. Every `WebSocketConfig`
setting has a flag of the same name (``max_message_size`` is
``--max-message-size``), generated from the dataclass so the two never drift;
`_HELP` says what each one means, in which unit.

Mistakes end with one line on stderr naming what is wrong and where, and the
usual exit codes: 2 when the command line names something that is not there
or not usable (an unknown module or attribute, a handler that is not
``async``, ``--loop uvloop`` without uvloop), 1 when the command is right but
serving fails (a busy port, an unreadable certificate).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import Any, NoReturn

from . import _native
from .config import HTTPResponse, WebSocketConfig
from .server import run
from .supervisor import WorkerStartError

PROG = "python -m ferrosocket"

# Settings whose value None means "off"; on the command line 0 says that.
_OFF_IS_ZERO = {"ping_interval", "ping_timeout", "idle_timeout"}

# What each setting means, in which --help group. A setting missing here
# still gets its flag, under "other settings".
_HELP: dict[str, tuple[str, str]] = {
    "threads": ("server", "tokio I/O threads for sockets and framing (default: none, on the loop's thread)"),
    "max_connections": ("server", "open connections beyond which upgrades get HTTP 503"),
    "allowed_origins": ("server", "allowed browser Origin, repeatable, wildcards like https://*.x.com (default: all)"),
    "require_origin": ("server", "with --origin, also refuse requests that send no Origin header"),
    "max_message_size": ("limits", "largest message after reassembly, bytes; beyond it the connection closes (1009)"),
    "max_frame_size": ("limits", "largest single frame, bytes (1009 beyond)"),
    "max_queue": ("limits", "messages queued for the handler before the engine stops reading the socket"),
    "max_queue_bytes": ("limits", "queued bytes at which reading pauses as well"),
    "write_high_water": ("limits", "buffered outbound bytes above which sends wait"),
    "write_low_water": ("limits", "buffered outbound bytes at which waiting sends resume"),
    "max_request_line": ("limits", "longest HTTP request line, bytes (431 beyond)"),
    "max_headers_size": ("limits", "largest HTTP header block, bytes (431 beyond)"),
    "max_headers": ("limits", "most HTTP headers in a request (431 beyond)"),
    "backpressure_limit": ("limits", "bytes buffered for one subscriber past which published messages are dropped"),
    "close_on_backpressure_limit": ("limits", "close a subscriber at its backpressure limit (1013), not drop"),
    "close_timeout": ("timeouts", "seconds to wait for the peer's close frame after ours"),
    "handshake_timeout": ("timeouts", "seconds a client has to send its upgrade request"),
    "shutdown_timeout": ("timeouts", "seconds handlers get on shutdown before they are cancelled"),
    "ping_interval": ("timeouts", "seconds between keepalive pings, 0 disables"),
    "ping_timeout": ("timeouts", "seconds a ping may go unanswered before closing with 1011, 0 waits forever"),
    "idle_timeout": ("timeouts", "seconds without a data message before closing with 1001, 0 disables"),
    "write_timeout": ("timeouts", "seconds a peer may take no bytes while data waits, then dropped (1008)"),
    "compression": ("compression", "accept permessage-deflate when a client offers it"),
    "compression_level": ("compression", "zlib level 0-9 (1 or 3: less CPU, larger messages)"),
    "compression_mem_level": ("compression", "zlib memory level 1-9 (state per connection ~ 2**(level+9) bytes)"),
    "compression_window_bits": ("compression", "largest LZ77 window we use, 8-15 (bits)"),
    "compression_threshold": ("compression", "messages shorter than this many bytes go out uncompressed"),
}
_GROUPS = ["server", "limits", "timeouts", "compression", "TLS", "broker", "logging", "other settings"]


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n} = {n // scale} {unit}"
    return str(n)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr and the exit code (2: bad arguments, 1: failure)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _where(obj: Any) -> str:
    """``file.py:line`` of a function, or its repr."""
    code = getattr(obj, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else repr(obj)


def _raised_at(exc: BaseException) -> str:
    """`` at file.py:line``: the last frame outside the import machinery."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _is_async(target: Any) -> bool:
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isroutine(target) or inspect.isclass(target):
        return False
    return inspect.iscoroutinefunction(type(target).__call__)  # an object with `async def __call__`


def _check_handler(handler: Any, what: str) -> None:
    if not callable(handler):
        fail(f"{what} is {handler!r}, not a handler: it must be an async function taking a WebSocket", 2)
    if not _is_async(handler):
        name = getattr(handler, "__name__", "handler")
        fail(f"{what} ({_where(handler)}) is not async: declare it 'async def {name}(ws)'", 2)


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (dots allowed in the attribute) and check
    that it is an async handler or a mapping of paths to them and pages."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        fail(f"app must look like 'module:handler', got {spec!r}", 2)
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):  # the module itself, or its package
            fail(f"no module named {module_name!r} (looked in the current directory and sys.path)", 2)
        fail(f"importing {module_name!r} failed{_raised_at(exc)}: {exc}", 1)
    where = getattr(target, "__file__", None) or module_name
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            fail(f"module {module_name!r} ({where}) has no attribute {attr!r}", 2)
    if isinstance(target, Mapping):
        for path, route in target.items():
            if not isinstance(route, HTTPResponse):
                _check_handler(route, f"route {path!r} of {spec}")
    else:
        _check_handler(target, spec)
    return target


def _add_config_flags(groups: dict[str, argparse._ArgumentGroup]) -> None:
    for field in dataclasses.fields(WebSocketConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        group_name, meaning = _HELP.get(field.name, ("other settings", field.name.replace("_", " ")))
        group = groups[group_name]
        if field.name == "allowed_origins":
            group.add_argument("--origin", action="append", dest="allowed_origins", metavar="URL", help=meaning)
        elif isinstance(default, bool):
            shown = "on" if default else "off"
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=f"{meaning} [{shown}]"
            )
        elif field.name in _OFF_IS_ZERO:
            shown = default if default is not None else 0
            group.add_argument(flag, type=float, default=default or 0.0, metavar="S", help=f"{meaning} [{shown}]")
        elif default is None:  # a count that may be unset (threads)
            group.add_argument(flag, type=int, default=None, metavar="N", help=meaning)
        elif isinstance(default, float):
            group.add_argument(flag, type=float, default=default, metavar="S", help=f"{meaning} [{default}]")
        else:
            in_bytes = any(word in field.name for word in ("size", "bytes", "water"))
            shown = _size(default) if in_bytes else default
            group.add_argument(flag, type=type(default), default=default, metavar="N", help=f"{meaning} [{shown}]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a WebSocket app (module:handler or module:routes), or with no app the demo chat. "
        "Defaults are in brackets; S is seconds, N a count or bytes.",
    )
    groups = {name: parser.add_argument_group(name) for name in _GROUPS}
    server = groups["server"]
    server.add_argument("app", nargs="?", help="module:handler or module:routes to serve (default: the built-in demo)")
    server.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1]; 0.0.0.0 for every interface")
    server.add_argument("--port", type=int, default=8765, help="TCP port to bind [8765]; 0 picks a free one")
    server.add_argument("--uds", metavar="PATH", help="listen on this Unix domain socket instead of host:port")
    server.add_argument("--fd", type=int, help="serve on this already listening socket descriptor (systemd)")
    server.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"], help="event loop [asyncio]")
    server.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes serving one port, restarted when they die; they share topics "
        "through a local bus, or through --broker [1]",
    )
    server.add_argument(
        "--shutdown-code",
        type=int,
        default=1001,
        choices=[1001, 1012],
        help="close code sent to clients on SIGTERM/SIGINT: 1001 going away, 1012 service restart [1001]",
    )
    tls = groups["TLS"]
    tls.add_argument("--ssl-certfile", metavar="PEM", help="certificate chain file: serve wss:// (and https:// pages)")
    tls.add_argument("--ssl-keyfile", metavar="PEM", help="private key file for --ssl-certfile")
    broker = groups["broker"]
    broker.add_argument(
        "--broker",
        metavar="URL",
        help="share topics with other servers: redis://[user:password@]host:port/db, rediss://..., "
        "or ferrosocket+unix:///path.sock (a ferrosocket.Bus hub)",
    )
    broker.add_argument(
        "--broker-prefix",
        default="ferrosocket:",
        metavar="PREFIX",
        help="broker channel name = PREFIX + topic [ferrosocket:]",
    )
    log = groups["logging"]
    log.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="least severe lines logged [info]",
    )
    log.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one line per connection opened, closed or refused [on]",
    )
    _add_config_flags(groups)
    for group in groups.values():  # drop empty groups from --help
        if not group._group_actions:
            parser._action_groups.remove(group)
    return parser


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


def _bind_error(args: argparse.Namespace, exc: OSError) -> str:
    where = f"unix:{args.uds}" if args.uds else f"fd {args.fd}" if args.fd is not None else f"{args.host}:{args.port}"
    text = str(exc)
    if "in use" in text:
        hint = "another server is running there: stop it, or pick another --port (0 picks a free one)"
        return f"cannot listen on {where}: address already in use; {hint}"
    if "assign requested address" in text:
        return f"cannot listen on {where}: {args.host} is not an address of this machine"
    if "ermission denied" in text:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    return f"cannot serve on {where}: {text}"


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
        fail("--ssl-certfile and --ssl-keyfile go together: give both", 2)
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        fail("--loop uvloop needs the uvloop package, which is not installed (pip install uvloop)", 2)
    if args.workers < 1:
        fail(f"--workers must be at least 1, got {args.workers}", 2)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.broker is not None:
        try:
            _native.check_broker(args.broker)
        except ValueError as exc:
            fail(f"--broker: {exc}", 2)

    sys.path.insert(0, ".")
    if args.app is None:
        from .examples import demo

        app: Any = demo
    else:
        app = load_app(args.app)  # in the supervisor too: a bad app fails once, here
    if args.workers > 1:
        app = args.app or "ferrosocket.examples:demo"  # each worker imports it
    listen: dict[str, Any] = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile, "unix": args.uds}
    if args.broker is not None:
        listen["broker"] = args.broker
        listen["broker_prefix"] = args.broker_prefix
    if args.fd is not None:
        try:
            listen["sock"] = socket.socket(fileno=args.fd)
        except OSError as exc:
            fail(f"--fd {args.fd} is not a usable socket: {exc.strerror or exc}", 2)
    try:
        run(
            app,
            args.host,
            args.port,
            config=config,
            log_level=args.log_level,
            access_log=args.access_log,
            loop=args.loop,
            workers=args.workers,
            shutdown_code=args.shutdown_code,
            **listen,
        )
    except WorkerStartError as exc:  # the worker printed why; the supervisor logged it
        raise SystemExit(exc.exit_code) from None
    except OSError as exc:  # only start-up raises: handlers' errors are logged
        fail(_bind_error(args, exc), 1)
    except ValueError as exc:  # e.g. TLS with only one of the two files
        fail(str(exc), 2)


if __name__ == "__main__":
    main()
