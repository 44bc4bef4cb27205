"""Writing files that hold keys or state: all-or-nothing, private from the start."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["create_exclusive", "remove_tree", "write_atomic"]


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
    tmp = _durable_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_dir(path.parent)


def create_exclusive(path: Path, data: bytes, *, mode: int) -> bool:
    """Create `path` with `data` unless it exists: True if this call made it.

    As `write_atomic`, all-or-nothing and private from the start, but never
    replacing: of two processes creating the same file at once (two API
    processes making the service account signing key), one wins and the
    other reads what the winner wrote, never a half-written file.
    """
    tmp = _durable_temp(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    _sync_dir(path.parent)
    return True


def _durable_temp(path: Path, data: bytes, mode: int) -> str:
    """A synced temp file beside `path` holding `data`, with `mode` from the start."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _sync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
