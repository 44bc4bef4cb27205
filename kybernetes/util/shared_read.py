"""One read for the callers that ask at once, never an answer older than the asking.

A GET or LIST served from the watch cache first asks the store for its
current revision (kube-apiserver's consistent read), so the answer holds
every write acknowledged before the request came. Against etcd that is a
round trip per request: under 50 concurrent GETs, 50 reads of the same
number. `SharedRead` makes one read at a time and gives its result to every
caller that asked before it was sent; callers that ask while it is out wait
for the next one, so each still gets a value read after it asked (a read
started earlier might not hold a write acknowledged just before the ask).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from kybernetes.util.tasks import cancel_and_wait

__all__ = ["SharedRead"]

T = TypeVar("T")


class SharedRead(Generic[T]):
    """`read()` shared by concurrent callers, each answered by a read sent after it asked."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._next: asyncio.Future[T] | None = None  # the callers of the read not sent yet
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # reads made: how much sharing saved shows against the callers

    async def __call__(self) -> T:
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.create_task(self._run(), name="kyb-shared-read")
        # A caller that gives up leaves the read to the others.
        return await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None
                self.reads += 1
                try:
                    value = await self._read()
                except asyncio.CancelledError:
                    waiting.cancel()
                    raise
                except Exception as err:  # noqa: BLE001 - each caller hears it, as from its own read
                    waiting.set_exception(err)
                else:
                    waiting.set_result(value)
        finally:
            self._task = None

    async def close(self) -> None:
        """Stop the read under way; its callers and those waiting are cancelled."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        waiting, self._next = self._next, None
        if waiting is not None:
            waiting.cancel()
