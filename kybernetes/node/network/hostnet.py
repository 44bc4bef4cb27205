"""The pod network of the process runtime: every pod on the node's own network.

Without root there is no bridge, veth or namespace to make, so every pod
is as a `hostNetwork: true` pod: its IP is the node's, its ports are the
node's ports (two pods listening on one port collide, as two hostNetwork
pods would). Same methods as `PodNetwork`, so the pod worker does not
know which one it has.
"""

from __future__ import annotations

from kybernetes.node.network.podnet import PodAddress

__all__ = ["HostNetwork"]


class HostNetwork:
    def __init__(self, host_ip: str) -> None:
        self.host_ip = host_ip
        self.host_netns: str | None = None  # probes and streams dial from here

    async def ensure_bridge(self) -> None:
        """No bridge: the host's network is used as it is."""

    async def setup(self, pod_uid: str) -> PodAddress:
        return PodAddress(netns_path="", ip=self.host_ip, gateway="", prefix=32)

    async def teardown(self, pod_uid: str) -> None:
        """Nothing was made for the pod."""

    def pods(self) -> dict[str, str]:
        return {}

    async def close(self) -> None:
        """Nothing is held."""
