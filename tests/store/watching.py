"""Test helpers for reading watches with a deadline instead of sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kybernetes.store import Event, Watch, WatchBatch

DEADLINE = 10.0


class WatchReader:
    """Pulls batches from one watch; every wait has a deadline."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self._it: AsyncIterator[WatchBatch] = watch.__aiter__()
        self.batches: list[WatchBatch] = []

    async def next_batch(self, timeout: float = DEADLINE) -> WatchBatch:
        batch = await asyncio.wait_for(self._it.__anext__(), timeout)
        self.batches.append(batch)
        return batch

    async def events(
        self, count: int, timeout: float = DEADLINE, *, exact: bool = True
    ) -> list[Event]:
        """`count` events (more if `exact` is False and a batch holds more).

        Progress notifications are skipped.
        """
        got: list[Event] = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                batch = await self.next_batch(timeout)
                got.extend(batch.events)
        assert len(got) == count or not exact, f"expected {count} events, got {len(got)}: {got}"
        return got

    async def progress(self, timeout: float = DEADLINE) -> WatchBatch:
        """The next progress notification, skipping event batches."""
        async with asyncio.timeout(timeout):
            while True:
                batch = await self.next_batch(timeout)
                if batch.is_progress:
                    return batch

    async def nothing_for(self, seconds: float) -> None:
        """Assert no event arrives within `seconds` (used only for negatives)."""
        try:
            batch = await self.next_batch(seconds)
        except TimeoutError:
            return
        assert batch.is_progress, f"unexpected events: {batch.events}"
