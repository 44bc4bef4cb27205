"""The node IPAM controller: every Node gets a pod CIDR of its own.

Kubernetes' range allocator as a thin loop (STYLE.md habit 1) around
`nodeipam_decisions.CidrSet`: before the first allocation the set is
rebuilt from the `spec.podCIDR`s the Nodes already carry, so a restarted
controller never hands out a CIDR in use and never moves a node; then
each Node without one gets the next free subnet, written with a patch
conditioned on the node's resourceVersion (the API server refuses to
change a podCIDR once set). A deleted node's CIDR is released. When the
range is exhausted the node gets a `CIDRNotAvailable` Event and is
retried with back-off.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.nodeipam_decisions import (
    DEFAULT_CLUSTER_CIDR,
    DEFAULT_NODE_MASK,
    CidrSet,
    RangeExhausted,
    node_cidrs,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["NodeIpamController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 8  # patches wait on the store's commits: a few in flight keep it busy


class NodeIpamController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
        node_mask: int = DEFAULT_NODE_MASK,
    ) -> None:
        self._client = informers.client
        self.cidrs = CidrSet(cluster_cidr, node_mask)
        self.events = EventRecorder(self._client, "cidrAllocator")
        self.nodes = informers.informer("", "v1", "nodes")
        self.queue: WorkQueue[str] = WorkQueue(name="nodeipam")
        self.nodes.on_add(lambda node: self.queue.add(key_of(node)))
        self.nodes.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.nodes.on_delete(lambda node: self.queue.add(key_of(node)))
        # Node name -> the CIDRs held for it: what a deletion releases, and what a
        # node whose patch the cache has not shown yet is given again (not a second one).
        self._held: dict[str, list[str]] = {}

    async def run(self) -> None:
        await InformerFactory.wait_synced(self.nodes)
        self.rebuild()
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.nodes,), events=self.events)  # fmt: skip

    def rebuild(self) -> None:
        """Occupy every CIDR the Nodes in the cache already carry (before allocating)."""
        for key, node in self.nodes.items.items():
            cidrs = node_cidrs(node)
            for cidr in cidrs:
                if not self.cidrs.occupy(cidr):
                    log.warning("node %s: podCIDR %s is outside %s/%d subnets", key, cidr,
                                self.cidrs.network, self.cidrs.node_mask)  # fmt: skip
            if cidrs:
                self._held[key] = cidrs

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            held = self._held.pop(key, [])
            for cidr in held:
                self.cidrs.release(cidr)
            if held:  # a node waiting on an exhausted range need not wait for its back-off
                for other, waiting in self.nodes.items.items():
                    if not node_cidrs(waiting) and other not in self._held:
                        self.queue.add(other)
            return
        cidrs = node_cidrs(node)
        if cidrs:
            for cidr in self._held.get(key, []):
                if cidr not in cidrs:
                    self.cidrs.release(cidr)  # ours, but the node took another (set by hand)
            for cidr in cidrs:
                self.cidrs.occupy(cidr)
            self._held[key] = cidrs
            return
        held = self._held.get(key) or []
        if not held:
            try:
                held = [self.cidrs.allocate()]
            except RangeExhausted as err:
                # kube-controller-manager words it through RecordNodeStatusChange.
                ref = {"kind": "Node", "apiVersion": "v1", **node}
                self.events.record(ref, "Normal", "CIDRNotAvailable",
                                   f"Node {key} status is now: CIDRNotAvailable")  # fmt: skip
                if not self.queue.num_requeues(key):
                    log.warning("node %s: %s", key, err)
                self.queue.add_rate_limited(key)  # back-off; a deleted node wakes it sooner
                return
            self._held[key] = held
        patch = {
            "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
            "spec": {"podCIDR": held[0], "podCIDRs": held},
        }
        try:
            await self._client.patch(resource_path("", "v1", "nodes", name=key), patch)
        except ApiStatusError as err:
            if err.code == 404:
                return  # deleted meanwhile: its delete event releases the CIDR
            if err.code != 409:
                raise
            self.queue.add(key)  # changed meanwhile: the next sync sees the fresh node
