"""The scheduling queue, with a fake clock: priority order, backoff, event-driven retries, flush."""

from __future__ import annotations

import asyncio

from kybernetes.scheduler.queue import QueuedPod, SchedulingQueue
from tests.scheduler.helpers import make_pod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def pop(queue: SchedulingQueue) -> QueuedPod | None:
    try:
        async with asyncio.timeout(0.05):
            return await queue.pop()
    except TimeoutError:
        return None


async def test_highest_priority_first_then_oldest() -> None:
    clock = Clock()
    queue = SchedulingQueue(now=clock)
    queue.add(make_pod("old-low", priority=0))
    clock.now += 1
    queue.add(make_pod("high", priority=100))
    clock.now += 1
    queue.add(make_pod("new-low", priority=0))
    order = [(await queue.pop()) for _ in range(3)]
    assert [q.pod.name for q in order if q] == ["high", "old-low", "new-low"]


async def test_unschedulable_waits_for_a_cluster_change_not_for_time() -> None:
    clock = Clock()
    queue = SchedulingQueue(now=clock)
    queue.add(make_pod("big"))
    queued = await queue.pop()
    assert queued is not None
    queue.stamp(queued)
    queue.unschedulable(queued, {"NodeResourcesFit"})
    clock.now += 60
    assert await pop(queue) is None  # no polling: a minute later it still waits
    # A pod being placed only helps affinity-rejected pods…
    assert queue.move_all(["InterPodAffinity", "PodTopologySpread"]) == 0
    # …a node added helps everyone; the first retry comes after a backoff of 1 s.
    assert queue.move_all() == 1
    again = await pop(queue)
    assert again is not None and again.pod.name == "big" and again.attempts == 2


async def test_backoff_grows_and_is_capped() -> None:
    queue = SchedulingQueue(now=Clock())
    assert [queue.backoff_duration(n) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 8, 10, 10]


async def test_change_during_the_attempt_means_retry_after_backoff() -> None:
    clock = Clock()
    queue = SchedulingQueue(now=clock)
    queue.add(make_pod("p"))
    queued = await queue.pop()
    assert queued is not None
    queue.move_all()  # a node arrived while the cycle ran
    queue.stamp(queued)
    queue.unschedulable(queued, {"NodeResourcesFit"})
    assert queue.where["default/p"] == "backoff"
    clock.now += 1.0
    again = await pop(queue)
    assert again is not None and again.pod.name == "p"


async def test_five_minute_flush_is_the_backstop() -> None:
    clock = Clock()
    queue = SchedulingQueue(now=clock)
    queue.add(make_pod("p"))
    queued = await queue.pop()
    assert queued is not None
    queue.stamp(queued)
    queue.unschedulable(queued, {"NodeResourcesFit"})
    clock.now += 299
    assert queue.flush_unschedulable() == 0
    clock.now += 1
    assert queue.flush_unschedulable() == 1
    assert (await pop(queue)) is not None


async def test_updates_and_deletes() -> None:
    clock = Clock()
    queue = SchedulingQueue(now=clock)
    queue.add(make_pod("p"))
    queued = await queue.pop()
    assert queued is not None
    queue.stamp(queued)
    queue.unschedulable(queued, {"TaintToleration"})
    # Our own status write comes back as an update: not a reason to retry.
    queue.update(make_pod("p"), changed=False)
    assert queue.where["default/p"] == "unschedulable"
    # The pod gained a toleration: retry it (after its backoff).
    queue.update(make_pod("p", tolerations=[{"operator": "Exists"}]))
    clock.now += 1
    again = await pop(queue)
    assert again is not None and again.pod.tolerations
    queue.delete("default/p")
    queue.unschedulable(again, {"TaintToleration"})  # deleted meanwhile: forgotten
    assert "default/p" not in queue.pods and queue.move_all() == 0
