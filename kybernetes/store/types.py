"""The store contract: an etcd-v3-shaped revisioned key/value log.

Every backend (SQLite, etcd, ...) implements `Store`; the conformance suite in
`tests/store/test_conformance.py` holds them all to the same behaviour. The
shapes follow etcd v3 because the API server's semantics (resourceVersion,
watch from a revision, 410 Gone) are etcd's: one global revision counter,
compare-and-swap on a key's modification revision, watches that deliver every
event after a revision exactly once and in order.

Revisions: every successful write gets the next revision. A watch started
`after` revision R delivers the events with revision > R. Reads and watches
below the compacted revision fail with `CompactedError`; reads ahead of the
store fail with `FutureRevisionError`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "AlreadyExistsError",
    "CompactedError",
    "ConflictError",
    "Event",
    "EventKind",
    "FutureRevisionError",
    "InvalidInputError",
    "KeyValue",
    "ListResult",
    "NotFoundError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "Watch",
    "WatchBatch",
    "WatchDroppedError",
]

# etcd's default --max-request-bytes is 1.5 MiB; a value above it would be
# refused by an etcd backend, so every backend refuses it the same way.
MAX_VALUE_BYTES = 1536 * 1024
MAX_KEY_BYTES = 3072


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of a key: its value and the revisions that made it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventKind(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Event:
    """A change to one key.

    For DELETED, `kv.value` is the last value the key had and
    `kv.mod_revision` is the revision of the delete. `prev` is the version the
    change replaced (None for CREATED).
    """

    kind: EventKind
    kv: KeyValue
    prev: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """What a watch yields: events in revision order, never splitting one.

    A batch with no events is a progress notification: every event with a
    revision <= `revision` under the watched prefix has been delivered.
    """

    events: tuple[Event, ...]
    revision: int

    @property
    def is_progress(self) -> bool:
        return not self.events


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a prefix list, read at one snapshot `revision`.

    `continue_key` is set when more keys follow: pass it back to `Store.list`
    to read the next page from the same snapshot.
    """

    kvs: tuple[KeyValue, ...]
    revision: int
    continue_key: str | None
    remaining: int = 0


class StoreError(Exception):
    """Base of every error a store raises on purpose."""


class NotFoundError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class AlreadyExistsError(StoreError):
    def __init__(self, key: str, current: KeyValue | None = None) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key
        self.current = current


class ConflictError(StoreError):
    """A compare-and-swap lost: the key is no longer at the expected revision."""

    def __init__(self, key: str, expected: int, current: KeyValue | None) -> None:
        now = current.mod_revision if current else "deleted"
        super().__init__(
            f"key {key!r} was modified: expected revision {expected}, now {now}; "
            "read it again and retry"
        )
        self.key = key
        self.expected = expected
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the oldest revision kept."""

    def __init__(self, requested: int, compacted: int = 0) -> None:
        oldest = f" (oldest kept is {compacted})" if compacted else ""
        super().__init__(
            f"revision {requested} has been compacted{oldest}; list again to get a current revision"
        )
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StoreError):
    """The requested revision is ahead of the store."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is ahead of the store (current is {current})")
        self.requested = requested
        self.current = current


class InvalidInputError(StoreError, ValueError):
    """A key or value of the wrong type or size; nothing was written."""


class WatchDroppedError(StoreError):
    """The watcher fell too far behind and was dropped.

    Watch again with `after=last_revision` to resume without a gap.
    """

    def __init__(self, prefix: str, last_revision: int) -> None:
        super().__init__(
            f"watch on {prefix!r} fell behind and was dropped after revision "
            f"{last_revision}; watch again from that revision"
        )
        self.prefix = prefix
        self.last_revision = last_revision


class StoreClosedError(StoreError):
    def __init__(self) -> None:
        super().__init__("the store is closed")


class StoreUnavailableError(StoreError):
    """The backend could not be reached; a write's outcome may be unknown."""


class Watch(abc.ABC):
    """An open watch: iterate it for batches; close it when done.

    Iteration ends with an exception: `CompactedError` if the start revision
    is gone, `WatchDroppedError` if the watcher fell behind, or
    `StoreClosedError` when the store shuts down. `close()` ends it quietly.
    """

    prefix: str

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[WatchBatch]: ...

    @abc.abstractmethod
    async def request_progress(self) -> None:
        """Ask for a progress notification (a bookmark) on this watch."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Store(abc.ABC):
    """The one async interface every backend implements."""

    #: Whether a progress notification (`Watch.request_progress`) is never
    #: ahead of an event still to be delivered on that watch. etcd before
    #: 3.4.31 / 3.5.13 can send one ahead (etcd#15220); a store that cannot
    #: promise it makes its callers fall back to safer, slower paths.
    reliable_progress: bool = True

    @abc.abstractmethod
    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        """The key's value at `revision` (0: latest). Raises NotFoundError."""

    @abc.abstractmethod
    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_key: str | None = None,
    ) -> ListResult:
        """Keys under `prefix` in key order, at one snapshot revision.

        `limit` 0 means no limit. `continue_key` from an earlier page fixes
        both the snapshot revision and the start key.
        """

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> KeyValue:
        """Write a new key. Raises AlreadyExistsError if it exists."""

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Replace the value if the key's mod_revision is `expected_revision`.

        Raises NotFoundError if the key does not exist and ConflictError
        (carrying the current version) if it moved on.
        """

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete the key (only at `expected_revision` when it is non-zero).

        Returns the deleted version with `mod_revision` set to the revision of
        the delete.
        """

    @abc.abstractmethod
    def watch(self, prefix: str, *, after: int) -> Watch:
        """Watch keys under `prefix` for events with revision > `after`."""

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget history below `revision`; reads at or above it still work."""

    @abc.abstractmethod
    async def current_revision(self) -> int: ...

    def known_revision(self) -> int | None:
        """`current_revision()` when this store knows it without a round trip
        (an embedded one); None when only asking tells (etcd, a remote store)."""
        return None

    def known_compacted(self) -> int | None:
        """The revision compacted through, when this store knows it without a
        round trip (whoever compacted: another process of the server too);
        None when only asking tells."""
        return None

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
