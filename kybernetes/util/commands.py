"""Running a system command (ip, nft, mount, runc…) off the event loop."""

from __future__ import annotations

import asyncio

__all__ = ["CommandError", "run"]


class CommandError(Exception):
    """A system command failed; the message names it and carries its stderr."""


async def run(*argv: str, stdin: str = "") -> str:
    """Run a command to completion without blocking the loop; its stdout, or CommandError."""
    # No stdin pipe for a command given none: it may exit before the empty write,
    # and uvloop reports that write on a closed handle as an error (the kubelet
    # died at `runc --version`).
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode() if stdin else None)
    if process.returncode != 0:
        text = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise CommandError(f"{' '.join(argv)} (exit {process.returncode}): {text}")
    return out.decode(errors="replace")
