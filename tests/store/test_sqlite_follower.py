"""A second API process's SQLite store (`SqliteStore.follow`): it writes through
the server's writer process, hears every commit, and never reads older than
a write the other process acknowledged. The conformance suite runs on it too
(the `follower` backends in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.store.cache import CachingStore
from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.sqlite.board import RevisionBoard
from kybernetes.store.types import CompactedError, EventKind, StoreUnavailableError
from tests.store.conftest import following
from tests.store.watching import WatchReader


@pytest.fixture
async def leader(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        yield store
    finally:
        await store.close()


def test_a_board_shows_what_was_published_to_every_mapping_of_it() -> None:
    board = RevisionBoard.create()
    other = RevisionBoard(os.dup(board.fd))
    try:
        assert (other.revision(), other.compacted()) == (0, 0)
        board.publish(7, 3)
        assert (other.revision(), other.compacted()) == (7, 3)
        board.publish(2**40 + 3, 2**40)
        assert (other.revision(), other.compacted()) == (2**40 + 3, 2**40)
    finally:
        other.close()
        board.close()


async def test_what_one_process_wrote_the_other_reads_at_once_from_its_cache(
    leader: SqliteStore,
) -> None:
    async with following(leader) as follower:
        near = CachingStore(leader, ["/"])
        far = CachingStore(follower, ["/"])
        await near.wait_ready()
        await far.wait_ready()
        try:
            for i in range(100):
                # Each read right after the other process's acknowledgement.
                written = await leader.create(f"/a/{i}", b"from the server")
                assert (await far.get(f"/a/{i}")).mod_revision == written.mod_revision
                written = await follower.create(f"/b/{i}", b"from the other process")
                assert (await near.get(f"/b/{i}")).mod_revision == written.mod_revision
            listed = await far.list("/")
            assert len(listed.kvs) == 200
            assert listed.revision == leader.known_revision() == follower.known_revision()
        finally:
            await far.stop_caching()
            await near.stop_caching()


async def test_a_follower_watch_sees_both_processes_writes_once_each_in_order(
    leader: SqliteStore,
) -> None:
    async with following(leader) as follower:
        start = follower.known_revision()
        for i in range(5):
            await leader.create(f"/w/leader-{i}", b"x")
            await follower.create(f"/w/follower-{i}", b"y")
        await follower.delete("/w/leader-0")
        seen = []
        async with follower.watch("/w/", after=start) as watch:
            async for batch in watch:
                seen += [(e.kind, e.kv.key, e.revision) for e in batch.events]
                if len(seen) >= 11:
                    break
        assert [key for _, key, _ in seen[:10]] == [
            key for i in range(5) for key in (f"/w/leader-{i}", f"/w/follower-{i}")
        ]
        assert seen[10][:2] == (EventKind.DELETED, "/w/leader-0")
        revisions = [revision for _, _, revision in seen]
        assert revisions == sorted(set(revisions))


async def test_a_follower_whose_writer_died_says_so_and_refuses_writes(
    leader: SqliteStore,
) -> None:
    lost: list[StoreUnavailableError] = []
    link, board_fd = leader.add_follower()
    follower = await SqliteStore.follow(
        leader.path, link=link, board_fd=os.dup(board_fd), on_lost=lost.append
    )
    try:
        await follower.create("/k", b"before")
        process = leader._writer._proc  # type: ignore[union-attr]
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            while not lost:
                await asyncio.sleep(0.01)
        assert "writer process" in str(lost[0])
        with pytest.raises(StoreUnavailableError):
            await follower.create("/k2", b"after")
        # The server's own store goes on with a new writer; a new follower joins it.
        async with asyncio.timeout(10):
            while True:
                try:
                    await leader.create("/k3", b"again")
                    break
                except StoreUnavailableError:
                    await asyncio.sleep(0.05)
        async with following(leader) as again:
            assert (await again.get("/k3")).value == b"again"
            await again.create("/k4", b"through the new writer")
    finally:
        await follower.close()


async def test_a_compaction_by_one_process_ends_old_watches_on_the_other_at_once(
    leader: SqliteStore,
) -> None:
    async with following(leader) as follower:
        far = CachingStore(follower, ["/"])
        await far.wait_ready()
        try:
            one = await leader.create("/wc", b"1")
            two = await leader.update("/wc", b"2", expected_revision=one.mod_revision)
            assert (await far.get("/wc")).mod_revision == two.mod_revision  # in its window
            await leader.compact(two.mod_revision)
            # No write since: the compaction reached the other process on the board.
            async with far.watch("/wc", after=one.mod_revision - 1) as watch:
                with pytest.raises(CompactedError):
                    await WatchReader(watch).next_batch()
        finally:
            await far.stop_caching()
