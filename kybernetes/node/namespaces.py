"""A pod's network, IPC and UTS namespaces, made and entered without a process.

`ip netns add` and `unshare --ipc=FILE --uts=FILE hostname NAME` each cost
the kubelet a fork and an exec, and a pod needs both: with 100 pods starting
together that is a visible share of the node's CPU. The same system calls
work from a thread: unshare(2) and setns(2) of these namespaces change only
the calling thread. Each such call runs in a thread started for it and
ended after it (as Go programs lock a thread for this): the thread never
comes back to a pool, so no other work can run in a pod's namespace, even
when a step fails halfway. A namespace outlives the thread because it is
pinned: its `/proc/thread-self/ns/*` file bind-mounted onto a file of its
own, which runc joins by path and `ip -n` and `nsenter` know.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from kybernetes.node.mounts import MountError, mount, unmount

__all__ = ["CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWUTS", "in_netns", "pin_new", "unpin"]

CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
_NAMES = {CLONE_NEWIPC: "ipc", CLONE_NEWUTS: "uts", CLONE_NEWNET: "net"}
_MS_BIND, _MS_REC, _MS_SHARED = 4096, 0x4000, 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


async def pin_new(pins: Mapping[int, str], *, hostname: str | None = None) -> None:
    """New namespaces of the kinds `pins` names (CLONE_NEW* -> the file that
    pins it), the UTS one with `hostname` set."""
    await _in_own_thread(_pin_new, pins, hostname)


async def in_netns(path: str, action: Callable[[], T]) -> T:
    """`action()` called inside the network namespace pinned at `path`: a
    socket it opens stays in that namespace."""
    return await _in_own_thread(_call_in_netns, path, action)


def unpin(path: str) -> None:
    """Unmount and remove a namespace's pin (blocking; the namespace itself
    ends with the last process or mount that holds it). Gone already: done."""
    with contextlib.suppress(MountError):
        unmount(path, lazy=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _in_own_thread(function: Callable[..., T], *args: object) -> T:
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as err:  # noqa: BLE001 - raised again in the awaiting task
            future.set_exception(err)

    threading.Thread(target=run, name="kyb-namespaces", daemon=True).start()
    return await asyncio.wrap_future(future)


def _pin_new(pins: Mapping[int, str], hostname: str | None) -> None:
    flags = 0
    for kind, path in pins.items():
        if kind == CLONE_NEWNET:
            _share_mounts_under(os.path.dirname(path))
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0))
        flags |= kind
    _check(_libc.unshare(flags), "unshare")
    if hostname is not None:
        socket.sethostname(hostname)
    for kind, path in pins.items():
        mount(f"/proc/thread-self/ns/{_NAMES[kind]}", path, "none", "bind")


def _call_in_netns(path: str, action: Callable[[], T]) -> T:
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)
    return action()


_shared: set[str] = set()


def _share_mounts_under(directory: str) -> None:
    """What `ip netns add` does first: the directory of network namespace pins
    is a mount point of its own with shared propagation, so a pin made here
    shows in every mount namespace (and `ip netns` treats it as its own)."""
    if directory in _shared:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    target = directory.encode()
    if _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None) != 0:
        if ctypes.get_errno() != errno.EINVAL:  # EINVAL: not a mount point yet
            _check(-1, f"mount --make-rshared {directory}")
        _check(_libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None),
               f"mount --rbind {directory}")  # fmt: skip
        _check(_libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None),
               f"mount --make-rshared {directory}")  # fmt: skip
    _shared.add(directory)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
