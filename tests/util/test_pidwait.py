"""Waiting on a process through a pidfd (kybernetes/util/pidwait.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from kybernetes.util.pidwait import process_ended


@contextlib.asynccontextmanager
async def sleeper() -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def test_returns_when_the_process_ends_and_not_before() -> None:
    async with sleeper() as process:
        waiting = asyncio.create_task(process_ended(process.pid, lambda: True))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # alive: still waiting
        process.kill()
        async with asyncio.timeout(10):
            await waiting


async def test_a_bounded_wait_times_out_on_a_live_process() -> None:
    async with sleeper() as process:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await process_ended(process.pid, lambda: True)


async def test_returns_at_once_for_a_process_gone_or_no_longer_ours() -> None:
    done = await asyncio.create_subprocess_exec("true")
    await done.wait()  # reaped: the pid names nothing now
    async with asyncio.timeout(5):
        await process_ended(done.pid, lambda: True)
    async with sleeper() as process, asyncio.timeout(5):
        await process_ended(process.pid, lambda: False)  # alive, but not the one meant
