"""A pod's network: its own namespace, a veth into the node's bridge, one address.

The CNI bridge plugin's recipe, with no process per pod: a namespace per
pod pinned at `/run/netns/kyb-<pod uid>` (`namespaces.pin_new`, which runc
joins by path and `ip netns` lists), a veth pair whose host end is a port
of the bridge with hairpin on (a pod reaching itself through its Service)
and whose pod end is `eth0`, an address from the node's podCIDR (`ipam`),
and a default route via the bridge, all through netlink (`links`). The
bridge holds the gateway (first) address; the node forwards between pods
and, for nodes under test, nothing leaves the host namespace.

Set-up is idempotent, so a restarted node adopts what exists; tear-down
removes the namespace (which takes the veth pair with it) and frees the
address.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import ipaddress
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from kybernetes.node.namespaces import CLONE_NEWNET, pin_new, unpin
from kybernetes.node.network.commands import CommandError, ip_batch, run, write_sysctl
from kybernetes.node.network.ipam import HostLocalIpam, gateway_of
from kybernetes.node.network.links import LinkError, Links, opened

__all__ = ["MASQUERADE_TABLE", "PodAddress", "PodNetwork", "masquerade_script", "netns_name",
           "veth_name"]  # fmt: skip

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
CLUSTER_CIDR = "10.244.0.0/16"  # every node's podCIDR is inside: pod-to-pod is never NATed
SERVICE_CIDR = "10.96.0.0/12"  # the API server's default service range
MASQUERADE_TABLE = "kybernetes-podnet"


def masquerade_script(pod_cidr: str, bridge: str, cluster_cidr: str) -> str:
    """nft input that (re)creates the table masquerading this node's pods' traffic
    that leaves the pod network (not to other pods, not back into the bridge)."""
    return (
        f"table ip {MASQUERADE_TABLE}\n"
        f"delete table ip {MASQUERADE_TABLE}\n"
        f"table ip {MASQUERADE_TABLE} {{\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    ip saddr {pod_cidr} ip daddr != {cluster_cidr} oifname != "{bridge}" masquerade\n'
        "  }\n"
        "}\n"
    )


def netns_name(pod_uid: str) -> str:
    return f"kyb-{pod_uid}"


def veth_name(pod_uid: str) -> str:
    """The host end: `veth` + 8 hex digits, within the 15-character limit."""
    return "veth" + hashlib.sha1(pod_uid.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class PodAddress:
    netns_path: str  # what runc's network namespace entry joins
    ip: str
    gateway: str
    prefix: int


class PodNetwork:
    def __init__(self, *, cidr: str, state_dir: Path, host_netns: str | None = None,
                 bridge: str = "kyb0", cluster_cidr: str = CLUSTER_CIDR) -> None:  # fmt: skip
        self.cidr = str(ipaddress.IPv4Network(cidr))
        self.gateway = gateway_of(self.cidr)
        self.host_netns = host_netns
        self.bridge = bridge
        self.cluster_cidr = cluster_cidr
        self.ipam = HostLocalIpam(state_dir / "ipam" / self.cidr.replace("/", "_"), self.cidr)
        self._lock = asyncio.Lock()  # IPAM files are shared state: one allocation at a time
        # Pods this process configured or verified: every later setup (each sync step
        # of each pod) is then a stat of the namespace file instead of netlink requests.
        self._configured_here: dict[str, PodAddress] = {}
        self._host_links: Links | None = None  # netlink in the node's namespace
        # One opening at a time: pods (or the bridge) asking at once each opened a
        # socket, and all but the last were dropped unclosed.
        self._links_opening = asyncio.Lock()
        self._bridge_index = 0

    async def close(self) -> None:
        """Let go of the netlink socket (pods and their links stay)."""
        if self._host_links is not None:
            self._host_links.close()
            self._host_links = None

    async def _links(self) -> Links:
        async with self._links_opening:
            if self._host_links is None:
                netns = str(NETNS_DIR / self.host_netns) if self.host_netns else None
                self._host_links = await Links.open(netns)
            return self._host_links

    async def ensure_bridge(self) -> None:
        """The bridge with the gateway address, forwarding and bridge netfilter on."""
        try:
            await ip_batch([f"link add {self.bridge} type bridge"], netns=self.host_netns)
        except CommandError as err:
            if "File exists" not in str(err):
                raise
        try:
            await ip_batch([f"addr add {self.gateway} dev {self.bridge}"], netns=self.host_netns)
        except CommandError as err:
            if "File exists" not in str(err) and "already assigned" not in str(err):
                raise
        await ip_batch([f"link set {self.bridge} up",
                        # Service addresses go to the bridge (the proxy's DNAT picks a pod);
                        # set here too so no first request finds the route missing.
                        f"route replace {SERVICE_CIDR} dev {self.bridge}"],
                       netns=self.host_netns)  # fmt: skip
        await write_sysctl("net.ipv4.ip_forward", "1", netns=self.host_netns)
        # Bridged pod-to-pod traffic must pass the nat hooks, or a Service reply
        # is never un-NATed (node-runtime.md §4).
        await write_sysctl("net.bridge.bridge-nf-call-iptables", "1", netns=self.host_netns)
        await self._masquerade()

    async def _masquerade(self) -> None:
        """Pods reach beyond the pod network from the node's address (the CNI bridge
        plugin's ipMasq): one small nftables table of our own, replaced whole."""
        if shutil.which("nft") is None:
            log.warning("pod network: nft is missing; pods cannot reach beyond the node "
                        "(apt install nftables)")  # fmt: skip
            return
        argv = ["nft", "-f", "-"]
        if self.host_netns:
            argv = ["nsenter", f"--net=/run/netns/{self.host_netns}", *argv]
        await run(*argv, stdin=masquerade_script(self.cidr, self.bridge, self.cluster_cidr))

    async def setup(self, pod_uid: str) -> PodAddress:
        """The pod's namespace and address, created now or found from before."""
        name = netns_name(pod_uid)
        async with self._lock:
            ip = await asyncio.to_thread(self.ipam.allocate, pod_uid)
        address = PodAddress(str(NETNS_DIR / name), str(ip), str(self.gateway.ip),
                             self.gateway.network.prefixlen)  # fmt: skip
        if self._configured_here.get(pod_uid) == address and (NETNS_DIR / name).exists():
            return address
        if not await self._configured(name, address):
            if (NETNS_DIR / name).exists():
                await self.teardown_links(pod_uid)  # half-made by a crash: start over
            try:
                await self._create(pod_uid, name, address)
            except LinkError as err:
                # The veth of a namespace removed behind our back (the kernel frees
                # it lazily): looked for only now, so a new pod costs no extra request.
                await self.teardown_links(pod_uid)
                if err.errno != errno.EEXIST:
                    raise
                await self._create_or_undo(pod_uid, name, address)
            except BaseException:
                await self.teardown_links(pod_uid)
                raise
        self._configured_here[pod_uid] = address
        return address

    async def _create_or_undo(self, pod_uid: str, name: str, address: PodAddress) -> None:
        try:
            await self._create(pod_uid, name, address)
        except BaseException:
            await self.teardown_links(pod_uid)
            raise

    async def _create(self, pod_uid: str, name: str, address: PodAddress) -> None:
        await pin_new({CLONE_NEWNET: address.netns_path})
        host = await self._links()
        if not self._bridge_index:
            self._bridge_index = await host.index(self.bridge)
        try:
            await host.add_veth_to_bridge(veth_name(pod_uid), peer="eth0",
                                          peer_netns=address.netns_path,
                                          bridge=self._bridge_index)  # fmt: skip
        except LinkError:
            self._bridge_index = 0  # looked up again next time: the bridge may be new
            raise
        async with opened(address.netns_path) as pod:
            await pod.configure_pod_side("eth0", address.ip, address.prefix, address.gateway)

    async def _configured(self, name: str, address: PodAddress) -> bool:
        if not (NETNS_DIR / name).exists():
            return False
        try:
            async with opened(str(NETNS_DIR / name)) as pod:
                shown = await pod.ipv4_addresses("eth0")
        except OSError:
            return False  # a file that pins no namespace (a crash before its mount)
        return f"{address.ip}/{address.prefix}" in shown

    async def teardown(self, pod_uid: str) -> None:
        """Remove the pod's veth and namespace and free its address."""
        await self.teardown_links(pod_uid)
        async with self._lock:
            await asyncio.to_thread(self.ipam.release, pod_uid)

    async def teardown_links(self, pod_uid: str) -> None:
        """Remove the pod's veth and namespace, keeping its address."""
        self._configured_here.pop(pod_uid, None)
        # Deleted explicitly: the kernel destroys a namespace (and its veth end)
        # lazily, after the last process holding it is gone.
        await (await self._links()).delete(veth_name(pod_uid))
        pin = NETNS_DIR / netns_name(pod_uid)
        if pin.exists():
            await asyncio.to_thread(unpin, str(pin))

    def pods(self) -> dict[str, str]:
        """Pod uid -> address, for every address this node has handed out."""
        return {owner: str(ip) for ip, owner in self.ipam.allocations().items()}
