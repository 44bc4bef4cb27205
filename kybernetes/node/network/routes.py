"""Routes to the other nodes' pods (host-gw): each podCIDR via that node's address.

As flannel's host-gw backend: for every other real node with a podCIDR and
an InternalIP, `ip route replace <podCIDR> via <nodeIP>`, and the routes of
nodes that went away are removed. Our routes carry their own protocol
number, so the node finds (and removes) exactly its own, also after a
restart. Simulated nodes are never routed to: their addresses are made up.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.node.network.commands import CommandError, run

__all__ = ["ROUTE_PROTOCOL", "apply_routes", "current_routes", "wanted_routes"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ROUTE_PROTOCOL = "186"  # an unassigned rtnetlink protocol number: ours
SIMULATED_LABEL = "kybernetes.io/simulated"  # as kybernetes.simnode labels its nodes


def wanted_routes(nodes: Iterable[Obj], *, self_name: str) -> dict[str, str]:
    """podCIDR -> next hop, for every other real node that has both."""
    routes = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        if meta.get("name") == self_name:
            continue
        if (meta.get("labels") or {}).get(SIMULATED_LABEL) == "true":
            continue
        cidr = str((node.get("spec") or {}).get("podCIDR") or "")
        addresses = (node.get("status") or {}).get("addresses") or []
        via = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), "")
        if not cidr or not via:
            continue
        try:
            ipaddress.ip_network(cidr)
            ipaddress.ip_address(via)
        except ValueError:
            continue
        routes[cidr] = str(via)
    return routes


def _ip(host_netns: str | None) -> list[str]:
    return ["ip", *(["-n", host_netns] if host_netns else [])]


async def current_routes(host_netns: str | None) -> dict[str, str]:
    """Our routes as the kernel has them."""
    out = await run(*_ip(host_netns), "-4", "route", "show", "proto", ROUTE_PROTOCOL)
    routes = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            routes[words[0]] = words[2]
    return routes


async def apply_routes(wanted: Mapping[str, str], host_netns: str | None) -> dict[str, str]:
    """Make our routes the wanted ones; the routes now in place."""
    have = await current_routes(host_netns)
    for cidr, via in wanted.items():
        if have.get(cidr) == via:
            continue
        try:
            await run(*_ip(host_netns), "route", "replace", cidr, "via", via,
                      "proto", ROUTE_PROTOCOL)  # fmt: skip
        except CommandError as err:  # not on a shared link (host-gw needs one): say so
            log.warning("no route to pods %s via %s: %s", cidr, via, err)
    for cidr in set(have) - set(wanted):
        try:
            await run(*_ip(host_netns), "route", "del", cidr, "proto", ROUTE_PROTOCOL)
        except CommandError as err:
            log.warning("could not remove the route to %s: %s", cidr, err)
    return await current_routes(host_netns)
