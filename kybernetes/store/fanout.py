"""Fan-out of committed events to watchers, on the event loop.

The writer publishes each committed batch once; every subscriber gets the
events under its prefix appended to its own bounded buffer. Publishing never
waits on a subscriber: one that lets its buffer fill is dropped with
`WatchDroppedError` naming the last revision it is complete up to, so it can
watch again from there without a gap (kine's broadcaster drops slow
subscribers the same way). Subscribers with the same prefix share one filter
pass, which is what keeps 1000 watchers on one resource cheap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from kybernetes.store.types import (
    Event,
    StoreClosedError,
    StoreError,
    WatchBatch,
    WatchDroppedError,
)

__all__ = ["Fanout", "Subscriber"]

DEFAULT_MAX_BUFFERED = 50_000


class Subscriber:
    """One watcher's buffer of batches, filled by `Fanout.publish`."""

    def __init__(self, prefix: str, revision: int, max_buffered: int) -> None:
        self.prefix = prefix
        # Every event under the prefix with revision <= `complete_through`
        # is in the buffer or was already taken from it.
        self.complete_through = revision
        self._max_buffered = max_buffered
        self._buffered = 0
        self._batches: deque[WatchBatch] = deque()
        self._error: StoreError | None = None
        self._waiter: asyncio.Future[None] | None = None

    def _push(self, batch: WatchBatch) -> None:
        self._batches.append(batch)
        self._buffered += len(batch.events)
        self._wake()

    def _offer(self, events: tuple[Event, ...], revision: int) -> bool:
        """Add a published batch; False when this subscriber overflowed."""
        if self._error is not None:
            return True
        if events:
            if self._buffered + len(events) > self._max_buffered:
                self._fail(WatchDroppedError(self.prefix, self.complete_through))
                return False
            self._push(WatchBatch(events, events[-1].revision))
        self.complete_through = revision
        return True

    def push_progress(self) -> None:
        """Queue a progress notification at the revision we are complete up to."""
        if self._error is None:
            self._push(WatchBatch((), self.complete_through))

    def _fail(self, error: StoreError) -> None:
        if self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_batch(self) -> WatchBatch:
        """The oldest buffered batch; raises the subscriber's error once drained."""
        while True:
            if self._batches:
                batch = self._batches.popleft()
                self._buffered -= len(batch.events)
                return batch
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class Fanout:
    """Publishes committed events, in revision order, to prefix subscribers."""

    def __init__(self, revision: int, *, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self.revision = revision
        self._max_buffered = max_buffered
        self._by_prefix: dict[str, set[Subscriber]] = {}
        self._closed = False

    def subscribe(self, prefix: str) -> Subscriber:
        """A subscriber that gets every event after the current revision."""
        sub = Subscriber(prefix, self.revision, self._max_buffered)
        if self._closed:
            sub._fail(StoreClosedError())
        else:
            self._by_prefix.setdefault(prefix, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        group = self._by_prefix.get(sub.prefix)
        if group is not None:
            group.discard(sub)
            if not group:
                del self._by_prefix[sub.prefix]

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._by_prefix.values())

    def publish(self, events: Iterable[Event], revision: int) -> None:
        """Deliver a committed batch whose last revision is `revision`."""
        batch = tuple(events)
        for prefix, group in list(self._by_prefix.items()):
            matching = (
                batch if not prefix else tuple(e for e in batch if e.kv.key.startswith(prefix))
            )
            for sub in list(group):
                if not sub._offer(matching, revision):
                    group.discard(sub)
            if not group:
                del self._by_prefix[prefix]
        self.revision = revision

    def close(self, error: StoreError | None = None) -> None:
        """End every subscription with `error` (default: the store closed)."""
        self._closed = True
        for group in self._by_prefix.values():
            for sub in group:
                sub._fail(error or StoreClosedError())
        self._by_prefix.clear()
