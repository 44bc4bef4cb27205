"""A child process that must not outlive its parent.

Linux's PR_SET_PDEATHSIG: the kernel sends the signal when the parent dies.
No asyncio here: the SQLite writer process imports this and stays without it.
"""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = ["die_with_parent"]


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies; exit now if `parent` (its
    expected pid) is gone already (it died before this was set)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)
