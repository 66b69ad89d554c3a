"""Small read-only views of the upgrade request: headers and query parameters.

They follow Starlette's semantics (case-insensitive headers, `getlist`, the
last value of a repeated query key wins on indexing) so handlers ported from
Starlette keep working.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl

__all__ = ["Headers", "QueryParams", "CloseCode"]


class Headers(Mapping[str, str]):
    """Request headers: a case-insensitive mapping that keeps repeated names."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = [(k.lower(), v) for k, v in items]
        self._index: dict[str, str] = {}
        for k, v in reversed(self._items):
            self._index[k] = v  # the first occurrence wins

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def getlist(self, key: str) -> list[str]:
        """Every value of `key`, in the order they were sent."""
        key = key.lower()
        return [v for k, v in self._items if k == key]

    def raw(self) -> list[tuple[str, str]]:
        """(lower-cased name, value) pairs in the order they were sent."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class QueryParams(Mapping[str, str]):
    """Query string parameters; `getlist` returns every value of a key."""

    __slots__ = ("_items", "_index")

    def __init__(self, query_string: str) -> None:
        self._items = parse_qsl(query_string, keep_blank_values=True)
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

    def __repr__(self) -> str:
        return f"QueryParams({self._items!r})"


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
