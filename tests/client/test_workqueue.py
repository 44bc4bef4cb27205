"""The work queue: client-go's rules, driven by a fake clock instead of sleeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from kybernetes.client.workqueue import (
    ExponentialBackoff,
    FakeClock,
    QueueShutDown,
    TokenBucket,
    WorkQueue,
    run_workers,
)


async def eventually(condition: Callable[[], bool], *, within: float = 2.0) -> None:
    """Let the loop run until `condition` holds, failing after `within` real seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0)


async def take_all(queue: WorkQueue[str]) -> list[str]:
    """Everything waiting, in order, each taken and marked done as a worker would."""
    keys = []
    while len(queue):
        key = await queue.get()
        queue.done(key)
        keys.append(key)
    return keys


async def test_a_waiting_key_is_not_added_twice() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    for key in ["ns/a", "ns/b", "ns/a", "ns/a", "ns/b", "ns/c"]:
        queue.add(key)
    assert len(queue) == 3
    assert await take_all(queue) == ["ns/a", "ns/b", "ns/c"]


async def test_a_key_added_while_processing_waits_for_done() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("ns/a")
    key = await queue.get()
    queue.add("ns/a")
    queue.add("ns/a")
    assert len(queue) == 0  # parked behind the worker, not handed to another
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "ns/a"


async def test_two_workers_never_process_one_key_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    active = 0
    overlapped = False
    calls = 0
    release_first = asyncio.Event()

    async def worker(key: str) -> None:
        nonlocal active, overlapped, calls
        calls += 1
        active += 1
        overlapped |= active > 1
        if calls == 1:
            # Re-added mid-sync: the other worker is idle, yet must not take it.
            queue.add(key)
            await release_first.wait()
        active -= 1

    runner = asyncio.create_task(run_workers(queue, worker, 2))
    queue.add("ns/a")
    await eventually(lambda: calls == 1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert calls == 1
    release_first.set()
    await eventually(lambda: calls == 2 and active == 0)
    assert not overlapped
    await queue.shutdown_with_drain()
    await runner


async def test_delayed_adds_come_out_in_deadline_order() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/late", 3.0)
    queue.add_after("ns/early", 1.0)
    queue.add_after("ns/middle", 2.0)
    queue.add_after("ns/now", 0)
    assert await take_all(queue) == ["ns/now"]

    await clock.advance(0.5)
    assert len(queue) == 0
    await clock.advance(1.0)
    await eventually(lambda: len(queue) == 1)
    await clock.advance(5.0)
    await eventually(lambda: len(queue) == 3)
    assert await take_all(queue) == ["ns/early", "ns/middle", "ns/late"]
    await queue.shutdown()


async def test_an_earlier_add_after_wins_and_a_later_one_is_ignored() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 10.0)
    queue.add_after("ns/a", 1.0)
    queue.add_after("ns/a", 5.0)
    await clock.advance(1.0)
    await eventually(lambda: len(queue) == 1)
    assert await take_all(queue) == ["ns/a"]
    await clock.advance(20.0)
    assert len(queue) == 0  # the stale 10 s entry fired nothing
    await queue.shutdown()


def test_exponential_backoff_doubles_up_to_the_cap_and_forget_resets() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    assert [backoff.when("ns/a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert backoff.num_requeues("ns/a") == 4
    assert backoff.when("ns/b") == 0.005  # per key
    backoff.forget("ns/a")
    assert backoff.num_requeues("ns/a") == 0
    assert backoff.when("ns/a") == 0.005
    for _ in range(2000):  # far past the cap, and no float overflow
        last = backoff.when("ns/c")
    assert last == 1000.0


def test_token_bucket_spreads_a_burst_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(clock=clock, qps=10, burst=100)
    assert [bucket.when(f"ns/{n}") for n in range(100)] == [0.0] * 100
    assert bucket.when("ns/100") == pytest.approx(0.1)
    assert bucket.when("ns/101") == pytest.approx(0.2)


async def test_rate_limited_adds_back_off_per_key_and_forget_resets() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_rate_limited("ns/a")
    assert len(queue) == 0
    await clock.advance(0.004)
    assert len(queue) == 0
    await clock.advance(0.002)
    await eventually(lambda: len(queue) == 1)
    await take_all(queue)

    queue.add_rate_limited("ns/a")  # second failure: 10 ms
    await clock.advance(0.009)
    assert len(queue) == 0
    await clock.advance(0.002)
    await eventually(lambda: len(queue) == 1)
    await take_all(queue)
    assert queue.num_requeues("ns/a") == 2

    queue.forget("ns/a")
    assert queue.num_requeues("ns/a") == 0
    queue.add_rate_limited("ns/a")
    await clock.advance(0.006)
    await eventually(lambda: len(queue) == 1)
    await queue.shutdown()


async def test_the_token_bucket_limits_a_burst_of_distinct_keys() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for n in range(110):
        queue.add_rate_limited(f"ns/{n}")
    await clock.advance(0.006)  # every key's own back-off (5 ms) has passed
    await eventually(lambda: len(queue) == 100)
    await clock.advance(0.5)  # the bucket refills at 10 a second
    await eventually(lambda: len(queue) == 105)
    await clock.advance(0.5)
    await eventually(lambda: len(queue) == 110)
    await queue.shutdown()


async def test_shutdown_wakes_every_getter() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await eventually(lambda: len(queue._getters) == 3)
    await queue.shutdown()
    for getter in getters:
        with pytest.raises(QueueShutDown):
            await getter
    queue.add("ns/a")  # ignored once shutting down
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_cancels_the_delay_timer() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 1.0)
    await eventually(lambda: clock.sleeping == 1)
    timer = queue._timer
    await queue.shutdown()
    assert timer is not None and timer.cancelled()
    await clock.advance(2.0)
    assert len(queue) == 0


async def test_shutdown_with_drain_waits_for_keys_in_flight() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("ns/a")
    queue.add("ns/b")
    held = await queue.get()
    drain = asyncio.create_task(queue.shutdown_with_drain())
    await eventually(lambda: queue.shutting_down)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not drain.done()
    with pytest.raises(QueueShutDown):  # the waiting key is not handed out
        await queue.get()
    queue.done(held)
    await asyncio.wait_for(drain, timeout=2)


async def test_run_workers_retries_a_failing_key_with_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    calls = 0

    async def worker(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("apiserver said no")

    runner = asyncio.create_task(run_workers(queue, worker, 2))
    with caplog.at_level(logging.ERROR, logger="kybernetes.client.workqueue"):
        queue.add("ns/a")
        await eventually(lambda: calls == 1 and queue.num_requeues("ns/a") == 1)
        await clock.advance(0.004)
        assert calls == 1  # still backing off
        await clock.advance(0.002)
        await eventually(lambda: calls == 2 and queue.num_requeues("ns/a") == 2)
        # The retry ran at 5 ms (the fake clock steps to each deadline), so the
        # second back-off, 10 ms, ends at 15 ms.
        await clock.advance(0.008)
        assert calls == 2
        await clock.advance(0.002)
        await eventually(lambda: calls == 3)
        await eventually(lambda: queue.num_requeues("ns/a") == 0)  # success forgets
    assert sum("apiserver said no" in r.exc_text for r in caplog.records if r.exc_text) == 2

    await queue.shutdown()
    await asyncio.wait_for(runner, timeout=2)


async def test_run_workers_does_not_swallow_cancellation() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    started = asyncio.Event()

    async def worker(key: str) -> None:
        started.set()
        await asyncio.Event().wait()

    runner = asyncio.create_task(run_workers(queue, worker, 1))
    queue.add("ns/a")
    await started.wait()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    queue.add("ns/a")
    assert len(queue) == 1  # done() ran on the way out, so the key is not parked
