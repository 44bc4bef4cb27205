"""Request deadlines for every in-flight request, with one timer between them.

kube-apiserver ends a (non-long-running) request that outlives its deadline
with a 504. `asyncio.timeout` per request does that with a timer of its own
(a heap push, a cancel, a reschedule: ~6 µs of a GET's ~35 µs in the
handler). Here a request only registers its deadline in a dict, and one
timer, set for the earliest deadline any registered request had when it was
set, cancels the requests whose deadline has passed: with the usual 60 s
deadlines it fires about once a minute, and a request with a shorter
`?timeout=` moves it earlier.

A request cancelled by its deadline sees `CancelledError`, as with
`asyncio.timeout`; `Deadlines.run` knows the deadline did it (the sweep
marked it expired) and turns that into `TimeoutError`, unless something
else cancelled the task too (a client gone, a server stopping).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Deadlines"]

T = TypeVar("T")


class Deadlines:
    def __init__(self) -> None:
        self._entries: dict[int, tuple[asyncio.Task[object], float]] = {}
        self._expired: set[int] = set()
        self._tokens = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    async def run(self, seconds: float, work: Awaitable[T]) -> T:
        """`await work`, or TimeoutError once `seconds` have passed."""
        # One loop lookup for both (on 3.11 each makes a getpid syscall).
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        token = self._enter(task, loop, seconds)
        cancelling = task.cancelling()
        seen = False  # the deadline's cancellation reached the work
        try:
            return await work
        except asyncio.CancelledError:
            seen = token in self._expired
            if seen and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            del self._entries[token]
            if token in self._expired:
                self._expired.discard(token)
                if not seen:
                    task.uncancel()  # the work swallowed it: withdraw the cancellation

    def _enter(
        self, task: asyncio.Task[object], loop: asyncio.AbstractEventLoop, seconds: float
    ) -> int:
        token = next(self._tokens)
        at = loop.time() + seconds
        self._entries[token] = (task, at)
        if self._timer is None or at < self._timer_at:
            self._schedule(loop, at)
        return token

    def _schedule(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._sweep)
        self._timer_at = at

    def _sweep(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        earliest = None
        for token, (task, at) in self._entries.items():
            if at <= now:
                if token not in self._expired:
                    self._expired.add(token)
                    task.cancel()
            elif earliest is None or at < earliest:
                earliest = at
        if earliest is not None:
            self._schedule(loop, earliest)
