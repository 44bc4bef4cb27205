"""Simulated nodes at scale: many fake kubelets in one process, one watch for all.

Like KWOK, nothing runs; the API cannot tell the difference. The design
for thousands of nodes and tens of thousands of pods:

* One shared pod informer (every bound pod, `spec.nodeName!=`) indexed by
  node, and one node informer (label `kybernetes.io/simulated=true`),
  whatever the number of nodes.
* Pod and node status writes go through work queues with a bounded number
  of workers: a burst of 10,000 pods costs 10,000 de-duplicated keys, not
  10,000 concurrent requests. Writes are conditioned on resourceVersion;
  a conflict is retried from the fresher cache.
* One heartbeat task renews every Lease once per period, spread evenly
  over the period in small buckets (5,000 nodes at 10 s: 50 renewals every
  100 ms, not 5,000 at once); node status is re-posted only when it
  changed (the node lifecycle controller marked it Unknown) or every
  `status_interval`, as the kubelet's nodeStatusReportFrequency.
* A stopped node (`stop_heartbeat`) is a dead kubelet: no Lease renewals,
  no status, no pod work, until `resume`.

Pods get an IP from the node's `spec.podCIDR` (the node IPAM controller's);
a node that has none after `podcidr_wait` seconds falls back to a /24 of
100.64.0.0/10 (objects.fallback_pod_cidr). A pod being deleted gets its
containers terminated and is then deleted with grace period 0, as the
kubelet finishes a graceful delete. See `objects` for how a pod is told
to end (Succeeded/Failed).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.noderesources import merged_resources
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NODE, node_name
from kybernetes.client.informer import Informer, key_of
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue, run_workers
from kybernetes.simnode.objects import (
    SIMULATED_LABEL,
    NodeConfig,
    PodIPs,
    fallback_pod_cidr,
    lease_object,
    micro_time,
    node_address,
    node_conditions,
    node_object,
    node_resources,
    pod_status,
    requested_exit,
    terminated_status,
)
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["SimulatedNodes", "run_simulated_nodes"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NODES = resource_path("", "v1", "nodes")
LEASES = resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease")
SLOT = 0.1  # seconds between heartbeat buckets
KILLED = 137  # the exit code of a container killed at the end of its grace period


def _wall_clock() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _reported(node: Obj) -> tuple[Obj, Obj]:
    status = node.get("status") or {}
    return status.get("capacity") or {}, status.get("allocatable") or {}


def _ready(node: Obj) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


class SimulatedNodes:
    """`count` simulated nodes named `{prefix}{start}` … ; `run()` until cancelled."""

    def __init__(
        self,
        client: ApiClient,
        *,
        count: int,
        prefix: str = "sim-",
        start: int = 0,
        config: NodeConfig | None = None,
        ready_delay: float = 0.0,
        heartbeat_interval: float = 10.0,
        status_interval: float = 300.0,
        podcidr_wait: float = 2.0,
        concurrency: int = 64,
        pod_workers: int = 32,
        clock: Callable[[], datetime.datetime] = _wall_clock,
    ) -> None:
        self._client = client
        self.config = config or NodeConfig()
        self.names = [f"{prefix}{i}" for i in range(start, start + count)]
        self._index = {name: start + i for i, name in enumerate(self.names)}
        self.ready_delay = ready_delay
        self.heartbeat_interval = heartbeat_interval
        self.status_interval = status_interval
        self.podcidr_wait = podcidr_wait
        self.concurrency = concurrency
        self.pod_workers = pod_workers
        self._now = clock
        self.nodes = Informer(client, NODES, label_selector=f"{SIMULATED_LABEL}=true")
        self.pods = Informer(client, resource_path("", "v1", "pods"),
                             field_selector="spec.nodeName!=")  # fmt: skip
        self.pods.add_index(BY_NODE, node_name)
        self.pod_queue: WorkQueue[str] = WorkQueue(name="simnode-pods")
        self.node_queue: WorkQueue[str] = WorkQueue(name="simnode-nodes")
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        self.pods.on_delete(lambda pod: self.pod_queue.add(key_of(pod)))
        self.nodes.on_update(self._node_changed)
        self.ready = asyncio.Event()  # set once registered and the caches synced
        self._leases: dict[str, Obj] = {}
        self._stopped: set[str] = set()
        self._status_due: dict[str, float] = {}
        self._ips: dict[str, PodIPs] = {}
        self._cidr_wait: dict[str, float] = {}
        self._fell_back = False
        # Pod key -> (node, uid) for IPs to release; -> loop times when Ready, when it ends.
        self._placed: dict[str, tuple[str, str]] = {}
        self._ready_at: dict[str, float] = {}
        self._end_at: dict[str, float] = {}

    # -- control ---------------------------------------------------------------------

    def stop_heartbeat(self, name: str) -> None:
        """The node's kubelet dies: no more Lease renewals, status or pod updates."""
        self._check(name)
        self._stopped.add(name)

    def resume(self, name: str) -> None:
        """The node's kubelet is back: renew at once, re-post status, re-sync its pods."""
        self._check(name)
        self._stopped.discard(name)
        self._status_due[name] = 0.0
        self.node_queue.add(name)
        for pod in self.pods.by_index(BY_NODE, name):
            self.pod_queue.add(key_of(pod))

    def _check(self, name: str) -> None:
        if name not in self._index:
            raise KeyError(f"{name} is not one of these simulated nodes")

    # -- handlers (only enqueue) -----------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self._index:
            self.pod_queue.add(key_of(pod))

    def _node_changed(self, old: Obj, new: Obj) -> None:
        name = new["metadata"]["name"]
        if name not in self._index:
            return
        if not _ready(new) or self._resources(new) != _reported(new):
            # Someone (the lifecycle controller) says not Ready, or advertised a resource.
            self.node_queue.add(name)

    def _resources(self, node: Obj) -> tuple[Obj, Obj]:
        own = node_resources(self.config)
        return merged_resources(node.get("status") or {}, capacity=own, allocatable=own)

    # -- running ---------------------------------------------------------------------

    async def run(self, *, register: bool = True) -> None:
        """Register (unless the caller did), then heartbeat and run pods until cancelled."""
        if register:
            await self.register()
        self.nodes.start()
        self.pods.start()
        try:
            await InformerFactory.wait_synced(self.nodes, self.pods)
            self.ready.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._heartbeats(), name="kyb-simnode-heartbeats")
                group.create_task(run_workers(self.pod_queue, self.sync_pod, self.pod_workers),
                                  name="kyb-simnode-pods")  # fmt: skip
                group.create_task(run_workers(self.node_queue, self.sync_node, 4),
                                  name="kyb-simnode-nodes")  # fmt: skip
        finally:
            await self.pod_queue.shutdown()
            await self.node_queue.shutdown()
            await self.nodes.stop()
            await self.pods.stop()

    async def register(self) -> None:
        """Create every Node and its Lease, `concurrency` requests at a time."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(name: str) -> None:
            async with gate:
                await self._register(name)

        await asyncio.gather(*(one(name) for name in self.names))

    async def _register(self, name: str) -> None:
        now = self._now()
        try:
            node = await self._client.create(NODES, node_object(name, self._index[name],
                                                                self.config, now))  # fmt: skip
        except ApiStatusError as err:
            if err.code != 409:
                raise
            node = await self._client.get(f"{NODES}/{name}")  # a restart: adopt it
        try:
            lease = await self._client.create(LEASES, lease_object(node, self.config, now))
        except ApiStatusError as err:
            if err.code != 409:
                raise
            lease = await self._client.get(f"{LEASES}/{name}")
        self._leases[name] = lease
        self._status_due[name] = 0.0 if not _ready(node) else self._due()

    def _due(self) -> float:
        return asyncio.get_running_loop().time() + self.status_interval

    # -- heartbeats ------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Renew each Lease once per period, the nodes spread over SLOT-sized buckets."""
        loop = asyncio.get_running_loop()
        slots = max(1, min(len(self.names), round(self.heartbeat_interval / SLOT)))
        buckets = [self.names[i::slots] for i in range(slots)]
        begin = loop.time()
        cycle = 0
        while True:
            for number, bucket in enumerate(buckets):
                at = (
                    begin
                    + cycle * self.heartbeat_interval
                    + number * self.heartbeat_interval / slots
                )
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._renew_bucket(bucket)
            cycle += 1

    async def _renew_bucket(self, names: list[str]) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        now = loop_now = asyncio.get_running_loop().time()

        async def one(name: str) -> None:
            async with gate:
                try:
                    await self.renew(name)
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # noqa: BLE001 - one failed renewal is retried next period
                    log.info("simulated node %s: lease renewal failed: %s", name, err)

        alive = [n for n in names if n not in self._stopped]
        for name in alive:
            if self._status_due.get(name, now) <= loop_now:
                self.node_queue.add(name)
        await asyncio.gather(*(one(name) for name in alive))

    async def renew(self, name: str) -> None:
        """One Lease renewal (a conflict re-reads the Lease and tries once more)."""
        for attempt in range(2):
            lease = self._leases[name]
            body = {**lease, "spec": {**lease.get("spec", {}), "renewTime": micro_time(self._now()),
                                      "holderIdentity": name}}  # fmt: skip
            try:
                self._leases[name] = await self._client.update(f"{LEASES}/{name}", body)
                return
            except ApiStatusError as err:
                if err.code == 404:
                    node = self.nodes.get(name) or await self._client.get(f"{NODES}/{name}")
                    self._leases[name] = await self._client.create(
                        LEASES, lease_object(node, self.config, self._now())
                    )
                    return
                if err.code != 409 or attempt:
                    raise
                self._leases[name] = await self._client.get(f"{LEASES}/{name}")

    # -- node status -----------------------------------------------------------------

    async def sync_node(self, name: str) -> None:
        """Post a healthy kubelet's status when it differs, or when the report is due."""
        node = self.nodes.get(name)
        if node is None or name in self._stopped:
            return
        status = node.get("status") or {}
        previous = status.get("conditions") or []
        wanted = node_conditions(self._now(), previous)
        due = self._status_due.get(name, 0.0) <= asyncio.get_running_loop().time()
        same = {c["type"]: c["status"] for c in wanted} == {
            c.get("type"): c.get("status") for c in previous
        }
        capacity, allocatable = self._resources(node)
        if same and not due and (capacity, allocatable) == _reported(node):
            return
        body = {**node, "status": {**status, "conditions": wanted, "capacity": capacity,
                                   "allocatable": allocatable}}  # fmt: skip
        try:
            await self._client.update(f"{NODES}/{name}/status", body)
        except ApiStatusError as err:
            if err.code == 404:
                return
            if err.code != 409:
                raise
            self.node_queue.add(name)  # the cache will show the newer node
            return
        self._status_due[name] = self._due()

    # -- pods ------------------------------------------------------------------------

    def _pod_ips(self, name: str) -> PodIPs | None:
        """The node's IP pool, from its podCIDR; None while waiting for IPAM."""
        node = self.nodes.get(name) or {}
        cidr = str((node.get("spec") or {}).get("podCIDR") or "")
        ips = self._ips.get(name)
        if ips is not None and (ips.cidr == cidr or not cidr):
            return ips
        if not cidr:
            loop_now = asyncio.get_running_loop().time()
            since = self._cidr_wait.setdefault(name, loop_now)
            if loop_now - since < self.podcidr_wait:
                return None
            cidr = fallback_pod_cidr(self._index[name])
            # Said once (at warning): thousands of nodes would say it thousands of times.
            level = logging.DEBUG if self._fell_back else logging.WARNING
            self._fell_back = True
            log.log(level, "simulated node %s has no podCIDR after %.0fs (is the node IPAM "
                    "controller running?); its pods get IPs from %s", name, self.podcidr_wait,
                    cidr)  # fmt: skip
        ips = self._ips[name] = PodIPs(cidr)
        # After a restart (or a late podCIDR): the IPs pods already have stay theirs.
        for pod in self.pods.by_index(BY_NODE, name):
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                ips.claim(pod["metadata"]["uid"], str(ip))
        return ips

    def _forget(self, key: str) -> None:
        placed = self._placed.pop(key, None)
        if placed is not None and placed[0] in self._ips:
            self._ips[placed[0]].release(placed[1])
        self._ready_at.pop(key, None)
        self._end_at.pop(key, None)

    async def sync_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            self._forget(key)
            return
        name = str((pod.get("spec") or {}).get("nodeName") or "")
        if name not in self._index or name in self._stopped:
            return
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            await self._finish(pod)
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        ips = self._pod_ips(name)
        if ips is None:
            self.pod_queue.add_after(key, 0.2)
            return
        pod_ip = ips.assign(meta["uid"])
        if pod_ip is None:
            log.warning("simulated node %s: pod CIDR %s is full; %s waits", name, ips.cidr, key)
            self.pod_queue.add_after(key, 5.0)
            return
        self._placed[key] = (name, meta["uid"])
        loop_now = asyncio.get_running_loop().time()
        now = self._now()
        ending = requested_exit(pod)
        if ending is not None:
            end_at = self._end_at.setdefault(key, loop_now + ending[1])
            if loop_now >= end_at:
                await self._write_status(pod, terminated_status(pod, exit_code=ending[0], now=now))
                return
            self.pod_queue.add_after(key, end_at - loop_now)
        ready_at = self._ready_at.setdefault(key, loop_now + self.ready_delay)
        ready = loop_now >= ready_at
        if not ready:
            self.pod_queue.add_after(key, ready_at - loop_now)
        host_ip = node_address(self._index[name])
        status = pod_status(pod, host_ip=host_ip, pod_ip=pod_ip, now=now, ready=ready)
        if status != pod.get("status"):
            await self._write_status(pod, status)

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        path = resource_path("", "v1", "pods", meta["namespace"], meta["name"], "status")
        try:
            await self._client.update(path, {**pod, "status": status})
        except ApiStatusError as err:
            if err.code == 404:
                return
            if err.code != 409:
                raise
            self.pod_queue.add(key_of(pod))  # changed meanwhile: again from the cache

    async def _finish(self, pod: Obj) -> None:
        """Terminate the containers, then delete for good (grace period 0), as a kubelet."""
        meta = pod["metadata"]
        status = pod.get("status") or {}
        running = any("terminated" not in (s.get("state") or {})
                      for s in status.get("containerStatuses") or [])  # fmt: skip
        if running:
            # Killed, as a kubelet kills a container that outlives its grace period
            # (137: SIGKILL), so the pod ends Failed: a Job counts a pod deleted while
            # it ran as failed, never as a success.
            phase = status.get("phase")
            kept = phase if phase in ("Succeeded", "Failed") else None
            final = terminated_status(pod, exit_code=KILLED, now=self._now(), phase=kept)
            await self._write_status(pod, final)
        path = resource_path("", "v1", "pods", meta["namespace"], meta["name"])
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                   "preconditions": {"uid": meta["uid"]}}  # fmt: skip
        try:
            await self._client.delete(path, options)
        except ApiStatusError as err:
            if err.code not in (404, 409):  # gone, or a new pod of that name
                raise


async def run_simulated_nodes(
    client: ApiClient,
    *,
    count: int,
    prefix: str = "sim-",
    start: int = 0,
    config: NodeConfig | None = None,
    ready_delay: float = 0.0,
    heartbeat_interval: float = 10.0,
    started: Callable[[SimulatedNodes], None] | None = None,
) -> None:
    """Register `count` simulated nodes and run them until cancelled.

    `started`, if given, is called with the running `SimulatedNodes` once the
    nodes are registered and its caches synced (to stop/resume heartbeats).
    """
    sim = SimulatedNodes(
        client, count=count, prefix=prefix, start=start, config=config,
        ready_delay=ready_delay, heartbeat_interval=heartbeat_interval,
    )  # fmt: skip
    task = asyncio.create_task(sim.run(), name="kyb-simulated-nodes")
    try:
        if started is not None:
            ready = asyncio.create_task(sim.ready.wait(), name="kyb-simnode-ready")
            await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
            await cancel_and_wait(ready)
            if sim.ready.is_set():
                started(sim)
        await task
    finally:
        await cancel_and_wait(task)
