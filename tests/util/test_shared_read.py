"""A read shared by concurrent callers never answers one with a value read before it asked."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.util.shared_read import SharedRead


class _Counter:
    """A store's revision: `read` takes a round trip and returns the value at its start."""

    def __init__(self) -> None:
        self.value = 0
        self.gate = asyncio.Event()
        self.started = 0

    async def read(self) -> int:
        value = self.value
        self.started += 1
        await self.gate.wait()
        return value


async def test_callers_that_ask_at_once_share_one_read() -> None:
    counter = _Counter()
    shared = SharedRead(counter.read)
    callers = [asyncio.create_task(shared()) for _ in range(50)]
    await asyncio.sleep(0)
    counter.gate.set()
    assert await asyncio.gather(*callers) == [0] * 50
    assert shared.reads == 1


async def test_a_caller_that_asks_during_a_read_waits_for_the_next() -> None:
    """The read out started before the write: its value would be stale for
    the caller that asked after the write was acknowledged."""
    counter = _Counter()
    shared = SharedRead(counter.read)
    early = asyncio.create_task(shared())
    while not counter.started:
        await asyncio.sleep(0)
    counter.value = 7  # a write acknowledged while the first read is out
    late = [asyncio.create_task(shared()) for _ in range(10)]
    await asyncio.sleep(0)
    counter.gate.set()
    assert await early == 0
    assert await asyncio.gather(*late) == [7] * 10
    assert shared.reads == 2


async def test_every_caller_hears_the_error_of_its_read() -> None:
    async def failing() -> int:
        await asyncio.sleep(0)
        raise ConnectionError("etcd is down")

    shared = SharedRead(failing)
    results = await asyncio.gather(*(shared() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert shared.reads == 1


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others() -> None:
    counter = _Counter()
    shared = SharedRead(counter.read)
    quitter = asyncio.create_task(shared())
    stayer = asyncio.create_task(shared())
    await asyncio.sleep(0)
    quitter.cancel()
    counter.gate.set()
    assert await stayer == 0
    with pytest.raises(asyncio.CancelledError):
        await quitter


async def test_close_cancels_the_callers_it_leaves() -> None:
    counter = _Counter()
    shared = SharedRead(counter.read)
    caller = asyncio.create_task(shared())
    while not counter.started:
        await asyncio.sleep(0)
    await shared.close()
    with pytest.raises(asyncio.CancelledError):
        await caller
