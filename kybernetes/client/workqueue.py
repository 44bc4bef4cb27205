"""The controllers' work queue, with client-go's rules (`util/workqueue`).

Event handlers only turn events into keys ("namespace/name"); the queue decides
when a key is worked on. Its rules:

* Stingy: a key already waiting is not queued twice (the *dirty* set), so a
  burst of events for one object costs one sync.
* Never concurrent: a key added while a worker holds it is parked and queued
  again when that worker calls `done`, so two workers never sync one object.
* Delays live in one supervised timer task over a heap of deadlines, never in
  a task per key, so shutdown has exactly one thing to cancel.
* Failures retry with per-key exponential back-off (5 ms doubling to 1000 s),
  held under an overall token bucket (10 qps, burst 100): the larger delay wins.

Time comes from a `Clock`, so tests drive back-off and delays with `FakeClock`
instead of sleeping.

One deliberate difference from client-go: after `shutdown` a getter gets
`QueueShutDown` at once and keys still waiting are dropped, where client-go
hands them out first. A controller that stops rebuilds its state from a
relist when it starts again, so waiting keys carry nothing worth the delay.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kybernetes.util.tasks import cancel_and_wait

__all__ = [
    "Clock",
    "ExponentialBackoff",
    "FakeClock",
    "MaxOf",
    "MonotonicClock",
    "QueueShutDown",
    "RateLimiter",
    "TokenBucket",
    "WorkQueue",
    "default_rate_limiter",
    "run_workers",
]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class QueueShutDown(Exception):
    """The queue is shutting down: `get` has no more keys to give."""


# --- Time -------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences matter."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: the same monotonic time the event loop runs on."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock for tests: time moves only when the test calls `advance`.

    `sleep` parks the caller until `advance` carries the clock past its
    deadline. `advance` steps from deadline to deadline, waking sleepers in
    order and letting the loop run a little after each step, so a timer that
    re-arms itself sees every intermediate time. Tests should still poll for
    the effect they expect (with a deadline) rather than count loop turns.
    """

    def __init__(self, start: float = 0.0, *, settle_turns: int = 10) -> None:
        self._now = start
        self._settle_turns = settle_turns
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), waiter))
        # A cancelled sleeper stays in the heap; `advance` skips finished futures.
        await waiter

    @property
    def sleeping(self) -> int:
        """How many sleeps are pending, so a test can wait for a timer to arm."""
        return sum(1 for _, _, waiter in self._sleepers if not waiter.done())

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, _ = self._sleepers[0]
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, waiter = heapq.heappop(self._sleepers)
                if not waiter.done():
                    waiter.set_result(None)
            await self._settle()
        self._now = target
        await self._settle()

    async def _settle(self) -> None:
        for _ in range(self._settle_turns):
            await asyncio.sleep(0)


# --- Rate limiters (client-go default_rate_limiters.go) ----------------------


class RateLimiter(Protocol[K_contra]):
    def when(self, key: K_contra) -> float:
        """Seconds to wait before `key` is retried; records one more failure."""
        ...

    def forget(self, key: K_contra) -> None: ...

    def num_requeues(self, key: K_contra) -> int: ...


class ExponentialBackoff(Generic[K]):
    """Per-key back-off: `base * 2**failures`, capped, reset by `forget`."""

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Bound the exponent: past the cap it changes nothing, and a float
        # power of a huge exponent would overflow.
        return min(self._cap, self._base * 2.0 ** min(failures, 64))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class TokenBucket:
    """An overall limit shared by all keys: `qps` tokens a second, `burst` at most.

    Like Go's `rate.Limiter.Reserve`, a retry always takes a token; when the
    bucket is empty the balance goes negative and the delay is the time it
    takes to pay the debt back, so a burst is spread out rather than refused.
    """

    def __init__(self, *, clock: Clock, qps: float = 10.0, burst: int = 100) -> None:
        self._clock = clock
        self._qps = qps
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, key: Hashable) -> float:
        now = self._clock.now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, key: Hashable) -> None:
        """The bucket is shared, so one key succeeding repays nothing."""

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOf(Generic[K]):
    """Several limiters at once: every one records the retry, the longest delay wins."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        self._limiters = limiters

    def when(self, key: K) -> float:
        # A list, not a generator: each limiter must see every retry.
        return max([limiter.when(key) for limiter in self._limiters], default=0.0)

    def forget(self, key: K) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max((limiter.num_requeues(key) for limiter in self._limiters), default=0)


def default_rate_limiter(clock: Clock) -> MaxOf[K]:
    """client-go's controller default: 5 ms → 1000 s per key, 10 qps (burst 100) overall."""
    return MaxOf(ExponentialBackoff(), TokenBucket(clock=clock))


# --- The queue ----------------------------------------------------------------


class WorkQueue(Generic[K]):
    """A de-duplicating, delaying, rate-limited queue of keys (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str = "workqueue",
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None else default_rate_limiter(self._clock)
        )
        self._queue: deque[K] = deque()  # the order keys are handed out in
        self._dirty: set[K] = set()  # keys that need a sync: waiting, or parked behind a worker
        self._processing: set[K] = set()  # keys a worker holds
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()  # set while no worker holds a key
        self._idle.set()
        self._shutting_down = False
        # Delayed keys: a heap of (deadline, seq, key) plus each key's earliest
        # deadline; a heap entry that no longer matches it is stale and skipped.
        self._delayed: list[tuple[float, int, K]] = []
        self._deadlines: dict[K, float] = {}
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_poke = asyncio.Event()

    def __len__(self) -> int:
        """Keys waiting to be handed out (not delayed ones, not ones being processed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # The basic queue (client-go queue.go).

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        # A worker holds the key: `done` queues it again, so it is never
        # processed twice at once.
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one_getter()

    async def get(self) -> K:
        """The next key, now held by the caller until `done(key)`."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken and cancelled in the same turn: pass the wake-up on, or
                # a key would sit in the queue while another getter waits.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one_getter()
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._idle.clear()
        return key

    def done(self, key: K) -> None:
        """The worker is finished with `key`; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if not self._processing:
            self._idle.set()
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wake_one_getter()

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # Delays (client-go delaying_queue.go).

    def add_after(self, key: K, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self._clock.now() + delay
        # Only the earliest deadline counts, as in client-go: a later request
        # for a key already due sooner changes nothing.
        if self._deadlines.get(key, float("inf")) <= deadline:
            return
        self._deadlines[key] = deadline
        heapq.heappush(self._delayed, (deadline, next(self._seq), key))
        self._ensure_timer()
        self._timer_poke.set()

    def _ensure_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(
                self._run_timer(), name=f"{self.name}-timer"
            )
            self._timer.add_done_callback(self._timer_ended)

    def _timer_ended(self, task: asyncio.Task[None]) -> None:
        # The timer only ends by cancellation at shutdown; anything else is a
        # bug. It is logged, and the next `add_after` starts a fresh timer.
        if task.cancelled():
            return
        error = task.exception()
        log.error("%s: delay timer ended unexpectedly", self.name, exc_info=error)

    async def _run_timer(self) -> None:
        while True:
            self._timer_poke.clear()
            now = self._clock.now()
            while self._delayed and self._delayed[0][0] <= now:
                deadline, _, key = heapq.heappop(self._delayed)
                if self._deadlines.get(key) == deadline:
                    del self._deadlines[key]
                    self.add(key)
            if self._delayed:
                await self._sleep_or_poke(self._delayed[0][0] - now)
            else:
                await self._timer_poke.wait()

    async def _sleep_or_poke(self, delay: float) -> None:
        """Sleep until the earliest deadline, or less if `add_after` brings one forward."""
        sleeper = asyncio.create_task(self._clock.sleep(delay))
        poked = asyncio.create_task(self._timer_poke.wait())
        try:
            await asyncio.wait([sleeper, poked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(sleeper)
            await cancel_and_wait(poked)

    # Rate limiting (client-go rate_limiting_queue.go).

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Stop tracking `key`'s failures: its next retry starts from the base delay."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    # Shutdown.

    async def shutdown(self) -> None:
        """Stop handing out keys: getters get `QueueShutDown`, waiting and delayed keys drop."""
        self._shutting_down = True
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._queue.clear()
        self._dirty.clear()
        self._delayed.clear()
        self._deadlines.clear()
        await cancel_and_wait(self._timer)

    async def shutdown_with_drain(self) -> None:
        """`shutdown`, then wait until every key already handed out is `done`."""
        await self.shutdown()
        await self._idle.wait()


# --- Workers --------------------------------------------------------------------


async def run_workers(
    queue: WorkQueue[K], worker: Callable[[K], Awaitable[None]], count: int
) -> None:
    """Run `count` workers over `queue` until it shuts down.

    A key that syncs cleanly has its back-off forgotten; one that fails is
    logged and retried with back-off. The workers share a task group, so a bug
    in one (anything but a failing sync) stops them all loudly.
    """
    async with asyncio.TaskGroup() as group:
        for n in range(count):
            group.create_task(_work(queue, worker), name=f"{queue.name}-worker-{n}")


async def _work(queue: WorkQueue[K], worker: Callable[[K], Awaitable[None]]) -> None:
    while True:
        try:
            key = await queue.get()
        except QueueShutDown:
            return
        try:
            await worker(key)
        except Exception:
            # CancelledError is not an Exception: it passes through untouched.
            log.exception("%s: syncing %r failed; retrying with back-off", queue.name, key)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
