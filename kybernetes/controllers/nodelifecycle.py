"""The node lifecycle controller: lost nodes go Unknown, get tainted, lose their pods.

kube-controller-manager's node lifecycle and taint-eviction controllers in
one thin loop per node (STYLE.md habit 1) around `nodelifecycle_decisions`.
Node, Lease (kube-node-lease) and pod events put the node's name on the
work queue; `sync(name)`:

1. notes when the node's Lease renewTime or Ready heartbeat last changed
   (on this controller's clock) and, past the grace period, writes every
   condition Unknown (`NodeStatusUnknown`);
2. when Ready is not True, marks the node's pods not Ready (Kubernetes'
   MarkPodsNotReady) and records `NodeNotReady`;
3. makes the controller-owned taints what the conditions call for, the
   NoExecute one under the zone's eviction rate limiter (none at all when
   every zone is down);
4. deletes, gracefully, the pods that do not tolerate the node's NoExecute
   taints, at once or after their `tolerationSeconds` (the node's kubelet
   finishes the delete, as ever; a dead node's pods stay Terminating until
   it returns or is removed, as in Kubernetes).

Each step re-queues the node for the moment something will next be due
(lease expiry, a toleration running out, a rate-limiter token), so no
periodic sweep over all nodes is needed. Every write is conditioned on
the object's resourceVersion. Time is the injected `clock` (seconds since
the epoch), the same scale as the taints' `timeAdded`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NODE, node_name
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.nodelifecycle_decisions import (
    EvictionRates,
    TokenBuckets,
    condition,
    disruption_target_status,
    eviction_deadline,
    eviction_qps,
    lost_conditions,
    pod_not_ready_status,
    ready_status,
    updated_taints,
    wanted_taints,
    zone_of,
    zone_state,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["NodeLifecycleController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 4
NODE_LEASES = "kube-node-lease"
RATE_RECHECK = 5.0  # seconds: when the rate is 0, look again this often


def _as(kind: str, obj: Obj) -> Obj:
    """Informer items may lack kind/apiVersion; Events need them."""
    return {"kind": kind, "apiVersion": "v1", **obj}


class NodeLifecycleController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        grace_period: float = 50.0,
        rates: EvictionRates | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = informers.client
        self.grace_period = grace_period
        self.rates = rates or EvictionRates()
        self._clock = clock
        self.events = EventRecorder(self._client, "node-controller")
        self.nodes = informers.informer("", "v1", "nodes")
        self.leases = informers.informer("coordination.k8s.io", "v1", "leases")
        self.pods = informers.informer("", "v1", "pods")
        self.pods.add_index(BY_NODE, node_name)
        self.queue: WorkQueue[str] = WorkQueue(name="nodelifecycle")
        self.nodes.on_add(lambda node: self.queue.add(key_of(node)))
        self.nodes.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.nodes.on_delete(self._node_deleted)
        self.leases.on_add(self._lease_changed)
        self.leases.on_update(lambda old, new: self._lease_changed(new))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        # Node -> (lease renewTime, Ready heartbeat, when we saw either change).
        self._probes: dict[str, tuple[str, str, float]] = {}
        self._was_ready: dict[str, bool] = {}
        # Node -> (zone, ready) and zone -> [ready, not ready]: zone states in O(1).
        self._zones: dict[str, tuple[str, bool]] = {}
        self._counts: dict[str, list[int]] = {}
        self._all_down = False
        self._buckets = TokenBuckets()
        self._evicted: set[str] = set()  # pod uids deleted by us, not yet seen Terminating
        # Node -> keys of its pods waiting out a tolerationSeconds (for "Cancelling deletion").
        self._waiting: dict[str, set[str]] = {}
        # Pod key -> when it started waiting, for taints without a timeAdded.
        self._since: dict[str, float] = {}

    # -- handlers (only enqueue) -----------------------------------------------------

    def _lease_changed(self, lease: Obj) -> None:
        if lease["metadata"].get("namespace") == NODE_LEASES:
            self.queue.add(lease["metadata"]["name"])

    def _pod_changed(self, pod: Obj) -> None:
        name = (pod.get("spec") or {}).get("nodeName")
        if name:
            self.queue.add(name)

    def _node_deleted(self, node: Obj) -> None:
        name = key_of(node)
        if name in self._probes:
            message = f"Node {name} event: Removing Node {name} from Controller"
            self.events.record(_as("Node", node), "Normal", "RemovingNode", message)
        self.queue.add(name)

    async def run(self) -> None:
        await InformerFactory.wait_synced(self.nodes, self.leases, self.pods)
        self.seed_zones()
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.nodes, self.leases, self.pods),
                             events=self.events)  # fmt: skip

    def seed_zones(self) -> None:
        """Count every cached node into its zone before the first sync.

        Zone states (and "every node is down") must see all nodes from the
        start: counted one sync at a time, the first not-ready node synced
        would look like the whole cluster down and lose its NoExecute taint
        (and its pods' toleration clocks with it).
        """
        for name, node in self.nodes.items.items():
            self._account(name, (zone_of(node), ready_status(node) == "True"))

    # -- sync ------------------------------------------------------------------------

    async def sync(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            self._probes.pop(name, None)
            self._was_ready.pop(name, None)
            for key in self._waiting.pop(name, set()):
                self._since.pop(key, None)
            self._account(name, None)
            return
        now = self._clock()
        if name not in self._probes:
            message = f"Node {name} event: Registered Node {name} in Controller"
            self.events.record(_as("Node", node), "Normal", "RegisteredNode", message)
        node = await self._check_health(name, node, now)
        if node is None:
            return  # a write raced another: synced again from the fresher cache
        ready = ready_status(node) == "True"
        if not ready and self._was_ready.get(name):
            self.events.record(_as("Node", node), "Normal", "NodeNotReady",
                               f"Node {name} status is now: NodeNotReady")  # fmt: skip
        self._was_ready[name] = ready
        self._account(name, (zone_of(node), ready))
        pods = [p for p in self.pods.by_index(BY_NODE, name)
                if not p["metadata"].get("deletionTimestamp")]  # fmt: skip
        if not ready:
            await self._mark_pods_not_ready(pods, now)
        node = await self._taint(name, node, now)
        if node is None:
            return
        await self._evict(name, node, pods, now)

    def _later(self, name: str, at: float, now: float) -> None:
        """Sync `name` again at wall time `at` (the queue keeps each key's earliest)."""
        self.queue.add_after(name, max(at - now, 0.0) + 0.01)

    async def _check_health(self, name: str, node: Obj, now: float) -> Obj | None:
        lease = self.leases.get(f"{NODE_LEASES}/{name}") or {}
        renewed = str((lease.get("spec") or {}).get("renewTime") or "")
        heartbeat = str((condition(node, "Ready") or {}).get("lastHeartbeatTime") or "")
        probe = self._probes.get(name)
        if probe is None or probe[:2] != (renewed, heartbeat):
            probe = self._probes[name] = (renewed, heartbeat, now)
        expires = probe[2] + self.grace_period
        if now < expires:
            self._later(name, expires, now)
            return node
        conditions = lost_conditions(node, now)
        if conditions is None:
            return node
        log.info("node %s: no heartbeat for %.0fs; marking its status Unknown", name,
                 now - probe[2])  # fmt: skip
        body = {**node, "status": {**(node.get("status") or {}), "conditions": conditions}}
        return await self._write(f"{resource_path('', 'v1', 'nodes', name=name)}/status", body,
                                 name)  # fmt: skip

    async def _write(self, path: str, body: Obj, name: str) -> Obj | None:
        try:
            return await self._client.update(path, body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            if err.code == 409:
                self.queue.add(name)
            return None

    async def _mark_pods_not_ready(self, pods: list[Obj], now: float) -> None:
        for pod in pods:
            status = pod_not_ready_status(pod, now)
            if status is None:
                continue
            meta = pod["metadata"]
            path = resource_path("", "v1", "pods", meta["namespace"], meta["name"], "status")
            try:
                await self._client.update(path, {**pod, "status": status})
            except ApiStatusError as err:
                if err.code == 404:
                    continue
                if err.code != 409:
                    raise
                self.queue.add(pod["spec"]["nodeName"])
                continue
            self.events.record(_as("Pod", pod), "Warning", "NodeNotReady", "Node is not ready")

    # -- taints ----------------------------------------------------------------------

    def _account(self, name: str, entry: tuple[str, bool] | None) -> None:
        """Keep the per-zone ready/not-ready counts; a change of 'all down' re-syncs all."""
        old = self._zones.pop(name, None)
        if old is not None:
            self._counts[old[0]][0 if old[1] else 1] -= 1
            if not any(self._counts[old[0]]):
                del self._counts[old[0]]
        if entry is not None:
            self._zones[name] = entry
            self._counts.setdefault(entry[0], [0, 0])[0 if entry[1] else 1] += 1
        all_down = bool(self._counts) and all(ready == 0 for ready, _ in self._counts.values())
        if all_down != self._all_down:
            self._all_down = all_down
            if all_down:
                log.warning("all nodes are not ready: no evictions (full disruption)")
            else:
                log.warning("some nodes are ready again: evictions resume")
            for other in self._zones:
                self.queue.add(other)

    async def _taint(self, name: str, node: Obj, now: float) -> Obj | None:
        zone = zone_of(node)
        ready, not_ready = self._counts.get(zone, [0, 0])
        threshold = self.rates.unhealthy_zone_threshold
        state = zone_state(ready, not_ready, unhealthy_threshold=threshold)
        qps = eviction_qps(state, ready + not_ready, self.rates, all_down=self._all_down)
        current = list((node.get("spec") or {}).get("taints") or [])
        wanted = wanted_taints(node, no_execute=not self._all_down)
        new_no_execute = [
            t for t in wanted
            if t["effect"] == "NoExecute"
            and not any(c.get("key") == t["key"] and c.get("effect") == "NoExecute"
                        for c in current)
        ]  # fmt: skip
        hold = False
        if new_no_execute:
            wait = self._buckets.take(zone, qps, now)
            if wait > 0:
                # Not this node's turn yet: NoSchedule now, NoExecute when a token comes.
                wanted = [t for t in wanted if t not in new_no_execute]
                hold = True
                self._later(name, now + min(wait, RATE_RECHECK), now)
        taints = updated_taints(current, wanted, now, keep_no_execute=hold)
        if taints is None:
            return node
        body = {**node, "spec": {**(node.get("spec") or {}), "taints": taints}}
        return await self._write(resource_path("", "v1", "nodes", name=name), body, name)

    # -- eviction --------------------------------------------------------------------

    async def _evict(self, name: str, node: Obj, pods: list[Obj], now: float) -> None:
        taints = (node.get("spec") or {}).get("taints") or []
        waiting = self._waiting.setdefault(name, set())
        due: set[str] = set()
        for pod in pods:
            key = key_of(pod)
            deadline = eviction_deadline(pod, taints, now, since=self._since.get(key, now))
            if deadline is None:
                continue
            if deadline > now:
                self._later(name, deadline, now)
                due.add(key)
                self._since.setdefault(key, now)
                continue
            await self._delete(pod, now)
            waiting.discard(key)  # deleted, not cancelled
            self._since.pop(key, None)
        # Pods that were waiting out a toleration and need not any more (the node
        # is back, or they now tolerate it for good): as the taint manager says it.
        for key in waiting - due:
            self._since.pop(key, None)
            still = self.pods.get(key)
            if still is not None and not still["metadata"].get("deletionTimestamp"):
                self.events.record(_as("Pod", still), "Normal", "TaintManagerEviction",
                                   f"Cancelling deletion of Pod {key}")  # fmt: skip
        if due:
            self._waiting[name] = due
        else:
            del self._waiting[name]

    async def _delete(self, pod: Obj, now: float) -> None:
        meta = pod["metadata"]
        if meta["uid"] in self._evicted:
            return
        key = f"{meta['namespace']}/{meta['name']}"
        status = disruption_target_status(pod, now)
        if status is not None:
            path = resource_path("", "v1", "pods", meta["namespace"], meta["name"], "status")
            try:
                await self._client.update(path, {**pod, "status": status})
            except ApiStatusError as err:
                if err.code == 409:
                    self.queue.add(pod["spec"]["nodeName"])  # again, from the fresher pod
                    return
                if err.code != 404:
                    raise
        self.events.record(_as("Pod", pod), "Normal", "TaintManagerEviction",
                           f"Marking for deletion Pod {key}")  # fmt: skip
        path = resource_path("", "v1", "pods", meta["namespace"], meta["name"])
        try:
            await self._client.delete(path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                             "preconditions": {"uid": meta["uid"]}})  # fmt: skip
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
        self._evicted.add(meta["uid"])
        if len(self._evicted) > 100_000:  # bounded: a pod seen Terminating is skipped anyway
            self._evicted.clear()
