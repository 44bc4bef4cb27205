"""host-gw routes to the other nodes' pods: which, and kept in step in a namespace."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.node.network.commands import run
from kybernetes.node.network.routes import apply_routes, current_routes, wanted_routes


def node(name: str, cidr: str = "", ip: str = "", simulated: bool = False) -> dict[str, Any]:
    labels = {"kybernetes.io/simulated": "true"} if simulated else {}
    addresses = [{"type": "InternalIP", "address": ip}] if ip else []
    return {"metadata": {"name": name, "labels": labels}, "spec": {"podCIDR": cidr},
            "status": {"addresses": addresses}}  # fmt: skip


def test_only_other_real_nodes_with_a_range_and_an_address_are_routed() -> None:
    nodes = [node("me", "10.244.0.0/24", "198.18.0.10"),
             node("b", "10.244.1.0/24", "198.18.0.11"),
             node("sim-0", "10.244.2.0/24", "198.18.16.1", simulated=True),
             node("new", ip="198.18.0.12"), node("odd", "bogus", "198.18.0.13")]  # fmt: skip
    assert wanted_routes(nodes, self_name="me") == {"10.244.1.0/24": "198.18.0.11"}


@pytest.mark.root
async def test_routes_follow_the_nodes(host_netns: str) -> None:
    peer = f"{host_netns}-peer"
    await run("ip", "netns", "add", peer)
    try:
        await run("ip", "-n", host_netns, "link", "add", "n0", "type", "veth", "peer", "name",
                  "n1", "netns", peer)  # fmt: skip
        await run("ip", "-n", host_netns, "addr", "add", "198.18.6.1/24", "dev", "n0")
        await run("ip", "-n", host_netns, "link", "set", "n0", "up")
        await run("ip", "-n", peer, "link", "set", "n1", "up")
        routes = await apply_routes({"10.244.9.0/24": "198.18.6.2"}, host_netns)
        assert routes == {"10.244.9.0/24": "198.18.6.2"}
        # A gateway on no shared link is refused by the kernel: said, not fatal.
        routes = await apply_routes({"10.244.9.0/24": "198.18.6.2",
                                     "10.244.8.0/24": "192.0.2.99"}, host_netns)  # fmt: skip
        assert routes == {"10.244.9.0/24": "198.18.6.2"}
        assert await apply_routes({}, host_netns) == {}
        assert await current_routes(host_netns) == {}
    finally:
        await run("ip", "netns", "del", peer)
