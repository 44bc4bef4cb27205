"""What the service load balancer decides, as pure functions.

Kybernetes has no cloud to ask for a load balancer, so it does what k3s'
service load balancer and minikube's tunnel do: a LoadBalancer Service is
given the nodes' own addresses (or the addresses of a configured pool) in
`status.loadBalancer.ingress`, and the proxy on every node forwards
traffic to those addresses on the Service's ports like a node port. A
node's ExternalIP is preferred to its InternalIP, as k3s prefers it; only
Ready nodes carry traffic. A Service that names another
`loadBalancerClass` belongs to that implementation and is left alone; one
that stops being a LoadBalancer has its addresses taken back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["is_ours", "node_addresses", "wanted_ingress"]

Obj = dict[str, Any]


def node_addresses(nodes: Iterable[Obj]) -> list[str]:
    """One address per Ready node (ExternalIP, else InternalIP), sorted."""
    result = set()
    for node in nodes:
        status = node.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])  # fmt: skip
        if not ready or (node.get("metadata") or {}).get("deletionTimestamp"):
            continue
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        address = addresses.get("ExternalIP") or addresses.get("InternalIP")
        if address:
            result.add(str(address))
    return sorted(result)


def is_ours(service: Obj) -> bool:
    """A LoadBalancer Service with no other implementation named, or one we once served."""
    spec = service.get("spec") or {}
    if spec.get("loadBalancerClass"):
        return False
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return spec.get("type") == "LoadBalancer" or bool(ingress)


def wanted_ingress(service: Obj, *, nodes: Sequence[str], pool: Sequence[str] = ()) -> list[Obj]:
    """`status.loadBalancer.ingress` for `service` (empty: it is not a LoadBalancer)."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    return [{"ip": address, "ipMode": "VIP"} for address in (pool or nodes)]
