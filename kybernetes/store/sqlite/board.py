"""The store's last revision (and compaction), in memory every process of one server maps.

Why: with more than one API process (`kyb server --api-processes`), a client
may write through one process and read through another. A process answers a
latest-revision read from its watch cache only once the cache has applied
every write acknowledged before the read (kube-apiserver asks etcd for the
current revision before such a read; here the question is a memory read, not
a round trip). The writer process publishes each commit's revision here
before it answers anyone, so whatever a client was told is written, every
process can see it exists; and the revision compacted through, so no
process serves from memory a watch that another would refuse as too old.

Each value is kept twice, written first then second and read second then
first: a read that finds them different raced a write and reads again, so a
torn store of eight bytes is never believed.
"""

from __future__ import annotations

import mmap
import os
import struct

__all__ = ["RevisionBoard"]

_VALUE = struct.Struct("=Q")
_SIZE = 4 * _VALUE.size
# Each value twice: (first copy, second copy) offsets.
_REVISION = (0, 8)
_COMPACTED = (16, 24)


class RevisionBoard:
    """The store's revision and compaction floor in a memfd (each kept twice):
    the writer process publishes, any process of the server reads."""

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

    def publish(self, revision: int, compacted: int) -> None:
        _VALUE.pack_into(self._map, _REVISION[0], revision)
        _VALUE.pack_into(self._map, _COMPACTED[0], compacted)
        _VALUE.pack_into(self._map, _REVISION[1], revision)
        _VALUE.pack_into(self._map, _COMPACTED[1], compacted)

    def revision(self) -> int:
        return self._read(_REVISION)

    def compacted(self) -> int:
        return self._read(_COMPACTED)

    def _read(self, at: tuple[int, int]) -> int:
        while True:
            second = _VALUE.unpack_from(self._map, at[1])[0]
            first: int = _VALUE.unpack_from(self._map, at[0])[0]
            if first == second:
                return first

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)
