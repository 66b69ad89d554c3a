"""The request half of `WebSocket`: URL, addresses, headers, query, cookies,
path parameters and the ASGI scope, with Starlette's types.

Kept apart from `websocket.py` because none of it is per message: every
value is built from the engine's plain data on first read and cached in the
`WebSocket`'s slots, so a handler that reads nothing pays nothing.

The mixin declares no slots of its own (``__slots__ = ()``) so that it can
sit beside other mixins of `WebSocket`; its attributes are `WebSocket`'s
slots, hence the ``type: ignore[misc]`` on each cache assignment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from . import _native
from .asgi import build_scope
from .datastructures import URL, Address, Headers, QueryParams, parse_cookies

__all__ = ["RequestData"]

_DEFAULT_PORTS = {"ws": 80, "wss": 443}


class RequestData:
    """Request data of a `WebSocket` (a mixin; the slots are the subclass's)."""

    __slots__ = ()

    _c: _native.Connection
    _headers: Headers | None
    _query: QueryParams | None
    _path_params: dict[str, Any] | None
    _scope: dict[str, Any] | None
    _cookies: dict[str, str] | None

    @property
    def path(self) -> str:
        """The request path as sent (not percent-decoded), without the query."""
        return self._c.path

    @property
    def query_string(self) -> str:
        """The raw query string, without ``?``."""
        return self._c.query_string

    @property
    def query_params(self) -> QueryParams:
        """Parsed query parameters (`getlist`, `multi_items`)."""
        if self._query is None:
            self._query = QueryParams(self._c.query_string)  # type: ignore[misc]
        return self._query

    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive; `.raw` as bytes pairs)."""
        if self._headers is None:
            self._headers = Headers(self._c.headers)  # type: ignore[misc]
        return self._headers

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies of the first ``Cookie`` header, as Starlette parses them."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.get("cookie", ""))  # type: ignore[misc]
        return self._cookies

    @property
    def path_params(self) -> dict[str, Any]:
        """Values of the route pattern's holes (``/rooms/{room_id}``),
        converted by their convertors; empty for a literal route."""
        if self._path_params is None:
            self._path_params = {}  # type: ignore[misc]
        return self._path_params

    @property
    def client(self) -> Address | None:
        """``(host, port)`` of the client (None on a Unix socket)."""
        client = self._c.client
        return None if client is None else Address(*client)

    @property
    def server(self) -> Address | None:
        """``(host, port)`` the client connected to."""
        server = self._c.server
        return None if server is None else Address(*server)

    @property
    def subprotocols(self) -> list[str]:
        """Subprotocols the client offered, in its order of preference."""
        return self._c.subprotocols

    def _url_for(self, path: str, query: str) -> URL:
        scheme = "wss" if self._c.tls else "ws"
        host = self.headers.get("host")
        server = self._c.server
        if host:
            url = f"{scheme}://{host}{path}"
        elif server is None:
            url = path
        else:
            name, port = server
            url = f"{scheme}://{name}{path}" if _DEFAULT_PORTS[scheme] == port else f"{scheme}://{name}:{port}{path}"
        return URL(url + (f"?{query}" if query else ""))

    @property
    def url(self) -> URL:
        """``ws://host/path?query`` as the client addressed it (a `URL`;
        ``str(ws.url)`` for the string). The path is percent-decoded, as
        Starlette's is."""
        return self._url_for(unquote(self._c.path), self._c.query_string)

    @property
    def base_url(self) -> URL:
        """``ws://host/``: the URL of the server's root."""
        return self._url_for("/", "")

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI ``websocket`` scope (type, asgi, scheme, path, raw_path,
        query_string, root_path, headers, client, server, subprotocols,
        path_params), built on first read."""
        if self._scope is None:
            self._scope = build_scope(self)  # type: ignore[arg-type,misc]
        return self._scope
