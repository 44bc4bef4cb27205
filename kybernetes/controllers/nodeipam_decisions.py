"""Node IPAM decisions: which /24 (or other size) of the cluster CIDR a node gets.

`CidrSet` is Kubernetes' cidrset in miniature and without I/O: the
cluster CIDR cut into equal subnets, a set of those in use, and a cursor
that hands out the next free subnet after the last one handed out, so a
just-released subnet is the last to come back (routes to it on other
nodes may linger a moment). The controller rebuilds the set from the
podCIDRs the Nodes already carry before it allocates anything, which is
what makes allocations stable across restarts. IPv4 and IPv6 both work;
one family per set (dual-stack is two sets, not wired yet).
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["DEFAULT_CLUSTER_CIDR", "DEFAULT_NODE_MASK", "CidrSet", "RangeExhausted",
           "node_cidrs"]  # fmt: skip

Obj = dict[str, Any]
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24


class RangeExhausted(Exception):
    """Every subnet of the cluster CIDR is in use."""


def node_cidrs(node: Obj) -> list[str]:
    """The pod CIDRs a node carries (`podCIDRs`, else `podCIDR`)."""
    spec = node.get("spec") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return [str(c) for c in cidrs]


class CidrSet:
    def __init__(self, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_mask: int = DEFAULT_NODE_MASK) -> None:  # fmt: skip
        self.network = ipaddress.ip_network(cluster_cidr, strict=True)
        if node_mask < self.network.prefixlen or node_mask > self.network.max_prefixlen:
            raise ValueError(f"node mask /{node_mask} does not fit in {cluster_cidr}")
        self.node_mask = node_mask
        self.size = 1 << (node_mask - self.network.prefixlen)
        self._step = 1 << (self.network.max_prefixlen - node_mask)
        self._used: set[int] = set()
        self._next = 0

    def __len__(self) -> int:
        return len(self._used)

    def _cidr(self, index: int) -> str:
        base = int(self.network.network_address) + index * self._step
        return f"{ipaddress.ip_address(base)}/{self.node_mask}"

    def _index(self, cidr: str) -> int | None:
        """The subnet index of `cidr`, or None when it is not one of ours."""
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            return None
        if net.version != self.network.version or net.prefixlen != self.node_mask:
            return None
        if not net.subnet_of(self.network):  # type: ignore[arg-type]
            return None
        return (int(net.network_address) - int(self.network.network_address)) // self._step

    def allocate(self) -> str:
        """The next free subnet after the last one handed out."""
        for offset in range(self.size):
            index = (self._next + offset) % self.size
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.size
                return self._cidr(index)
        raise RangeExhausted(f"no remaining CIDRs of size /{self.node_mask} in {self.network}")

    def occupy(self, cidr: str) -> bool:
        """Mark `cidr` in use (a node already has it); False when it is not in the range."""
        index = self._index(cidr)
        if index is None:
            return False
        self._used.add(index)
        return True

    def release(self, cidr: str) -> None:
        index = self._index(cidr)
        if index is not None:
            self._used.discard(index)

    def in_use(self, cidr: str) -> bool:
        index = self._index(cidr)
        return index is not None and index in self._used
