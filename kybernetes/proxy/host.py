"""The proxy's hands on the node: `nft -f`, the service route, bridge netfilter, conntrack.

The node's host is the machine's own network namespace, or under test a
namespace the test created (`netns`, a name under /run/netns): every
command then runs inside it through `nsenter --net` (never `ip netns exec`,
node-runtime.md pitfall 6), so tests never touch the machine's ruleset.
A script goes to `nft -f -` on stdin: nft applies a file as one
transaction, so the kernel sees the whole change or none of it.

Stale conntrack entries: a UDP "connection" lives on in conntrack as long
as the client keeps sending, still DNAT-ed to an endpoint that is gone;
`stale_udp_flows` (pure) names the entries to delete when endpoints leave,
as kube-proxy does (TCP needs nothing: the dead endpoint resets).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable, Sequence

from kybernetes.proxy.model import ServicePort
from kybernetes.proxy.ruleset import remove_script
from kybernetes.util.commands import CommandError, run

__all__ = [
    "DEFAULT_BRIDGE",
    "DEFAULT_SERVICE_CIDR",
    "CommandError",
    "Host",
    "proxy_unavailable",
    "remove_rules",
    "stale_udp_flows",
]

log = logging.getLogger(__name__)

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"  # the API server's default service range
DEFAULT_BRIDGE = "kyb0"  # the pod network's bridge (kybernetes.node.network.podnet)


async def _run(argv: Sequence[str], *, stdin: str = "") -> str:
    return await run(*argv, stdin=stdin)


def stale_udp_flows(old: Iterable[ServicePort], new: Iterable[ServicePort]) -> list[list[str]]:
    """`conntrack -D` arguments for UDP flows DNAT-ed to endpoints that went away."""
    now = {p.id: p for p in new}
    flows = []
    for port in old:
        if port.protocol != "udp":
            continue
        kept = set(now[port.id].endpoints) if port.id in now else set()
        for endpoint in port.endpoints:
            if endpoint in kept:
                continue
            for ip in (port.cluster_ip, *port.external_ips, *port.load_balancer_ips):
                flows.append(["-p", "udp", "--orig-dst", ip, "--orig-port-dst", str(port.port),
                              "--dst-nat", endpoint.ip])  # fmt: skip
            if port.node_port:
                flows.append(["-p", "udp", "--orig-port-dst", str(port.node_port),
                              "--dst-nat", endpoint.ip])  # fmt: skip
    return flows


def proxy_unavailable() -> str:
    """Why this machine cannot run the nftables proxy ("" when it can)."""
    if os.geteuid() != 0:
        return "programs the kernel's nftables only as root"
    if shutil.which("nft") is None:
        return "needs nft (apt install nftables, or run scripts/setup.sh)"
    return ""


class Host:
    """Commands in the node's host namespace (`netns` None: this process's own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def _argv(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv] if self.netns else list(argv)

    async def nft(self, script: str) -> None:
        await _run(self._argv("nft", "-f", "-"), stdin=script)

    async def list_ruleset(self) -> str:
        return await _run(self._argv("nft", "list", "ruleset"))

    async def ensure_service_route(self, *, service_cidr: str, bridge: str) -> None:
        """Route the service range to the pod bridge.

        Without a route the host's own connect() to a cluster IP fails with
        ENETUNREACH before the nat output hook runs (node-runtime.md §4).
        """
        await _run(self._argv("ip", "route", "replace", service_cidr, "dev", bridge))

    async def bridge_netfilter(self) -> None:
        """Bridged pod-to-pod replies must pass the nat hooks to be un-NATed."""
        path = "/proc/sys/net/bridge/bridge-nf-call-iptables"
        await _run(self._argv("sh", "-c", f"echo 1 > {path}"))

    async def delete_flows(self, flows: Iterable[Sequence[str]]) -> None:
        for flow in flows:
            try:
                await _run(self._argv("conntrack", "-D", *flow))
            except CommandError as err:
                # conntrack exits 1 when nothing matched: that is the usual case.
                if "0 flow entries" not in str(err):
                    log.warning("proxy: deleting stale conntrack entries: %s", err)
            except FileNotFoundError:
                log.warning("proxy: conntrack is not installed; stale UDP flows stay")
                return


async def remove_rules(netns: str | None = None, *, service_cidr: str = DEFAULT_SERVICE_CIDR,
                       bridge: str = DEFAULT_BRIDGE) -> None:  # fmt: skip
    """Remove everything the proxy added to the node (`kyb stop` / `kyb delete`).

    Idempotent; a no-op where the proxy could never have run (not root, no nft).
    """
    if proxy_unavailable():
        return
    host = Host(netns)
    await host.nft(remove_script())
    # The route may never have been added, or went with the bridge: either is fine.
    with contextlib.suppress(CommandError):
        await _run(host._argv("ip", "route", "del", service_cidr, "dev", bridge))
