"""Running `ip` and friends: batches, in the host or in a named network namespace.

The node's "host" is usually the machine's own network namespace; under
test it is a namespace the test created (DESIGN.md: nodes under test have
no route off the machine), named by `host_netns`. `ip -n NAME` does netlink
work in a namespace without entering it. Never `ip netns exec` around runc
(it remounts /sys; node-runtime.md pitfall 6); for /proc/sys writes,
`nsenter --net` is enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

__all__ = ["CommandError", "ip_batch", "run", "write_sysctl"]


class CommandError(Exception):
    """A system command failed; the message carries its stderr."""


async def run(*argv: str, stdin: str = "") -> str:
    """Run a command to completion off the event loop; its stdout, or CommandError."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode())
    if process.returncode != 0:
        text = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise CommandError(f"{' '.join(argv)}: {text}")
    return out.decode(errors="replace")


async def ip_batch(lines: Sequence[str], *, netns: str | None = None) -> None:
    """Several `ip` commands in one process (`ip -batch` has no per-line -n)."""
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    await run(*argv, stdin="\n".join(lines) + "\n")


async def write_sysctl(key: str, value: str, *, netns: str | None = None) -> None:
    """Set a /proc/sys value as seen from `netns` (per-namespace for net.*)."""
    path = "/proc/sys/" + key.replace(".", "/")
    script = f"echo {value} > {path}"
    if netns:
        await run("nsenter", f"--net=/run/netns/{netns}", "sh", "-c", script)
    else:
        await run("sh", "-c", script)
