"""Values kept per key: made from one version of something (`VersionMemo`),
or from the key alone (`Memo`, with `json_key` for values as keys)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import orjson

__all__ = ["KEY_BYTES", "Memo", "VersionMemo", "json_key"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Bounded(Generic[K, V]):
    """A dict bounded without bookkeeping: once `limit` keys are held, the
    next one drops them all (what is asked again is made again)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._kept: dict[K, V] = {}

    def _keep(self, key: K, value: V) -> None:
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[key] = value

    def __len__(self) -> int:
        return len(self._kept)


class Memo(_Bounded[K, V]):
    """Values by key (bounded as `_Bounded` is)."""

    def get(self, key: K) -> V | None:
        return self._kept.get(key)

    def put(self, key: K, value: V) -> None:
        self._keep(key, value)


class VersionMemo(_Bounded[K, tuple[int, V]]):
    """One value per key, for the version it was made from: another version
    misses (bounded as `_Bounded` is)."""

    def get(self, key: K, version: int) -> V | None:
        kept = self._kept.get(key)
        return kept[1] if kept is not None and kept[0] == version else None

    def put(self, key: K, version: int, value: V) -> None:
        self._keep(key, (version, value))


KEY_BYTES = 32 * 1024


def json_key(value: Any) -> bytes | None:
    """`value`'s JSON as a key for what depends on the value alone: equal
    values, equal keys (the same map in another key order only misses).
    None when it cannot be written (an int beyond 64 bits, from YAML or
    protobuf) or is over KEY_BYTES (not worth keeping). NaN would be written
    as null, but no body holds one: JSON and YAML bodies with one are 400s."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None
    return text if len(text) <= KEY_BYTES else None
