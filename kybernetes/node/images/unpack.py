"""Unpacking one layer into its own directory, safely, off the event loop.

Decision: layers stay separate, one directory per diff_id, as containerd's
overlayfs snapshotter keeps them. The runtime stacks them as overlayfs
lowerdirs, so a layer is unpacked once and shared by every image and
container that uses it, and nothing is copied per container. Whiteouts are
therefore translated to what overlayfs itself understands: `.wh.NAME`
becomes a character device 0/0 named NAME, and `DIR/.wh..wh..opq` becomes
the `trusted.overlay.opaque=y` xattr on DIR. Both need root (CAP_MKNOD,
trusted.* xattrs), as do chroot, numeric owners and device files; the
runc runtime needs root anyway, so without root unpacking refuses clearly.

Safety: the tar is read by a forked child that opens the blob, then
chroots into the layer's directory and only then extracts. Whatever the
archive says (`../../x`, absolute paths, symlinks to `/` followed by
`link/pwned`) resolves inside that directory. Inside the chroot nothing can
escape, so tarfile's `fully_trusted` filter is right: the stricter `tar`
filter would clear setuid bits and group/other write bits (an image's
`/tmp` is 1777) and `data` refuses absolute symlinks that real images hold.
An entry replaces whatever is at its path (a file never writes through an
older symlink of the same layer).

The child hashes the uncompressed stream while extracting (and drains the
tar's trailing padding), so the diff_id check costs no second pass. The
fork happens in a worker thread; the event loop never blocks.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import uuid
from pathlib import Path
from typing import IO

from kybernetes.node.images.errors import BadDigestError, UnpackError, UnsupportedImageError

__all__ = ["OPAQUE_XATTR", "ZSTD_UNSUPPORTED", "can_unpack", "unpack_layer"]

OPAQUE_XATTR = "trusted.overlay.opaque"
_WHITEOUT_PREFIX = ".wh."
_OPAQUE = ".wh..wh..opq"
_READ = 1 << 20
# Python 3.11 has no zstd and no well-kept zstd library is a dependency.
ZSTD_UNSUPPORTED = "zstd-compressed layers are not supported (no zstd library is installed)"


def can_unpack() -> bool:
    return os.geteuid() == 0


class _HashingReader:
    """A file-like that hashes what tarfile reads through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hasher.update(data)
        return data

    def drain(self) -> None:
        while self.read(_READ):
            pass


def _clean(name: str) -> str:
    path = os.path.normpath("/" + name.lstrip("/"))
    return path.lstrip("/")


def _lstat_mode(path: str) -> int | None:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _remove(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply_xattrs(path: str, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr.") :]
        # An image must not forge overlay (or any trusted.*) attributes.
        if name.startswith("trusted."):
            continue
        # Best effort, as runtimes do on filesystems without xattr support.
        with contextlib.suppress(OSError):
            os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)


def _extract(fd: int, compression: str) -> str:
    """Runs in the chrooted child: extract the tar on `fd` into `/`; return its diff_id."""
    raw: IO[bytes] = os.fdopen(fd, "rb", buffering=_READ)
    stream: IO[bytes] = raw
    if compression == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    reader = _HashingReader(stream)
    with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            name = _clean(member.name)
            if not name or name == ".":
                continue
            parent, base = os.path.split(name)
            if base == _OPAQUE:
                directory = "/" + parent
                os.makedirs(directory, exist_ok=True)
                os.setxattr(directory, OPAQUE_XATTR, b"y", follow_symlinks=False)
                continue
            if base.startswith(_WHITEOUT_PREFIX):
                victim = os.path.join("/", parent, base[len(_WHITEOUT_PREFIX) :])
                _remove(victim)
                os.makedirs(os.path.dirname(victim), exist_ok=True)
                os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                continue
            target = "/" + name
            # Only a real directory merges with a directory entry; anything else,
            # a symlink to a directory included, is replaced (never written through).
            existing = _lstat_mode(target)
            if existing is not None and not (member.isdir() and stat.S_ISDIR(existing)):
                _remove(target)
            if member.islnk():
                member.linkname = _clean(member.linkname)
            member.name = name
            archive.extract(member, "/", numeric_owner=True, filter="fully_trusted")
            _apply_xattrs(target, member)
    reader.drain()
    return "sha256:" + reader.hasher.hexdigest()


def _run_child(blob: Path, target: Path, compression: str) -> str:
    """Fork; the child chroots into `target` and extracts. Blocking: call in a thread."""
    read_end, write_end = os.pipe()
    blob_fd = os.open(blob, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.fork()
    except BaseException:
        os.close(blob_fd)
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # pragma: no cover - the child; its result comes back through the pipe
        code = 1
        try:
            os.close(read_end)
            os.umask(0o022)
            os.chroot(target)
            os.chdir("/")
            result = _extract(blob_fd, compression).encode()
            code = 0
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            result = f"{type(exc).__name__}: {exc}".encode(errors="replace")[:4000]
        try:
            os.write(write_end, result)
        finally:
            os._exit(code)
    os.close(blob_fd)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    message = b"".join(chunks).decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise UnpackError(f"failed to extract layer {blob.name}: {message or 'child failed'}")
    return message


def unpack_layer(blob: Path, *, final: Path, scratch: Path, compression: str, diff_id: str) -> None:
    """Unpack `blob` into `final` (which must not exist yet), all or nothing.

    Extraction goes to a fresh directory under `scratch` (same filesystem);
    only a verified result is renamed to `final`. Blocking: run in a thread.
    """
    if compression == "zstd":
        raise UnsupportedImageError(ZSTD_UNSUPPORTED)
    if compression not in ("gzip", "none"):
        raise UnsupportedImageError(f'unsupported layer compression "{compression}"')
    if not can_unpack():
        raise UnpackError(
            "unpacking image layers needs root (chroot, overlay whiteouts, file owners)"
        )
    work = scratch / f".tmp-{uuid.uuid4().hex}"
    work.mkdir(mode=0o755, parents=True)
    try:
        got = _run_child(blob, work, compression)
        if got != diff_id:
            raise BadDigestError(
                f"layer {blob.name}: diff_id mismatch: got {got}, expected {diff_id}"
            )
        os.chmod(work, 0o755)
        try:
            os.rename(work, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another pull unpacked the same layer first; theirs is as good.
            _rmtree(work)
    except BaseException:
        _rmtree(work)
        raise


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
