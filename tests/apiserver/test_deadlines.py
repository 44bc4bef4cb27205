"""Request deadlines on one shared timer (kybernetes/apiserver/deadlines.py)."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.apiserver.deadlines import Deadlines


async def test_work_past_its_deadline_ends_in_timeout_and_quicker_work_is_untouched() -> None:
    deadlines = Deadlines()
    assert await deadlines.run(5.0, asyncio.sleep(0, "done")) == "done"
    with pytest.raises(TimeoutError):
        await deadlines.run(0.02, asyncio.sleep(30))
    assert len(deadlines) == 0
    assert await deadlines.run(5.0, asyncio.sleep(0.03, "after")) == "after"  # not cancelled


async def test_a_shorter_deadline_fires_before_a_longer_one_set_first() -> None:
    deadlines = Deadlines()
    slow = asyncio.create_task(deadlines.run(60.0, asyncio.sleep(30)))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await deadlines.run(0.02, asyncio.sleep(30))
    assert loop.time() - started < 5  # did not wait for the 60 s timer
    assert not slow.done()  # the longer deadline is still running
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert len(deadlines) == 0


async def test_every_request_whose_deadline_passed_ends() -> None:
    deadlines = Deadlines()
    runs = [asyncio.create_task(deadlines.run(0.01 * (i + 1), asyncio.sleep(30))) for i in range(5)]
    results = await asyncio.gather(*runs, return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results)


async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(deadlines.run(60.0, asyncio.sleep(30)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(deadlines) == 0


async def test_work_that_swallows_its_deadline_leaves_no_cancellation_behind() -> None:
    deadlines = Deadlines()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "kept going"
        return "slept"

    async def request() -> str:
        result = await deadlines.run(0.01, stubborn())
        await asyncio.sleep(0.02)  # a cancellation still counted would land here
        return result

    task = asyncio.create_task(request())
    assert await task == "kept going"
    assert task.cancelling() == 0
