"""Automatic compaction: the decision, and the task against a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kybernetes.store.compactor import Compactor, next_compaction
from kybernetes.store.sqlite.backend import SqliteStore


def test_compacts_to_the_revision_seen_one_interval_ago() -> None:
    assert next_compaction(previous_mark=50, compacted=10) == 50
    assert next_compaction(previous_mark=10, compacted=10) is None
    assert next_compaction(previous_mark=0, compacted=0) is None


async def test_compactor_keeps_one_interval_of_history(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "s.db"), compact_interval=0)
    compactor = Compactor(store, 0.1)
    try:
        first = await store.create("/a", b"1")
        compactor.start()
        async with asyncio.timeout(5):
            while compactor.compacted < first.mod_revision:
                await store.create(f"/tick/{await store.current_revision()}", b"")
                await asyncio.sleep(0.02)
        # Revisions from the last interval are still readable.
        latest = await store.current_revision()
        assert compactor.compacted < latest
        assert (await store.list("/", revision=compactor.compacted)).revision == compactor.compacted
    finally:
        await compactor.stop()
        await store.close()
