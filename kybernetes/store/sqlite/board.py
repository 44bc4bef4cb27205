"""The store's last committed revision, in memory every process of one server maps.

Why: with more than one API process (`kyb server --api-processes`), a client
may write through one process and read through another. A process answers a
latest-revision read from its watch cache only once the cache has applied
every write acknowledged before the read (kube-apiserver asks etcd for the
current revision before such a read; here the question is a memory read, not
a round trip). The writer process publishes each commit's revision here
before it answers anyone, so whatever a client was told is written, every
process can see it exists.

The value is kept twice, written first then second and read second then
first: a read that finds them different raced a write and reads again, so a
torn store of eight bytes is never believed.
"""

from __future__ import annotations

import mmap
import os
import struct

__all__ = ["RevisionBoard"]

_VALUE = struct.Struct("=Q")
_SECOND = _VALUE.size
_SIZE = 2 * _VALUE.size


class RevisionBoard:
    """Eight shared bytes (twice) in a memfd: one process publishes, any reads."""

    def __init__(self, fd: int) -> None:
        """Map the board behind `fd` (made by `create`, passed to this process)."""
        self.fd = fd
        self._map = mmap.mmap(fd, _SIZE)

    @classmethod
    def create(cls) -> RevisionBoard:
        # Close-on-exec: a child gets it only when it is passed (pass_fds).
        fd = os.memfd_create("kyb-store-revision", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, _SIZE)
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    def publish(self, revision: int) -> None:
        _VALUE.pack_into(self._map, 0, revision)
        _VALUE.pack_into(self._map, _SECOND, revision)

    def read(self) -> int:
        while True:
            second = _VALUE.unpack_from(self._map, _SECOND)[0]
            first: int = _VALUE.unpack_from(self._map, 0)[0]
            if first == second:
                return first

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)
