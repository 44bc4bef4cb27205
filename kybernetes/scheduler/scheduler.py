"""The scheduler: informers feed a cache and a queue; one serial cycle; bindings in parallel.

As kube-scheduler: the scheduling cycle (pop a pod, filter and score nodes
over the cache, assume the pod on the chosen node) runs one pod at a time,
so every decision sees every earlier one; the binding cycle (POST
`pods/NAME/binding`, then the `Scheduled` event) runs concurrently, at most
`parallel_bindings` requests in flight, so API round trips never stall the
cycle. A pod that fits nowhere gets `PodScheduled=False` with the reason
message and a `FailedScheduling` event, may preempt lower-priority pods,
and waits in the queue's unschedulable set until the cluster changes.

Handlers only update the cache and the queue (no I/O). Everything the
scheduler writes goes through the API like any client, and `run()` is
meant to run under the leader election of `run_scheduler`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from kybernetes.api.times import now_rfc3339
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.leaderelection import LeaderElector, LeaseConfig
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.scheduler.cache import Cache, node_fields_changed
from kybernetes.scheduler.framework import FitError, Framework
from kybernetes.scheduler.plugins import DEFAULT_PROFILE, DEFAULT_WEIGHTS, make_plugins
from kybernetes.scheduler.preemption import Preemption, plugins_of, preempt
from kybernetes.scheduler.queue import QueuedPod, SchedulingQueue
from kybernetes.scheduler.types import PodInfo, pod_is_terminal
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["COMPONENT", "LEASE", "Scheduler", "run_scheduler", "unschedulable_condition"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "default-scheduler"
LEASE = ("kube-system", "kube-scheduler")
FLUSH_INTERVAL = 30.0
# Plugins whose verdict can change when a pod is placed (not only when one leaves).
AFFINITY_PLUGINS = ("InterPodAffinity", "PodTopologySpread")


def unschedulable_condition(message: str, now: str) -> Obj:
    return {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }


def _condition(pod: Obj, kind: str) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            found: Obj = condition
            return found
    return None


def _relevant(old: Obj, new: Obj) -> bool:
    """Did more than the status (or bookkeeping metadata) change?"""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (
        old.get("spec") != new.get("spec")
        or om.get("labels") != nm.get("labels")
        or om.get("annotations") != nm.get("annotations")
    )


def _same_but_bound(pending: Obj, bound: Obj) -> bool:
    """Is `bound` the pending pod with only a node name (and status) added?"""
    before, after = dict(pending.get("spec") or {}), dict(bound.get("spec") or {})
    before.pop("nodeName", None)
    after.pop("nodeName", None)
    labels = (
        (pending.get("metadata") or {}).get("labels"),
        (bound.get("metadata") or {}).get("labels"),
    )
    return before == after and labels[0] == labels[1]


class Scheduler:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        scheduler_name: str = COMPONENT,
        percentage_of_nodes_to_score: int = 0,
        parallel_bindings: int = 64,
        profile: tuple[str, ...] = DEFAULT_PROFILE,
        weights: dict[str, int] | None = None,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.monotonic,
        flush_interval: float = FLUSH_INTERVAL,
        max_unschedulable: float = 300.0,
    ) -> None:
        self.client = informers.client
        self.scheduler_name = scheduler_name
        self.cache = Cache()
        self.queue = SchedulingQueue(now=now, max_unschedulable=max_unschedulable)
        self.framework = Framework(
            make_plugins(profile),
            weights or DEFAULT_WEIGHTS,
            percentage_of_nodes_to_score=percentage_of_nodes_to_score,
            rng=rng,
        )
        self.events = EventRecorder(self.client, COMPONENT)
        self.flush_interval = flush_interval
        self._bindings = asyncio.Semaphore(parallel_bindings)
        self._inflight: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        self.failed = 0
        self.nodes = informers.informer("", "v1", "nodes")
        self.pods = informers.informer("", "v1", "pods")
        self.nodes.on_add(self._node_added)
        self.nodes.on_update(self._node_updated)
        self.nodes.on_delete(self._node_deleted)
        self.pods.on_add(self._pod_added)
        self.pods.on_update(self._pod_updated)
        self.pods.on_delete(self._pod_deleted)

    # -- handlers: cache and queue only -----------------------------------------------

    def _responsible(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and (spec.get("schedulerName") or COMPONENT) == self.scheduler_name
            and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and not pod_is_terminal(pod)
        )

    def _node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if node_fields_changed(old, new):
            self.queue.move_all()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node)

    def _pending(self, pod: Obj) -> PodInfo:
        info = PodInfo(pod)
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or ""
        if nominated or info.key in self.cache.nominated_keys():
            self.cache.nominate(info, str(nominated))
        return info

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            if not pod_is_terminal(pod):
                self.cache.add_pod(PodInfo(pod))
                self.queue.move_all(AFFINITY_PLUGINS)
        elif self._responsible(pod):
            self.queue.add(self._pending(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = PodInfo.key_of(new)
        if (new.get("spec") or {}).get("nodeName"):
            self.queue.delete(key)
            self.cache.unnominate(key)
            if pod_is_terminal(new):
                if key in self.cache.pods:
                    self.cache.remove_pod(key)
                    self.queue.move_all()  # its resources are free
                return
            placed = not (old.get("spec") or {}).get("nodeName")
            assumed = self.cache.pods.get(key)
            if (
                placed
                and assumed is not None
                and self.cache.is_assumed(key)
                and (
                    assumed.uid == (new.get("metadata") or {}).get("uid")
                    and assumed.node_name == new["spec"]["nodeName"]
                    and _same_but_bound(assumed.obj, new)
                )
            ):
                # Our own binding, seen: the assumed entry is already right.
                self.cache.confirm(key, new)
            else:
                self.cache.add_pod(PodInfo(new))
            if placed or _relevant(old, new):
                self.queue.move_all(AFFINITY_PLUGINS)
        elif self._responsible(new):
            self.queue.update(self._pending(new), changed=_relevant(old, new))
        else:
            self.queue.delete(key)
            self.cache.unnominate(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = PodInfo.key_of(pod)
        self.queue.delete(key)
        self.cache.unnominate(key)
        if key in self.cache.pods:
            self.cache.remove_pod(key)
            self.queue.move_all()

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Schedule until cancelled (caches first, like every controller)."""
        await InformerFactory.wait_synced(self.nodes, self.pods)
        writer = asyncio.create_task(self.events.run(), name="kyb-scheduler-events")
        flusher = asyncio.create_task(self._flush_loop(), name="kyb-scheduler-flush")
        try:
            while True:
                queued = await self.queue.pop()
                if queued is None:
                    return
                await self.schedule_one(queued)
        finally:
            self.queue.close()
            for task in list(self._inflight):
                await cancel_and_wait(task)
            await cancel_and_wait(flusher)
            await cancel_and_wait(writer)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.queue.flush_unschedulable()

    async def schedule_one(self, queued: QueuedPod) -> None:
        """One scheduling cycle; its API writes go to background tasks."""
        pod = queued.pod
        result = self.framework.schedule(pod, self.cache)
        self.queue.stamp(queued)
        if result.node:
            self.cache.unnominate(pod.key)
            self.cache.assume(pod, result.node)
            self.queue.done(pod.key)
            await self._bindings.acquire()
            self._spawn(self._bind(queued, result.node), f"bind {pod.key}")
            return
        error = result.error or FitError(len(self.cache.node_list))
        preemption = self._preempt(pod, error) if error.num_all_nodes else Preemption()
        error.post_filter_message = preemption.message
        if preemption.node:
            self.cache.nominate(pod, preemption.node)  # keep the room before the API says so
        self.failed += 1
        self.queue.unschedulable(queued, plugins_of(error))
        self._spawn(
            self._report_unschedulable(pod, error.message(), preemption), f"unschedulable {pod.key}"
        )

    def _preempt(self, pod: PodInfo, error: FitError) -> Preemption:
        prepared = self.framework.run_pre_filters({}, pod, self.cache)
        if prepared.rejected is not None:
            everywhere = {n.name: prepared.rejected for n in self.cache.node_list}
            inner = FitError(error.num_all_nodes, everywhere)
            return Preemption(message=f"preemption: {inner.message()}")
        return preempt(pod, error, self.cache.node_list, prepared.check)

    def _spawn(self, work: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"kyb-scheduler {name}")
        self._inflight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """A background write ended: never let its failure pass unseen."""
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %r", task.get_name(), task.exception())

    # -- API writes ---------------------------------------------------------------------

    async def _bind(self, queued: QueuedPod, node: str) -> None:
        pod = queued.pod
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            await self.client.create(
                resource_path("", "v1", "pods", pod.namespace, pod.name, "binding"), body
            )
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure: forget, then retry the pod
            self.cache.forget(pod)
            gone = isinstance(err, ApiStatusError) and err.code in (404, 409)
            log.info("binding %s to %s failed: %s", pod.key, node, err)
            if not gone:
                self.events.record(
                    pod.obj, "Warning", "FailedScheduling", f"Binding rejected: {err}"
                )
                self.queue.retry(queued)
            return
        finally:
            self._bindings.release()
        self.scheduled += 1
        self.events.record(
            pod.obj, "Normal", "Scheduled", f"Successfully assigned {pod.key} to {node}"
        )

    async def _report_unschedulable(
        self, pod: PodInfo, message: str, preemption: Preemption
    ) -> None:
        self.events.record(pod.obj, "Warning", "FailedScheduling", message)
        try:
            await self._write_status(pod, message, preemption.node)
            for victim in preemption.victims:
                await self._evict(victim, pod, preemption.node)
        except asyncio.CancelledError:
            raise
        except ApiStatusError as err:
            log.info("status of %s not written: %s", pod.key, err)

    async def _write_status(self, pod: PodInfo, message: str, nominated: str) -> None:
        status: Obj = {}
        current = _condition(pod.obj, "PodScheduled")
        if current is None or current.get("status") != "False" or current.get("message") != message:
            transition = (
                (current or {}).get("lastTransitionTime")
                if (current and current.get("status") == "False")
                else now_rfc3339()
            )
            status["conditions"] = [unschedulable_condition(message, transition or now_rfc3339())]
        if nominated and (pod.obj.get("status") or {}).get("nominatedNodeName") != nominated:
            status["nominatedNodeName"] = nominated
        if not status:
            return
        await self.client.patch(
            resource_path("", "v1", "pods", pod.namespace, pod.name, "status"),
            {"status": status},
            content_type="application/strategic-merge-patch+json",
        )

    async def _evict(self, victim: PodInfo, preemptor: PodInfo, node: str) -> None:
        """Mark the victim DisruptionTarget, then delete it (kube-scheduler's preemption)."""
        path = resource_path("", "v1", "pods", victim.namespace, victim.name)
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": f"{COMPONENT}: preempting to accommodate a higher priority pod",
            "lastTransitionTime": now_rfc3339(),
        }
        try:
            await self.client.patch(
                path + "/status",
                {"status": {"conditions": [condition]}},
                content_type="application/strategic-merge-patch+json",
            )
            await self.client.delete(path, {"preconditions": {"uid": victim.uid}})
        except ApiStatusError as err:
            if err.code != 404:
                raise
            return
        self.events.record(
            victim.obj, "Normal", "Preempted", f"Preempted by pod {preemptor.uid} on node {node}"
        )


async def run_scheduler(informers: InformerFactory, *, identity: str = "", **config: Any) -> None:
    """Lead (or wait to lead) the kube-system/kube-scheduler Lease and schedule until cancelled.

    Own informers per term of leadership: a new leader starts from a fresh
    list, not from what a deposed one assumed.
    """
    client = informers.client
    name = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(client, LeaseConfig(*LEASE, identity=name))

    async def lead() -> None:
        own = InformerFactory(client)
        scheduler = Scheduler(own, **config)
        own.start()
        try:
            await scheduler.run()
        finally:
            await own.stop()

    try:
        while True:
            await elector.run(lead)
            log.warning("scheduler %s lost leadership; campaigning again", name)
    finally:
        await asyncio.shield(elector.release())
