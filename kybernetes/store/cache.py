"""A watch cache in front of any store: one store watch per prefix, many readers.

What kube-apiserver's cacher does, as a `Store` wrapper so every layer above
stays unchanged and the conformance suite can check it: for each cached
prefix (one per resource type), the current state and a window of recent
events in memory, loaded by one list per prefix at one revision and kept by
one backend watch of every key (the feed). Watches that start inside the
window are served from memory (one fan-out per prefix, instead of one
backend watch each), and latest-revision reads are served from memory once
the cache has caught up with the backend's current revision, so a read never
returns something older than a write that was acknowledged before it. As
the feed sees every write, its revision reaches the store's without progress
notifications, which old etcd sends ahead of events (`reliable_progress`).

Everything else (reads at a past revision, continue keys, writes,
compaction) goes to the backend. If the feed breaks, every prefix is loaded
again; meanwhile reads and watches go to the backend.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable

from kybernetes.store import keys
from kybernetes.store.fanout import Fanout, Subscriber
from kybernetes.store.types import (
    Event,
    EventKind,
    KeyValue,
    ListResult,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreError,
    Watch,
    WatchBatch,
    WatchDroppedError,
)
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["CachingStore"]

log = logging.getLogger(__name__)

WINDOW_EVENTS = 10_000
CATCH_UP_WAIT = 3.0
RELOAD_DELAY = 0.5
FEED_PREFIX = "/"  # every key: the feed sees every write to the store


class _PrefixCache:
    """The state and recent events of one prefix, kept by the store's one feed."""

    def __init__(self, prefix: str, changed: asyncio.Condition) -> None:
        self.prefix = prefix
        self.items: dict[str, KeyValue] = {}
        self.sorted_keys: list[str] = []
        self.window: deque[Event] = deque(maxlen=WINDOW_EVENTS)
        self.revision = 0  # every event up to here is applied
        self.window_start = 0  # the window holds every event after this revision
        self.ready = False
        self.fanout = Fanout(0)
        self._changed = changed  # shared by every prefix: one wake-up per batch
        self._watch: Watch | None = None  # the feed's, for progress requests

    def load(self, items: dict[str, KeyValue], snapshot: int) -> None:
        """Hold `items`, the prefix as it was at `snapshot`."""
        self.items = items
        self.sorted_keys = sorted(items)
        self.window.clear()
        self.revision = self.window_start = snapshot
        self.fanout = Fanout(snapshot)
        self.ready = True

    def forget_through(self, revision: int) -> None:
        """What the backend compacted away is not served from memory either, so
        a watch from a compacted revision fails the same way everywhere."""
        if revision <= self.window_start:
            return
        self.window_start = revision
        while self.window and self.window[0].revision <= revision:
            self.window.popleft()

    def unready(self) -> None:
        self.ready = False
        self._watch = None
        # Watchers served from the old state are dropped; they watch again.
        self.fanout.close(WatchDroppedError(self.prefix, self.revision))
        self.fanout = Fanout(0)

    def follow(self, events: tuple[Event, ...], revision: int) -> None:
        """A batch of the feed: this prefix's `events` (maybe none) up to `revision`."""
        if events:
            self._apply(events)
        self.revision = max(self.revision, revision)
        self.fanout.publish(events, self.revision)

    def _apply(self, events: Iterable[Event]) -> None:
        for event in events:
            key = event.kv.key
            if event.kind is EventKind.DELETED:
                if self.items.pop(key, None) is not None:
                    index = bisect.bisect_left(self.sorted_keys, key)
                    del self.sorted_keys[index]
            else:
                if key not in self.items:
                    bisect.insort(self.sorted_keys, key)
                self.items[key] = event.kv
            if len(self.window) == self.window.maxlen:
                self.window_start = self.window[0].revision
            self.window.append(event)

    async def caught_up(self, revision: int, *, ask_progress: bool = True) -> bool:
        """Wait until the cache has applied `revision`; False if it cannot soon."""
        if self.ready and self.revision >= revision:
            return True
        if self.ready and self._watch is not None and ask_progress:
            # Writes outside the feed's range (another user of the store) move
            # its revision but send no event: a progress notification tells how
            # far the feed has seen.
            await self._watch.request_progress()
        try:
            async with asyncio.timeout(CATCH_UP_WAIT), self._changed:
                await self._changed.wait_for(lambda: self.ready and self.revision >= revision)
        except TimeoutError:
            return False
        return True

    def page(self, start: str, end: str, limit: int) -> tuple[list[KeyValue], str | None, int]:
        """Keys in [start, end) from memory: up to `limit`, the next key, the rest's count."""
        low = bisect.bisect_left(self.sorted_keys, start)
        high = bisect.bisect_left(self.sorted_keys, end) if end else len(self.sorted_keys)
        stop = min(high, low + limit) if limit else high
        kvs = [self.items[k] for k in self.sorted_keys[low:stop]]
        next_key = self.sorted_keys[stop] if stop < high else None
        return kvs, next_key, high - stop


def _cached_item(cache: _PrefixCache, key: str) -> KeyValue:
    kv = cache.items.get(key)
    if kv is None:
        raise NotFoundError(key)
    return kv


class CachingStore(Store):
    """`store` with a watch cache on each of `prefixes` (see the module docstring)."""

    def __init__(self, store: Store, prefixes: Iterable[str]) -> None:
        self.backend = store
        self.reliable_progress = store.reliable_progress
        self._changed = asyncio.Condition()
        self._caches = {p: _PrefixCache(p, self._changed) for p in sorted(set(prefixes))}
        self._slash_ended = all(p.startswith("/") and p.endswith("/") for p in self._caches)
        self._closed = False
        self._feed = asyncio.get_running_loop().create_task(self._run(), name="kyb-watch-cache")

    # -- the feed: one backend watch over every key, for every prefix ---------
    #
    # One watch of the whole store (not one per prefix) makes its revision the
    # store's own once it has delivered the last write, whatever prefix that
    # write was under: a cache can tell it is current without a progress
    # notification, which etcd before 3.4.31/3.5.13 may send ahead of events.

    async def _run(self) -> None:
        if not self._caches:
            return  # nothing to keep
        while True:
            try:
                await self._load_and_follow()
            except asyncio.CancelledError:
                raise
            except StoreClosedError:
                return
            except StoreError as err:
                log.info("watch cache restarts: %s", err)
            except Exception:
                log.exception("watch cache failed; restarting")
            for cache in self._caches.values():
                cache.unready()
            await asyncio.sleep(RELOAD_DELAY)

    async def _load_and_follow(self) -> None:
        prefixes = list(self._caches)
        # Every prefix as of one revision, the first list's.
        first, snapshot = await self._load(prefixes[0], 0)
        rest = await asyncio.gather(*(self._load(p, snapshot) for p in prefixes[1:]))
        for prefix, (items, _) in zip(prefixes, [(first, snapshot), *rest], strict=True):
            self._caches[prefix].load(items, snapshot)
        await self._notify()
        async with self.backend.watch(FEED_PREFIX, after=snapshot) as watch:
            for cache in self._caches.values():
                cache._watch = watch
            async for batch in watch:
                self._follow(batch)
                await self._notify()

    async def _load(self, prefix: str, revision: int) -> tuple[dict[str, KeyValue], int]:
        page = await self.backend.list(prefix, revision=revision)
        items: dict[str, KeyValue] = {}
        while True:
            items.update((kv.key, kv) for kv in page.kvs)
            if page.continue_key is None:
                return items, page.revision
            page = await self.backend.list(prefix, continue_key=page.continue_key)

    def _follow(self, batch: WatchBatch) -> None:
        """Each prefix gets its events of `batch` (most get none) and its revision."""
        mine: dict[str, list[Event]] = {}
        for event in batch.events:
            for cache in self._caches_of(event.kv.key):
                mine.setdefault(cache.prefix, []).append(event)
        for prefix, cache in self._caches.items():
            events = mine.get(prefix)
            cache.follow(tuple(events) if events else (), batch.revision)

    def _caches_of(self, key: str) -> list[_PrefixCache]:
        """Every cache whose prefix `key` is under (prefixes may nest)."""
        if self._slash_ended:
            found = []
            end = key.find("/")
            while end != -1:
                cache = self._caches.get(key[: end + 1])
                if cache is not None:
                    found.append(cache)
                end = key.find("/", end + 1)
            return found
        return [cache for prefix, cache in self._caches.items() if key.startswith(prefix)]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_ready(self) -> None:
        """Wait until every prefix is loaded (before that, the backend serves)."""
        for cache in self._caches.values():
            await cache.caught_up(0)

    def _cache_for(self, key_or_prefix: str) -> _PrefixCache | None:
        """The cache of the shortest cached prefix `key_or_prefix` starts with."""
        if self._slash_ended:
            # A few dict lookups, one per "/" of the key, instead of a test per prefix.
            end = key_or_prefix.find("/")
            while end != -1:
                cache = self._caches.get(key_or_prefix[: end + 1])
                if cache is not None:
                    return cache
                end = key_or_prefix.find("/", end + 1)
            return None
        for prefix, cache in self._caches.items():
            if key_or_prefix.startswith(prefix):
                return cache
        return None

    def peek(self, prefix: str) -> list[KeyValue] | None:
        """What the watch cache holds under `prefix` now, without waiting for it
        to apply writes it has not seen yet: an informer's view, behind the store
        by the moment an event takes to arrive. None without a loaded cache."""
        cache = self._loaded(prefix)
        return None if cache is None else cache.page(prefix, keys.prefix_end(prefix), 0)[0]

    def peek_key(self, key: str) -> KeyValue | None:
        """`key` as `peek` sees it; None if the cache lacks it or is not loaded."""
        cache = self._loaded(key)
        return None if cache is None else cache.items.get(key)

    def holds(self, key: str) -> bool:
        """Whether a loaded watch cache answers for `key` (then `peek_key`'s None
        means the key is not there, as an informer's lister would say)."""
        return self._loaded(key) is not None

    def _loaded(self, prefix: str) -> _PrefixCache | None:
        """The prefix's cache while it holds the prefix's state; None otherwise."""
        cache = None if self._closed else self._cache_for(prefix)
        return cache if cache is not None and cache.ready else None

    async def _fresh(self, key_or_prefix: str) -> _PrefixCache | None:
        """The cache to read from, caught up with every acknowledged write; or None."""
        if self._closed:
            raise StoreClosedError()
        cache = self._cache_for(key_or_prefix)
        if cache is None or not cache.ready:
            return None
        current = await self.backend.current_revision()
        if not self.backend.reliable_progress:
            # Without trustworthy progress notifications, current only once the
            # feed has delivered the store's last write (if someone else writes
            # outside the feed's keys, never: the backend answers).
            return cache if cache.ready and cache.revision >= current else None
        return cache if await cache.caught_up(current) else None

    # -- reads ---------------------------------------------------------------

    def get_now(self, key: str) -> KeyValue | None:
        """`get(key)` from memory when that needs no wait (the backend knows its
        current revision without a round trip, and the cache has applied it);
        None otherwise: ask `get`. Raises NotFoundError as `get` does."""
        keys.check_key(key)
        if self._closed:
            raise StoreClosedError()
        current = self.backend.known_revision()
        cache = self._cache_for(key)
        if current is None or cache is None or not cache.ready or cache.revision < current:
            return None
        return _cached_item(cache, key)

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        keys.check_key(key)
        keys.check_revision(revision)
        cache = None if revision else await self._fresh(key)
        if cache is None:
            return await self.backend.get(key, revision=revision)
        return _cached_item(cache, key)

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_key: str | None = None,
    ) -> ListResult:
        snapshot, start = keys.list_start(prefix, revision, limit, continue_key)
        if snapshot:
            cache = self._unchanged_since(prefix, snapshot)
        else:
            cache = await self._fresh(prefix)
            snapshot = cache.revision if cache is not None else 0
        if cache is None:
            return await self.backend.list(
                prefix, revision=revision, limit=limit, continue_key=continue_key
            )
        kvs, next_key, remaining = cache.page(start, keys.prefix_end(prefix), limit)
        # Later pages read this snapshot: from memory while nothing under the
        # prefix has changed since (kubectl's pages of 500), else from the backend.
        token = keys.encode_continue(snapshot, next_key) if next_key else None
        return ListResult(tuple(kvs), snapshot, token, remaining)

    def _unchanged_since(self, prefix: str, revision: int) -> _PrefixCache | None:
        """The cache, if what it holds now is the prefix as it was at `revision`:
        it has applied everything up to there and nothing under the prefix
        changed after (nor was compacted away)."""
        cache = self._loaded(prefix)
        if cache is None or revision > cache.revision:
            return None
        last_change = cache.window[-1].revision if cache.window else 0
        return cache if max(last_change, cache.window_start) <= revision else None

    async def current_revision(self) -> int:
        return await self.backend.current_revision()

    def known_revision(self) -> int | None:
        return self.backend.known_revision()

    # -- writes go to the backend --------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self.backend.create(key, value)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        return await self.backend.update(key, value, expected_revision=expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return await self.backend.delete(key, expected_revision=expected_revision)

    async def compact(self, revision: int) -> None:
        await self.backend.compact(revision)
        for cache in self._caches.values():
            cache.forget_through(revision)

    def known_compacted(self) -> int | None:
        return self.backend.known_compacted()

    # -- watches -------------------------------------------------------------

    def watch(self, prefix: str, *, after: int) -> Watch:
        keys.check_prefix(prefix)
        keys.check_revision(after, "after")
        cache = self._cache_for(prefix)
        compacted = self.backend.known_compacted()
        if cache is not None and compacted is not None:
            cache.forget_through(compacted)  # another process of the server compacted
        if self._closed or cache is None or not cache.ready or after < cache.window_start:
            return self.backend.watch(prefix, after=after)
        return _CachedWatch(cache, prefix, after)

    async def stop_caching(self) -> None:
        """Stop the caches and refuse further use; the backend stays open."""
        self._closed = True
        await cancel_and_wait(self._feed)
        for cache in self._caches.values():
            cache.fanout.close()

    async def close(self) -> None:
        await self.stop_caching()
        await self.backend.close()


class _CachedWatch(Watch):
    """Replays the window after `after`, then follows the cache's fan-out."""

    def __init__(self, cache: _PrefixCache, prefix: str, after: int) -> None:
        self.prefix = prefix
        self._after = after
        self._fanout = cache.fanout
        self._sub: Subscriber = cache.fanout.subscribe(prefix)
        # Subscribed at the cache's revision: the window supplies (after, here].
        through = self._sub.complete_through
        self._replay = [
            e for e in cache.window
            if after < e.revision <= through and e.kv.key.startswith(prefix)
        ]  # fmt: skip
        self._closed = False

    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[WatchBatch]:
        try:
            if self._replay:
                yield WatchBatch(tuple(self._replay), self._replay[-1].revision)
                self._replay = []
            while not self._closed:
                try:
                    batch = await self._sub.next_batch()
                except StoreClosedError:
                    if self._closed:
                        return
                    raise
                if batch.is_progress:
                    # Never a bookmark below the revision this watch started after.
                    yield WatchBatch((), max(batch.revision, self._after))
                    continue
                events = tuple(e for e in batch.events if e.revision > self._after)
                if events:  # else: from before the revision this watch started after
                    yield WatchBatch(events, batch.revision)
        finally:
            self._fanout.unsubscribe(self._sub)

    async def request_progress(self) -> None:
        self._sub.push_progress()

    async def close(self) -> None:
        self._closed = True
        self._fanout.unsubscribe(self._sub)
        self._sub._fail(StoreClosedError())
