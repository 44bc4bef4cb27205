"""Running a system command (ip, nft, mount, runc…) off the event loop."""

from __future__ import annotations

import asyncio
import os

__all__ = ["CommandError", "run"]


class CommandError(Exception):
    """A system command failed; the message names it and carries its stderr."""


async def run(*argv: str, stdin: str = "") -> str:
    """Run a command to completion without blocking the loop; its stdout, or CommandError."""
    source = _input_file(stdin.encode()) if stdin else asyncio.subprocess.DEVNULL
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=source, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    finally:
        if source != asyncio.subprocess.DEVNULL:
            os.close(source)
    out, err = await process.communicate()
    if process.returncode != 0:
        text = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise CommandError(f"{' '.join(argv)} (exit {process.returncode}): {text}")
    return out.decode(errors="replace")


def _input_file(data: bytes) -> int:
    """A file in memory holding `data`, to be a command's stdin: nothing to feed
    through a pipe, so a command that exits without reading it all (`ip -batch`
    at a bad line) cannot break a write (uvloop reports that as an error on a
    closed handle, not as the broken pipe asyncio ignores)."""
    fd = os.memfd_create("kyb-stdin", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
