"""The cluster store: a revisioned, watchable key/value log (see types.py)."""

from kybernetes.store.types import (
    MAX_VALUE_BYTES,
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    Event,
    EventKind,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    ListResult,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    Watch,
    WatchBatch,
    WatchDroppedError,
)


async def open_store(url: str) -> Store:
    """Open the backend the URL names (registry.py)."""
    # Imported here: the backends bring asyncio, which the SQLite writer
    # process (this package's too) would otherwise load for nothing.
    from kybernetes.store.registry import open_store as open_backend

    return await open_backend(url)


__all__ = [
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
    "open_store",
]
