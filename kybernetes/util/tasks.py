"""Supervised tasks: stopping one never swallows the caller's own cancellation."""

from __future__ import annotations

import asyncio

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel `task` and wait for it to end.

    `asyncio.wait` does not raise the task's CancelledError, so a
    cancellation of the caller itself still propagates as it should.
    """
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])
