"""mount(2) and umount2(2) called directly, not through mount(8).

A pod needs several mounts (its /dev/shm, each container's overlay root,
tmpfs volumes) and each `mount` process costs a fork and exec of the
kubelet; with 100 pods starting together that is a visible share of the
node's CPU. The options are mount(8)'s words, split here into the flags
the kernel takes and the data string the filesystem parses.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MountError", "mount", "split_options", "unmount"]

_FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
          "relatime": 1 << 21, "bind": 4096, "rw": 0, "suid": 0, "dev": 0, "exec": 0}  # fmt: skip
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]  # fmt: skip
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(OSError):
    """A mount or unmount the kernel refused, with what was asked."""


def split_options(options: str) -> tuple[int, str]:
    """mount(8)'s `-o` words → (MS_* flags, the filesystem's own data string)."""
    flags, data = 0, []
    for word in filter(None, options.split(",")):
        if word in _FLAGS:
            flags |= _FLAGS[word]
        else:
            data.append(word)
    return flags, ",".join(data)


def mount(source: str, target: str, fstype: str, options: str = "") -> None:
    """Mount as `mount -t FSTYPE -o OPTIONS SOURCE TARGET` would (blocking: call in a thread)."""
    flags, data = split_options(options)
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), flags,
                   data.encode() or None) != 0:  # fmt: skip
        code = ctypes.get_errno()
        raise MountError(code, f"mount -t {fstype} {source} on {target} failed: "
                               f"{os.strerror(code)}")  # fmt: skip


def unmount(target: str, *, lazy: bool = False) -> None:
    """`umount [-l] TARGET` (blocking: call in a thread)."""
    if _libc.umount2(target.encode(), MNT_DETACH if lazy else 0) != 0:
        code = ctypes.get_errno()
        raise MountError(code, f"umount {target} failed: {os.strerror(code)}")
