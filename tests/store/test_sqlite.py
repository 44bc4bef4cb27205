"""What only the embedded SQLite backend promises: durability, group commit,
compaction that keeps the file small, a healthy WAL, and slow watchers dropped."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from kybernetes.store import WatchDroppedError, open_store
from kybernetes.store.sqlite.backend import SqliteStore
from tests.store.watching import WatchReader


def log_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        return count


async def test_data_and_revisions_survive_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/state.db?compact_interval=0"
    store = await open_store(url)
    kv = await store.create("/a", b"1")
    gone = await store.create("/b", b"2")
    deleted = await store.delete("/b")
    await store.close()

    store = await open_store(url)
    try:
        assert await store.get("/a") == kv
        assert await store.current_revision() == deleted.mod_revision
        again = await store.create("/b", b"3")
        assert again.mod_revision == deleted.mod_revision + 1
        assert gone.mod_revision < again.mod_revision
    finally:
        await store.close()


async def test_revisions_never_reused_after_compacting_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStore.open(str(path), compact_interval=0)
    kv = await store.create("/only", b"x")
    deleted = await store.delete("/only")
    await store.compact(deleted.mod_revision)
    await store.close()
    assert log_rows(path) == 0

    store = await SqliteStore.open(str(path), compact_interval=0)
    try:
        again = await store.create("/only", b"y")
        assert again.mod_revision == deleted.mod_revision + 1 > kv.mod_revision
    finally:
        await store.close()


async def test_concurrent_writers_share_commits(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        before = store._writer.commits
        await asyncio.gather(*(store.create(f"/g/{i}", b"v") for i in range(200)))
        commits = store._writer.commits - before
        assert 1 <= commits < 200, f"{commits} commits for 200 concurrent writes"
    finally:
        await store.close()


async def test_failed_writes_in_a_batch_do_not_disturb_the_others(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        await store.create("/dup", b"v")
        results = await asyncio.gather(
            *(store.create("/dup" if i % 2 else f"/ok/{i}", b"v") for i in range(20)),
            return_exceptions=True,
        )
        oks = [r for r in results if not isinstance(r, BaseException)]
        assert len(oks) == 10
        revisions = sorted(kv.mod_revision for kv in oks)
        assert revisions == list(range(revisions[0], revisions[0] + 10))
    finally:
        await store.close()


async def test_automatic_compaction_keeps_the_database_small(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await open_store(f"sqlite://{path}?compact_interval=0.2")
    try:
        kv = await store.create("/hot", b"0")
        for i in range(1, 1500):
            kv = await store.update("/hot", str(i).encode(), expected_revision=kv.mod_revision)
        async with asyncio.timeout(10):
            while log_rows(path) > 10:
                await asyncio.sleep(0.1)
                await store.update("/hot", b"tick", expected_revision=kv.mod_revision)
                kv = await store.get("/hot")
        assert (await store.get("/hot")).value == b"tick"
    finally:
        await store.close()


async def test_wal_stays_bounded_under_constant_readers(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStore.open(str(path), compact_interval=0, wal_limit=1024 * 1024)
    stop = asyncio.Event()

    async def reader() -> int:
        reads = 0
        while not stop.is_set():
            await store.list("/w/", limit=5)
            reads += 1
        return reads

    readers = [asyncio.create_task(reader()) for _ in range(8)]
    try:
        value = b"x" * 2048
        for batch in range(40):
            await asyncio.gather(*(store.create(f"/w/{batch}/{i}", value) for i in range(100)))
        wal = os.path.getsize(f"{path}-wal")
    finally:
        stop.set()
        reads = sum(await asyncio.gather(*readers))
        await store.close()
    assert reads > 0
    # 8 MB were written; without the truncating checkpoint the WAL keeps them all.
    assert wal < 4 * 1024 * 1024, f"WAL grew to {wal} bytes"


async def test_slow_watcher_is_dropped_without_blocking_writers(tmp_path: Path) -> None:
    store = await SqliteStore.open(
        str(tmp_path / "state.db"), compact_interval=0, max_watch_buffer=50
    )
    try:
        start = await store.current_revision()
        slow = WatchReader(store.watch("/s/", after=start))
        first = await store.create("/s/first", b"v")
        assert [e.kv for e in await slow.events(1)] == [first]
        # The watcher stops reading; writers must not wait for it.
        async with asyncio.timeout(10):
            for i in range(200):
                await store.create(f"/s/{i}", b"v")
        seen = [first.mod_revision]
        with pytest.raises(WatchDroppedError) as err:
            while True:
                batch = await slow.next_batch()
                seen.extend(e.revision for e in batch.events)
        assert err.value.last_revision == seen[-1]
        # Watching again from the last revision seen gives the rest, no gap.
        resumed = WatchReader(store.watch("/s/", after=err.value.last_revision))
        rest = await resumed.events(201 - len(seen), exact=False)
        await resumed.watch.close()
        revisions = seen + [e.revision for e in rest]
        assert revisions == list(range(first.mod_revision, first.mod_revision + 201))
    finally:
        await store.close()
