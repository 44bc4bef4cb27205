"""The scheduling queue: active, backoff and unschedulable pods (kube-scheduler's three queues).

- active: pods to try now, highest priority first, then oldest first;
- backoff: pods that failed recently wait 1 s, 2 s, 4 s … (at most 10 s)
  after their last attempt before they are active again;
- unschedulable: pods no node could take. They are retried when the
  cluster changes in a way that could help — a node added or changed, a
  pod deleted, a pod placed (for affinity) — never by polling: the
  scheduler calls `move_all` from its informer handlers. A pod whose
  attempt overlapped such a change goes to backoff instead, so the change
  is not missed. As a backstop, a pod unschedulable for five minutes is
  retried anyway (`flush_unschedulable`, as kube-scheduler's
  podMaxInUnschedulablePodsDuration).

No I/O and no sleeping here: time is an injected clock and the scheduler
runs the flushes; `pop` waits on an asyncio.Event only.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kybernetes.scheduler.types import PodInfo

__all__ = ["QueuedPod", "SchedulingQueue"]

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0


@dataclass
class QueuedPod:
    pod: PodInfo
    attempts: int = 0
    timestamp: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)
    popped_at_cycle: int = 0


class SchedulingQueue:
    def __init__(
        self,
        *,
        now: Callable[[], float] = time.monotonic,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        max_unschedulable: float = MAX_UNSCHEDULABLE,
    ) -> None:
        self._now = now
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self.pods: dict[str, QueuedPod] = {}  # every queued pod, by key
        self.where: dict[
            str, str
        ] = {}  # key -> "active" | "backoff" | "unschedulable" | "inflight"
        self.unschedulable_since: dict[str, float] = {}
        self._ready = asyncio.Event()
        self._move_cycle = 0
        self._closed = False

    # -- what the informer handlers do ----------------------------------------------

    def add(self, pod: PodInfo) -> None:
        known = self.pods.get(pod.key)
        if known is not None:
            self.update(pod)
            return
        self.pods[pod.key] = QueuedPod(pod, timestamp=self._now())
        self._to_active(pod.key)

    def update(self, pod: PodInfo, *, changed: bool = True) -> None:
        """A new version of a queued pod; `changed` if more than its status changed."""
        queued = self.pods.get(pod.key)
        if queued is None:
            self.add(pod)
            return
        queued.pod = pod
        if changed and self.where.get(pod.key) == "unschedulable":
            # The pod itself changed (tolerations, affinity …): worth another try.
            self._leave_unschedulable(pod.key)
            self._to_backoff_or_active(pod.key)

    def delete(self, key: str) -> None:
        self.pods.pop(key, None)
        self.where.pop(key, None)
        self.unschedulable_since.pop(key, None)
        # Heap entries of a deleted key are skipped when they surface.

    def move_all(self, plugins: Iterable[str] | None = None) -> int:
        """A cluster change: unschedulable pods (rejected by one of `plugins`, or all) go back."""
        self._move_cycle += 1
        wanted = None if plugins is None else set(plugins)
        moved = 0
        for key in list(self.unschedulable_since):
            queued = self.pods[key]
            if (
                wanted is None
                or not queued.unschedulable_plugins
                or (queued.unschedulable_plugins & wanted)
            ):
                self._leave_unschedulable(key)
                self._to_backoff_or_active(key)
                moved += 1
        return moved

    # -- what the scheduling loop does ------------------------------------------------

    async def pop(self) -> QueuedPod | None:
        """The next pod to schedule (None once closed)."""
        while True:
            self.flush_backoff()
            while self._active:
                _, _, _, key = heapq.heappop(self._active)
                if self.where.get(key) == "active":
                    self.where[key] = "inflight"
                    queued = self.pods[key]
                    queued.attempts += 1
                    queued.popped_at_cycle = self._move_cycle
                    return queued
            if self._closed:
                return None
            self._ready.clear()
            due = self.next_backoff()
            delay = None if due is None else max(due - self._now(), 0.001)
            try:
                async with asyncio.timeout(delay):
                    await self._ready.wait()
            except TimeoutError:
                pass  # a backed-off pod is due

    def done(self, key: str) -> None:
        """Scheduled (assumed on a node): the queue forgets the pod."""
        if self.where.get(key) == "inflight":
            self.delete(key)

    def unschedulable(self, queued: QueuedPod, plugins: Iterable[str]) -> None:
        key = queued.pod.key
        if self.where.get(key) != "inflight":
            return  # deleted or replaced while it was being scheduled
        queued.unschedulable_plugins = set(plugins)
        if queued.popped_at_cycle != self._move_cycle:
            self._to_backoff_or_active(key)  # the cluster changed meanwhile: try again
            return
        self.where[key] = "unschedulable"
        self.unschedulable_since[key] = self._now()

    def retry(self, queued: QueuedPod) -> None:
        """An error (binding refused, API trouble): back off, then try again."""
        key = queued.pod.key
        if key not in self.pods:
            self.pods[key] = queued
        self._to_backoff_or_active(key)

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    # -- flushes ----------------------------------------------------------------------

    def flush_backoff(self) -> None:
        now = self._now()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self.where.get(key) == "backoff":
                self._to_active(key)

    def next_backoff(self) -> float | None:
        return self._backoff[0][0] if self._backoff else None

    def flush_unschedulable(self) -> int:
        """Retry pods unschedulable for longer than `max_unschedulable` (the backstop)."""
        now = self._now()
        stale = [
            k
            for k, since in self.unschedulable_since.items()
            if now - since >= self.max_unschedulable
        ]
        for key in stale:
            self._leave_unschedulable(key)
            self._to_backoff_or_active(key)
        return len(stale)

    def backoff_duration(self, attempts: int) -> float:
        return min(self.initial_backoff * 2.0 ** max(attempts - 1, 0), self.max_backoff)

    def _leave_unschedulable(self, key: str) -> None:
        self.unschedulable_since.pop(key, None)

    def _to_backoff_or_active(self, key: str) -> None:
        queued = self.pods[key]
        if queued.attempts == 0:
            self._to_active(key)
            return
        ready = queued.timestamp + self.backoff_duration(queued.attempts)
        if ready <= self._now():
            self._to_active(key)
            return
        self.where[key] = "backoff"
        heapq.heappush(self._backoff, (ready, next(self._seq), key))
        self._ready.set()  # the loop recomputes when to wake

    def _to_active(self, key: str) -> None:
        queued = self.pods[key]
        self.where[key] = "active"
        heapq.heappush(self._active, (-queued.pod.priority, queued.timestamp, next(self._seq), key))
        self._ready.set()

    def stamp(self, queued: QueuedPod) -> None:
        """Record the end of an attempt: backoff counts from here."""
        queued.timestamp = self._now()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for where in self.where.values():
            out[where] = out.get(where, 0) + 1
        return out
