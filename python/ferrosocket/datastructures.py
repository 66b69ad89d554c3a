"""Views of the upgrade request: URL, addresses, headers, query, cookies.

They follow Starlette's semantics (a `URL` object, ``(host, port)`` named
tuples, case-insensitive headers with `.raw` as bytes pairs, `getlist`,
`mutablecopy`, query parameters whose last value wins on indexing, cookies
parsed as Starlette parses them) so handlers ported from Starlette keep
working. Each is built on first use from the engine's plain data, so a
handler that reads none of them pays nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from http.cookies import _unquote  # type: ignore[attr-defined]
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

__all__ = ["Address", "URL", "Headers", "MutableHeaders", "QueryParams", "CloseCode", "parse_cookies"]


class Address(NamedTuple):
    """``(host, port)`` of one end of the connection."""

    host: str
    port: int


class URL:
    """A URL with its parts as attributes (`scheme`, `hostname`, `port`,
    `path`, `query`, …); compares equal to its string."""

    __slots__ = ("_url", "_parts")

    def __init__(self, url: str = "") -> None:
        self._url = url
        self._parts: SplitResult | None = None

    @property
    def components(self) -> SplitResult:
        """The `urllib.parse.urlsplit` result."""
        if self._parts is None:
            self._parts = urlsplit(self._url)
        return self._parts

    scheme = property(lambda self: self.components.scheme, doc="``ws`` or ``wss``.")
    netloc = property(lambda self: self.components.netloc, doc="``host[:port]`` as addressed.")
    path = property(lambda self: self.components.path, doc="The (percent-decoded) path.")
    query = property(lambda self: self.components.query, doc="The query string, without ``?``.")
    fragment = property(lambda self: self.components.fragment, doc="The fragment, if any.")
    username = property(lambda self: self.components.username, doc="The user part of the netloc.")
    password = property(lambda self: self.components.password, doc="The password part of the netloc.")
    hostname = property(lambda self: self.components.hostname, doc="The host, without the port.")
    port = property(lambda self: self.components.port, doc="The port if the URL names one.")

    @property
    def is_secure(self) -> bool:
        """True for ``wss`` and ``https``."""
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        """A copy with some parts replaced (`scheme`, `netloc`, `path`,
        `query`, `fragment`, or `hostname`/`port`/`username`/`password`)."""
        if {"username", "password", "hostname", "port"} & kwargs.keys():
            hostname = kwargs.pop("hostname", None)
            port = kwargs.pop("port", self.port)
            username = kwargs.pop("username", self.username)
            password = kwargs.pop("password", self.password)
            if hostname is None:
                netloc = self.netloc
                _, _, hostname = netloc.rpartition("@")
                if hostname[-1:] != "]":
                    hostname = hostname.rsplit(":", 1)[0]
            netloc = hostname if port is None else f"{hostname}:{port}"
            if username is not None:
                netloc = f"{username}{':' + password if password is not None else ''}@{netloc}"
            kwargs["netloc"] = netloc
        return URL(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        """A copy with these query parameters set (others kept)."""
        params = QueryParams(self.query).multi_items()
        params = [(k, v) for k, v in params if k not in kwargs] + [(k, str(v)) for k, v in kwargs.items()]
        return self.replace(query=urlencode(params))

    def remove_query_params(self, keys: str | Iterable[str]) -> URL:
        """A copy without these query parameters."""
        drop = {keys} if isinstance(keys, str) else set(keys)
        kept = [(k, v) for k, v in QueryParams(self.query).multi_items() if k not in drop]
        return self.replace(query=urlencode(kept))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"URL({self._url!r})"


def _latin1(b: bytes | str) -> str:
    return b.decode("latin-1") if isinstance(b, bytes) else b


class Headers(Mapping[str, str]):
    """Request headers: a case-insensitive mapping that keeps repeated names.

    Indexing gives the first value of a name; `getlist` every value;
    `keys()`, `values()` and `items()` list every pair (repeats included), and
    `.raw` is the ASGI form, ``(lower-cased name, value)`` bytes pairs.
    """

    __slots__ = ("_items",)

    def __init__(
        self,
        items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        raw: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        if raw is not None:
            self._items = [(_latin1(k).lower(), _latin1(v)) for k, v in raw]
        elif isinstance(items, Mapping):
            self._items = [(k.lower(), v) for k, v in items.items()]
        else:
            self._items = [(k.lower(), v) for k, v in items or ()]

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """``(lower-cased name, value)`` bytes pairs in the order sent."""
        return [(k.encode("latin-1"), v.encode("utf-8")) for k, v in self._items]

    def __getitem__(self, key: str) -> str:
        key = key.lower()
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        key = key.lower()
        return any(k == key for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every name, repeats included, in order."""
        return [k for k, _ in self._items]

    def values(self) -> list[str]:  # type: ignore[override]
        """Every value, in order."""
        return [v for _, v in self._items]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """Every ``(name, value)`` pair, in order."""
        return list(self._items)

    def getlist(self, key: str) -> list[str]:
        """Every value of `key`, in the order they were sent."""
        key = key.lower()
        return [v for k, v in self._items if k == key]

    def mutablecopy(self) -> MutableHeaders:
        """A `MutableHeaders` copy (e.g. to build response headers)."""
        return MutableHeaders(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return False
        return sorted(self._items) == sorted(other._items)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class MutableHeaders(Headers):
    """Headers that can be changed; setting a name replaces all its values."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        key = key.lower()
        kept = [(k, v) for k, v in self._items if k != key]
        self._items = kept + [(key, value)]

    def __delitem__(self, key: str) -> None:
        key = key.lower()
        if key not in self:
            raise KeyError(key)
        self._items = [(k, v) for k, v in self._items if k != key]

    def append(self, key: str, value: str) -> None:
        """Add a value, keeping the name's others."""
        self._items.append((key.lower(), value))

    def setdefault(self, key: str, value: str) -> str:
        """The first value of `key`, set to `value` first if there is none."""
        if key not in self:
            self.append(key, value)
        return self[key]

    def update(self, other: Mapping[str, str]) -> None:
        """Set every name of `other`."""
        for k, v in other.items():
            self[k] = v


class QueryParams(Mapping[str, str]):
    """Query string parameters; indexing gives a key's last value, `getlist`
    every value, `multi_items()` every pair."""

    __slots__ = ("_items", "_index")

    def __init__(self, query: str | bytes | Mapping[str, str] | Iterable[tuple[str, str]] = "") -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str):
            self._items = parse_qsl(query, keep_blank_values=True)
        elif isinstance(query, Mapping):
            self._items = [(str(k), str(v)) for k, v in query.items()]
        else:
            self._items = [(str(k), str(v)) for k, v in query]
        self._index = dict(self._items)

    def __getitem__(self, key: str) -> str:
        return self._index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def getlist(self, key: str) -> list[str]:
        """Every value of `key`, in order."""
        return [v for k, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeats included, in order."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueryParams):
            return False
        return sorted(self._items) == sorted(other._items)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return urlencode(self._items)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"


def parse_cookies(cookie: str) -> dict[str, str]:
    """The ``Cookie`` header as a dict, parsed as browsers send it (and as
    Starlette parses it): ``;``-separated ``name=value`` pairs, whitespace
    trimmed, quoted values unquoted, a later name overriding an earlier one,
    a bare value stored under the empty name."""
    cookies: dict[str, str] = {}
    for chunk in cookie.split(";"):
        name, eq, value = chunk.partition("=")
        if not eq:
            name, value = "", name
        name, value = name.strip(), value.strip()
        if name or value:
            cookies[name] = _unquote(value)
    return cookies


class CloseCode(enum.IntEnum):
    """RFC 6455 §7.4 close codes."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
