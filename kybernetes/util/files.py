"""Writing files that hold keys or state: all-or-nothing, private from the start."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["remove_tree", "write_atomic"]


def remove_tree(path: Path, *, attempts: int = 10, pause: float = 0.05) -> bool:
    """Remove a directory that a dying process may still write into; True once it is gone.

    A container's shim writes its exit record just after the container
    ends, which can be while the kubelet removes the directory: rmtree then
    leaves the directory behind with the new file. Trying again a little
    later removes it (blocking: call in a thread).
    """
    for attempt in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return True
        if attempt + 1 < attempts:
            time.sleep(pause)
    return False


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace `path` with `data`, durably.

    The temp file has its final mode from the start, so a key is never
    readable by others even for an instant; rename makes the write
    all-or-nothing, and syncing the directory makes the rename survive a
    crash.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
