"""Supervised tasks: stopping one never swallows the caller's own cancellation."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

__all__ = ["SHUTDOWN_GRACE", "cancel_and_wait", "run_to_completion"]

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel `task` and wait for it to end.

    `asyncio.wait` does not raise the task's CancelledError, so a
    cancellation of the caller itself still propagates as it should.
    """
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])


def run_to_completion(
    main: Coroutine[Any, Any, None], *, grace: float = SHUTDOWN_GRACE, spawns: bool = False
) -> None:
    """`asyncio.run`, except that tasks left behind get `grace` seconds to end, not forever.

    A process must exit once its main coroutine is done (a server that failed
    to bind its port, or was told to stop): asyncio.run would wait without end
    for a leftover task that does not finish when cancelled. Such tasks are
    named in the log instead, so they can be found and fixed. `spawns`: the
    process starts many subprocesses (a node), which picks the loop.
    """
    loop = _new_event_loop(spawns)
    asyncio.set_event_loop(loop)
    restore_watcher = _watch_children_by_pidfd(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            left = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in left:
                task.cancel()
            if left:
                _, stuck = loop.run_until_complete(asyncio.wait(left, timeout=grace))
                for task in stuck:
                    log.warning("task %s did not end within %.0f s of shutdown: exiting anyway",
                                task.get_name(), grace)  # fmt: skip
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            restore_watcher()
            asyncio.set_event_loop(None)
            loop.close()


def _new_event_loop(spawns: bool) -> asyncio.AbstractEventLoop:
    """uvloop's loop, except for a process that `spawns` many subprocesses or
    when `KYB_EVENT_LOOP=asyncio` asks for the standard one (to tell a loop's
    quirk from our bug).

    An API server create spends a third of its time in the loop, TLS and the
    transports; uvloop's are compiled (libuv): about 15% more creates per
    second (bench/run apiserver). But libuv starts a subprocess with fork(),
    in the loop's thread, where asyncio uses vfork: a node starting 100 pods
    at once (hundreds of runc and ip commands) took 7.2 s instead of 2.6 s
    for the median pod on uvloop (bench/run node). A node keeps asyncio's loop.
    """
    if spawns or os.environ.get("KYB_EVENT_LOOP", "") == "asyncio":
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _watch_children_by_pidfd(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Subprocesses' ends seen through pidfds in `loop`, as Python 3.12 does;
    gives what puts the process-wide watcher back when the loop is done.

    Python 3.11 waits for each subprocess in a thread of its own: a node
    starting 100 pods ran hundreds of them, about a tenth of its CPU.
    """
    if isinstance(loop, uvloop.Loop):
        return lambda: None  # libuv watches its children itself
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return lambda: None  # 3.12 chose pidfds already; without them, threads it is
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return lambda: None  # a kernel before 5.3, or a sandbox that forbids it
    previous = asyncio.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(loop)
    asyncio.set_child_watcher(watcher)

    def restore() -> None:
        watcher.close()
        asyncio.set_child_watcher(previous)

    return restore
