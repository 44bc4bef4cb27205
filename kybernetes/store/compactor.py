"""Automatic compaction, the way kube-apiserver does it for etcd.

Every `interval` seconds, compact to the revision that was current one
interval ago. History therefore always covers at least the last interval (5
minutes by default, the window Kubernetes clients expect to be able to
resume a watch in) and at most two, so the database stays small however
long the cluster runs.
"""

from __future__ import annotations

import asyncio
import logging

from kybernetes.store.types import CompactedError, Store, StoreError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["DEFAULT_COMPACT_INTERVAL", "Compactor", "next_compaction"]

log = logging.getLogger(__name__)

DEFAULT_COMPACT_INTERVAL = 300.0


def next_compaction(previous_mark: int, compacted: int) -> int | None:
    """The revision to compact to now, given the revision seen one interval ago."""
    return previous_mark if previous_mark > compacted else None


class Compactor:
    """A supervised task that compacts `store` every `interval` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.compacted = 0

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="kyb-store-compactor"
            )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        mark = await self._store.current_revision()
        while True:
            await asyncio.sleep(self._interval)
            target = next_compaction(mark, self.compacted)
            mark = await self._store.current_revision()
            if target is None:
                continue
            try:
                await self._store.compact(target)
            except CompactedError:
                pass  # another server compacted further already
            except StoreError as err:
                log.warning("automatic compaction to revision %d failed: %s", target, err)
                continue
            self.compacted = target
