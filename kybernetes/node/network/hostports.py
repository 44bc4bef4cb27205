"""hostPort: a container port reachable on the node's own addresses.

What the CNI portmap plugin does for kind and most clusters, with one
nftables table of our own, replaced whole whenever the node's set of
mappings changes: traffic for a local address of the node (or the one
`hostIP` a port names) on a `hostPort` is DNATed to the pod's IP and
`containerPort`, both as it arrives (prerouting) and when the node itself
sends it (output). Two cases are masqueraded, as portmap's SNAT does: a pod
reaching itself through its host port (hairpin), and a client on the
node's loopback (the bridge then routes 127.0.0.0/8, `route_localnet`).

The mappings are pure functions of the pods; `HostPorts` applies them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kybernetes.node.network.commands import run, write_sysctl

__all__ = ["HOSTPORT_TABLE", "HostPortMapping", "HostPorts", "host_port_mappings",
           "hostport_script"]  # fmt: skip

log = logging.getLogger(__name__)

Obj = dict[str, Any]
HOSTPORT_TABLE = "kybernetes-hostports"


@dataclass(frozen=True, order=True)
class HostPortMapping:
    protocol: str  # tcp | udp | sctp
    host_port: int
    host_ip: str  # "" for every local address
    pod_ip: str
    container_port: int


def host_port_mappings(pod: Obj, pod_ip: str) -> list[HostPortMapping]:
    """The pod's ports with a hostPort, as its containers declare them."""
    if not pod_ip:
        return []
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return []  # the container listens on the node itself: nothing to forward
    found = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            if host_port <= 0:
                continue
            host_ip = str(port.get("hostIP") or "")
            found.append(HostPortMapping(
                protocol=str(port.get("protocol") or "TCP").lower(), host_port=host_port,
                host_ip="" if host_ip in ("0.0.0.0", "::") else host_ip, pod_ip=pod_ip,
                container_port=int(port.get("containerPort") or host_port)))  # fmt: skip
    return found


def _dnat(mapping: HostPortMapping) -> str:
    where = f"ip daddr {mapping.host_ip} " if mapping.host_ip else ""
    return (f"    {where}{mapping.protocol} dport {mapping.host_port} "
            f"dnat to {mapping.pod_ip}:{mapping.container_port}\n")  # fmt: skip


def _masquerade(mapping: HostPortMapping) -> str:
    target = f"ip daddr {mapping.pod_ip} {mapping.protocol} dport {mapping.container_port}"
    return (f"    ip saddr {mapping.pod_ip} {target} ct status dnat masquerade\n"
            f"    ip saddr 127.0.0.0/8 {target} ct status dnat masquerade\n")  # fmt: skip


def hostport_script(mappings: Iterable[HostPortMapping]) -> str:
    """nft input that (re)creates the table with exactly `mappings` (none: no table)."""
    ordered = sorted(set(mappings))
    # A port on one address is matched before the same port on every address.
    ordered.sort(key=lambda m: m.host_ip == "")
    script = f"table ip {HOSTPORT_TABLE}\ndelete table ip {HOSTPORT_TABLE}\n"
    if not ordered:
        return script
    dnat = "".join(_dnat(m) for m in ordered)
    # -100 is dstnat's value: Debian 12's nft (1.0.6) knows that name in prerouting only.
    masquerade = "".join(dict.fromkeys(_masquerade(m) for m in sorted(ordered)))
    return script + (
        f"table ip {HOSTPORT_TABLE} {{\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority -100; policy accept;\n"
        "    fib daddr type local jump hostports\n"
        "  }\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        "    fib daddr type local jump hostports\n"
        "  }\n"
        f"  chain hostports {{\n{dnat}  }}\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"{masquerade}"
        "  }\n"
        "}\n"
    )


class HostPorts:
    """The node's host port mappings, per pod; the table follows every change."""

    def __init__(self, *, bridge: str, host_netns: str | None = None) -> None:
        self._bridge = bridge
        self._host_netns = host_netns
        self._by_pod: dict[str, tuple[HostPortMapping, ...]] = {}
        self._applied: tuple[HostPortMapping, ...] | None = None
        self._lock = asyncio.Lock()
        self._warned = False

    async def set_pod(self, uid: str, mappings: Iterable[HostPortMapping]) -> None:
        """`uid`'s mappings from now on (none: the pod has none, or is gone)."""
        wanted = tuple(sorted(mappings))
        if self._by_pod.get(uid, ()) == wanted:
            return
        if wanted:
            self._by_pod[uid] = wanted
        else:
            self._by_pod.pop(uid, None)
        await self._apply()

    async def clear(self) -> None:
        """No mappings, and no table (the node's pods are all gone)."""
        self._by_pod.clear()
        self._applied = None  # whatever a process before this one left is removed too
        await self._apply(force=True)

    async def _apply(self, *, force: bool = False) -> None:
        async with self._lock:
            every = tuple(sorted(m for pod in self._by_pod.values() for m in pod))
            if every == self._applied and not force:
                return
            if shutil.which("nft") is None:
                if not self._warned:
                    log.warning("hostPort: nft is missing; host ports are not forwarded "
                                "(apt install nftables)")  # fmt: skip
                    self._warned = True
                return
            if every and not self._applied:
                # Loopback clients' packets leave through the bridge, DNATed to a pod.
                await write_sysctl(f"net.ipv4.conf.{self._bridge}.route_localnet", "1",
                                   netns=self._host_netns)  # fmt: skip
            argv = ["nft", "-f", "-"]
            if self._host_netns:
                argv = ["nsenter", f"--net=/run/netns/{self._host_netns}", *argv]
            await run(*argv, stdin=hostport_script(every))
            self._applied = every
