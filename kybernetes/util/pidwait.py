"""Waiting for a process that is not our child to end, without polling.

A pidfd (Linux 5.3+) becomes readable when its process ends, so the event
loop can wait on it as on a socket: a container's end reaches the kubelet at
once, and a hundred running containers cost nothing while they run. A pid
can be reused by the time it is opened, so the caller says, after the open,
whether it is still the process it meant (`still_ours`). Callers bound the
wait with `asyncio.timeout`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

__all__ = ["process_ended"]

POLL = 0.05  # without pidfds: how often the pid is looked at


async def process_ended(pid: int, still_ours: Callable[[], bool]) -> None:
    """Return once process `pid` has ended (at once if it has, or is no longer `still_ours`)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfds here: nothing to wait on but time
        while still_ours():  # noqa: ASYNC110
            await asyncio.sleep(POLL)
        return
    try:
        if not still_ours():
            return
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ended.done():
                ended.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await ended
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)
