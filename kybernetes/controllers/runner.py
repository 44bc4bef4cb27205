"""How every controller runs: caches first, then workers beside its Event writer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.workqueue import WorkQueue, run_workers
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["run_controller"]

K = TypeVar("K", bound=Hashable)


async def run_controller(
    *,
    queue: WorkQueue[K],
    sync: Callable[[K], Awaitable[None]],
    workers: int,
    informers: tuple[Informer, ...],
    events: EventRecorder | None = None,
) -> None:
    """Wait until `informers` synced, then sync keys until cancelled or the queue shuts down."""
    try:
        await InformerFactory.wait_synced(*informers)
        if events is None:
            await run_workers(queue, sync, workers)
            return
        writer = asyncio.create_task(events.run(), name=f"kyb-{events.component}-events")
        try:
            await run_workers(queue, sync, workers)
        finally:
            await cancel_and_wait(writer)
    finally:
        await queue.shutdown()
