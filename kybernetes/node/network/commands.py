"""Running `ip` and friends: batches, in the host or in a named network namespace.

The node's "host" is usually the machine's own network namespace; under
test it is a namespace the test created (DESIGN.md: nodes under test have
no route off the machine), named by `host_netns`. `ip -n NAME` does netlink
work in a namespace without entering it. Never `ip netns exec` around runc
(it remounts /sys; node-runtime.md pitfall 6); for /proc/sys writes,
`nsenter --net` is enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.util.commands import CommandError, run

__all__ = ["CommandError", "ip_batch", "run", "write_sysctl"]


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
