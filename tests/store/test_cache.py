"""The watch cache: one backend watch however many watchers, fresh reads, reloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.store import CompactedError, InvalidInputError, NotFoundError, WatchDroppedError
from kybernetes.store.cache import CachingStore, _CachedWatch
from kybernetes.store.sqlite.backend import SqliteStore
from tests.store.watching import WatchReader


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(str(tmp_path / "s.db"), compact_interval=0)
    yield store
    await store.close()


async def cached_over(backend: SqliteStore, prefixes: list[str]) -> CachingStore:
    cached = CachingStore(backend, prefixes)
    await cached.wait_ready()
    return cached


async def test_many_watchers_on_many_prefixes_share_one_backend_watch(backend: SqliteStore) -> None:
    cached = await cached_over(backend, ["/pods/", "/svc/"])
    start = await cached.current_revision()
    watches = [cached.watch("/pods/default/", after=start) for _ in range(100)]
    assert all(isinstance(w, _CachedWatch) for w in watches)
    assert backend._fanout.subscriber_count == 1  # one feed for every cached prefix
    kv = await cached.create("/pods/default/a", b"1")
    for watch in watches:
        assert [e.kv for e in await WatchReader(watch).events(1)] == [kv]
        await watch.close()


async def test_reads_see_every_acknowledged_write(backend: SqliteStore) -> None:
    cached = await cached_over(backend, ["/k/"])
    kv = await cached.create("/k/x", b"0")
    for i in range(200):
        kv = await cached.update("/k/x", str(i).encode(), expected_revision=kv.mod_revision)
        assert await cached.get("/k/x") == kv
        assert (await cached.list("/k/")).kvs == (kv,)


async def test_a_watch_inside_the_window_replays_from_memory(backend: SqliteStore) -> None:
    cached = await cached_over(backend, ["/w/"])
    first = await cached.create("/w/1", b"1")
    second = await cached.create("/w/2", b"2")
    await cached.get("/w/2")  # the cache has applied both
    watch = cached.watch("/w/", after=first.mod_revision)
    assert isinstance(watch, _CachedWatch)
    assert [e.kv for e in await WatchReader(watch).events(1)] == [second]
    await watch.close()


async def test_before_the_window_goes_to_the_backend(backend: SqliteStore) -> None:
    cached = await cached_over(backend, ["/c/"])
    one = await cached.create("/c/1", b"1")
    two = await cached.update("/c/1", b"2", expected_revision=one.mod_revision)
    await cached.compact(two.mod_revision)
    watch = cached.watch("/c/", after=one.mod_revision - 1)
    assert not isinstance(watch, _CachedWatch)
    with pytest.raises(CompactedError):
        await WatchReader(watch).next_batch()


async def test_paging_a_cached_list_continues_from_the_same_snapshot(backend: SqliteStore) -> None:
    cached = await cached_over(backend, ["/p/"])
    for i in range(5):
        await cached.create(f"/p/{i}", b"v")
    first = await cached.list("/p/", limit=2)
    await cached.delete("/p/3")
    rest = await cached.list("/p/", limit=10, continue_key=first.continue_key)
    assert [kv.key for kv in first.kvs + rest.kvs] == [f"/p/{i}" for i in range(5)]


async def test_a_broken_backend_watch_reloads_and_drops_cached_watchers(
    tmp_path: Path,
) -> None:
    backend = await SqliteStore.open(str(tmp_path / "s.db"), compact_interval=0,
                                     max_watch_buffer=5)  # fmt: skip
    cached = await cached_over(backend, ["/b/"])
    watch = cached.watch("/b/", after=await cached.current_revision())
    # The cache's own backend watch falls behind when the loop is starved
    # of turns; writes from one task in a tight batch overflow its buffer.
    await asyncio.gather(*(backend.create(f"/b/{i}", b"v") for i in range(50)))
    with pytest.raises(WatchDroppedError):
        await WatchReader(watch).events(60, timeout=10, exact=False)
    await cached.wait_ready()
    assert len((await cached.list("/b/")).kvs) == 50
    await cached.close()


async def test_writes_under_other_prefixes_do_not_stall_cached_reads(
    backend: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = await cached_over(backend, ["/k/", "/other/"])
    kv = await cached.create("/k/x", b"1")
    for i in range(20):
        await cached.create(f"/other/{i}", b"v")  # the store moves on; /k/ sees no event

    async def not_the_backend(*args: object, **kwargs: object) -> None:
        raise AssertionError("read went around the cache")

    monkeypatch.setattr(backend, "get", not_the_backend)
    # A progress notification brings /k/'s cache up to the store's revision.
    assert await cached.get("/k/x") == kv


async def test_writes_elsewhere_leave_a_cache_current_without_progress_notifications(
    backend: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etcd before 3.4.31/3.5.13 may send a progress notification ahead of
    events, so none is trusted: the one feed of every key still brings each
    prefix to the store's revision, and reads after writes to other prefixes
    (uncached ones too: custom resources) are answered from memory."""
    monkeypatch.setattr(backend, "reliable_progress", False)
    cached = await cached_over(backend, ["/k/", "/cached/"])
    kv = await cached.create("/k/x", b"1")
    for i in range(20):
        await cached.create(f"/cached/{i}", b"v")
        await cached.create(f"/uncached/{i}", b"v")

    async def caught_up() -> None:
        while cached._caches["/k/"].revision < backend.known_revision():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(caught_up(), 5)

    async def not_the_backend(*args: object, **kwargs: object) -> None:
        raise AssertionError("read went around the cache")

    monkeypatch.setattr(backend, "get", not_the_backend)
    monkeypatch.setattr(backend, "list", not_the_backend)
    assert await cached.get("/k/x") == kv
    assert (await cached.list("/k/")).kvs == (kv,)
    await cached.close()


async def test_peek_is_the_cache_as_it_is_and_catches_up_without_being_asked(
    backend: SqliteStore,
) -> None:
    cached = await cached_over(backend, ["/q/"])
    assert cached.peek("/q/ns/") == []
    assert cached.peek("/other/") is None  # no cache there: the caller reads the store
    kv = await cached.create("/q/ns/a", b"1")
    await cached.create("/q/nsx/b", b"2")

    async def peeked() -> list[object] | None:
        while cached.peek("/q/ns/") != [kv]:
            await asyncio.sleep(0.001)
        return cached.peek("/q/ns/")

    assert await asyncio.wait_for(peeked(), 5) == [kv]  # "/q/nsx/" is not under "/q/ns/"
    await cached.close()


async def test_later_pages_of_a_snapshot_are_that_snapshot_from_memory_or_the_backend(
    backend: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = await cached_over(backend, ["/p/"])
    made = [await cached.create(f"/p/{i}", b"v") for i in range(5)]
    first = await cached.list("/p/", limit=2)
    assert first.kvs == tuple(made[:2]) and first.continue_key
    backend_reads: list[str | None] = []
    real_list = backend.list

    async def counted(prefix: str, **kwargs: object) -> object:
        backend_reads.append(prefix)
        return await real_list(prefix, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "list", counted)
    second = await cached.list("/p/", continue_key=first.continue_key, limit=2)
    assert second.kvs == tuple(made[2:4]) and second.revision == first.revision
    assert backend_reads == []  # nothing changed: served from memory
    # A change under the prefix: the rest of the snapshot comes from the backend, unchanged.
    await cached.update("/p/4", b"new", expected_revision=made[4].mod_revision)
    await cached.get("/p/4")  # the cache has applied it
    third = await cached.list("/p/", continue_key=second.continue_key, limit=2)
    assert third.kvs == (made[4],) and backend_reads == ["/p/"]
    await cached.close()


async def test_get_now_answers_only_what_a_fresh_read_would(
    backend: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = await cached_over(backend, ["/k/"])
    kv = await cached.create("/k/x", b"0")
    for i in range(200):
        kv = await cached.update("/k/x", str(i).encode(), expected_revision=kv.mod_revision)
        now = cached.get_now("/k/x")
        assert now is None or now == kv  # never an older version
    assert await cached.get("/k/x") == kv  # waits for the cache to apply the write
    assert cached.get_now("/k/x") == kv
    with pytest.raises(NotFoundError):
        cached.get_now("/k/missing")
    assert cached.get_now("/other/x") is None  # not cached: ask get
    await backend.create("/other/x", b"1")  # moves the store on, maybe past the cache
    assert cached.get_now("/k/x") in (None, kv)  # never an older version
    held: list[object] = []
    monkeypatch.setattr(cached, "_follow", held.append)  # the feed applies nothing now
    await backend.create("/other/y", b"1")  # moves the store past what the cache has

    async def fed() -> None:  # the feed has the write, and leaves it unapplied
        while not held:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(fed(), 5)
    assert cached.get_now("/k/x") is None
    with pytest.raises(InvalidInputError):
        cached.get_now("/k/\x00")
