"""Supervised tasks: stopping one never swallows the caller's own cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["SHUTDOWN_GRACE", "cancel_and_wait", "run_to_completion"]

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel `task` and wait for it to end.

    `asyncio.wait` does not raise the task's CancelledError, so a
    cancellation of the caller itself still propagates as it should.
    """
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])


def run_to_completion(main: Coroutine[Any, Any, None], *, grace: float = SHUTDOWN_GRACE) -> None:
    """`asyncio.run`, except that tasks left behind get `grace` seconds to end, not forever.

    A process must exit once its main coroutine is done (a server that failed
    to bind its port, or was told to stop): asyncio.run would wait without end
    for a leftover task that does not finish when cancelled. Such tasks are
    named in the log instead, so they can be found and fixed.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            left = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in left:
                task.cancel()
            if left:
                _, stuck = loop.run_until_complete(asyncio.wait(left, timeout=grace))
                for task in stuck:
                    log.warning("task %s did not end within %.0f s of shutdown: exiting anyway",
                                task.get_name(), grace)  # fmt: skip
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
