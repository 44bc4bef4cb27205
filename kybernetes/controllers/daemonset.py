"""The DaemonSet controller: one daemon pod on every eligible node.

A thin loop around `daemonset_decisions` (STYLE.md habit 1): DaemonSet,
pod and node events only put DaemonSet keys on the work queue; `sync(key)`
makes sure the current template has its ControllerRevision, then asks the
pure functions which nodes need a pod and which pods must go (and, when
nothing else is pending, which old pods the rolling update replaces), does
that through the API, prunes history beyond `revisionHistoryLimit` and
writes the status, conditioned on the DaemonSet's resourceVersion.

Pods are pinned to their node by a `matchFields metadata.name` node
affinity; the scheduler binds them, as in Kubernetes since 1.12.

Orphan pods the selector matches are adopted, owned pods it no longer
matches released (`adoption`); failed daemon pods are replaced with a
per-node back-off. An orphan ControllerRevision is adopted when the current
template's revision name is taken by it; other orphan revisions are not.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Sequence
from typing import Any

from kybernetes.api import selectors
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_CONTROLLER, controller_uid
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.adoption import ORPHANS, claim_pods, orphan_namespace
from kybernetes.controllers.daemonset_decisions import (
    DaemonPlan,
    daemon_pod,
    daemonset_status,
    manage,
    nodes_to_daemon_pods,
    rolling_update,
    seconds_until_available,
    target_node,
)
from kybernetes.controllers.expectations import Expectations
from kybernetes.controllers.history import (
    HASH_LABEL,
    hash_object,
    revisions_to_delete,
    template_patch,
)
from kybernetes.controllers.history_client import HashCollision, delete_revisions, ensure_revision
from kybernetes.controllers.replicaset_decisions import slow_start_batches
from kybernetes.controllers.runner import run_controller

__all__ = ["DaemonSetController", "FailedPodBackoff"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2
RECHECK = 0.5
BURST = 250  # pods created or deleted per sync at most (kube's burstReplicas)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _owner_key(obj: Obj, kind: str) -> str | None:
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return f"{meta.get('namespace', '')}/{ref['name']}"
    return None


def _node_matters(old: Obj, new: Obj) -> bool:
    """Only labels, taints and the node's existence decide where daemons run."""
    return (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get(
        "labels"
    ) or (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints")


class FailedPodBackoff:
    """Per DaemonSet and node: how soon a failed daemon pod may be replaced again.

    A kubelet that keeps rejecting a daemon pod would otherwise meet an
    endless create/delete loop; like kube's failedPodsBackoff the wait
    doubles from 1 s to 15 min with each failure, and resets after a quiet
    spell of twice the cap.
    """

    def __init__(self, *, initial: float = 1.0, cap: float = 900.0) -> None:
        self._initial, self._cap = initial, cap
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (last failure, delay)

    def wait(self, key: str, now: float) -> float | None:
        """Seconds left before acting again on `key`, or None (and the delay steps up)."""
        last, delay = self._entries.get(key, (now, 0.0))
        if delay and now - last < delay:
            return delay - (now - last)
        if delay and now - last > 2 * self._cap:
            delay = 0.0
        self._entries[key] = (now, min(delay * 2, self._cap) if delay else self._initial)
        return None


class DaemonSetController:
    def __init__(self, informers: InformerFactory) -> None:
        self._client = informers.client
        self.events = EventRecorder(self._client, "daemonset-controller")
        self.daemonsets = informers.informer("apps", "v1", "daemonsets")
        self.pods = informers.informer("", "v1", "pods")
        self.nodes = informers.informer("", "v1", "nodes")
        self.revisions = informers.informer("apps", "v1", "controllerrevisions")
        self.pods.add_index(BY_CONTROLLER, controller_uid)
        self.pods.add_index(ORPHANS, orphan_namespace)
        self.revisions.add_index(BY_CONTROLLER, controller_uid)
        self.queue: WorkQueue[str] = WorkQueue(name="daemonset")
        self.daemonsets.on_add(lambda ds: self.queue.add(key_of(ds)))
        self.daemonsets.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        self.pods.on_delete(self._pod_changed)
        self.nodes.on_add(lambda node: self._enqueue_all())
        self.nodes.on_update(self._node_updated)
        self.nodes.on_delete(lambda node: self._enqueue_all())
        self.expectations = Expectations(self.pods.get, lambda: asyncio.get_running_loop().time())
        self.failed_backoff = FailedPodBackoff()

    def _pod_changed(self, pod: Obj) -> None:
        key = _owner_key(pod, "DaemonSet")
        if key is not None:
            self.queue.add(key)
        elif orphan_namespace(pod):
            self._orphan_changed(pod)

    def _orphan_changed(self, pod: Obj) -> None:
        """An orphan wakes the DaemonSets of its namespace whose selector matches it."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        for key, ds in list(self.daemonsets.items.items()):
            if (ds.get("metadata") or {}).get("namespace") != meta.get("namespace"):
                continue
            try:
                selector = selectors.label_selector_from_object(
                    (ds.get("spec") or {}).get("selector"))  # fmt: skip
            except selectors.SelectorError:
                continue
            if selector.matches(labels):
                self.queue.add(key)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if _node_matters(old, new):
            self._enqueue_all()

    def _enqueue_all(self) -> None:
        for key in list(self.daemonsets.items):
            self.queue.add(key)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.daemonsets, self.pods, self.nodes, self.revisions),
                             events=self.events)  # fmt: skip

    async def _daemon_pods(self, ds: Obj) -> list[Obj]:
        """Pods this DaemonSet controls, after adopting orphans and releasing strays."""
        try:
            selector = selectors.label_selector_from_object((ds.get("spec") or {}).get("selector"))
        except selectors.SelectorError:
            return []
        meta = ds["metadata"]
        candidates = [*self.pods.by_index(BY_CONTROLLER, meta["uid"]),
                      *self.pods.by_index(ORPHANS, meta.get("namespace", ""))]  # fmt: skip
        return await claim_pods(self._client, ds, selector=selector, candidates=candidates,
                                plural="daemonsets")  # fmt: skip

    async def sync(self, key: str) -> None:
        ds = self.daemonsets.get(key)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            self.expectations.forget(key)
            return  # gone: its pods and revisions are the garbage collector's
        uid = ds["metadata"]["uid"]
        collisions = (ds.get("status") or {}).get("collisionCount")
        digest = hash_object((ds.get("spec") or {}).get("template") or {}, collisions)
        revisions = self.revisions.by_index(BY_CONTROLLER, uid)
        try:
            current = await ensure_revision(
                self._client, ds, kind="DaemonSet", digest=digest, data=template_patch(ds),
                revisions=revisions,
            )  # fmt: skip
        except HashCollision:
            await self._write_status(ds, {**(ds.get("status") or {}),
                                          "collisionCount": int(collisions or 0) + 1})  # fmt: skip
            return
        digest = str((current["metadata"].get("labels") or {}).get(HASH_LABEL, digest))
        nodes = list(self.nodes.items.values())
        pods = await self._daemon_pods(ds)
        now = _now()
        if self.expectations.satisfied(key):
            node_pods = nodes_to_daemon_pods(pods)
            plan = manage(ds, nodes, node_pods, digest=digest, now=now)
            strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
            if not (plan.create or plan.delete) and strategy in (None, "RollingUpdate"):
                # Only once nothing is pending: a rolling step judges a settled cache.
                plan = rolling_update(ds, nodes, node_pods, digest=digest, now=now)
            await self._apply(ds, plan, key=key, digest=digest,
                              revision=int(current.get("revision") or 0))  # fmt: skip
            await self._prune_history(ds, current, revisions=revisions, pods=pods)
        else:
            self.queue.add_after(key, RECHECK)
        settled = [p for p in pods if not (p["metadata"].get("deletionTimestamp")
                                           and (p.get("status") or {}).get("phase")
                                           in ("Succeeded", "Failed"))]  # fmt: skip
        status = daemonset_status(ds, nodes, nodes_to_daemon_pods(settled), digest=digest, now=now)
        await self._write_status(ds, status)
        wait = seconds_until_available(
            settled, min_ready_seconds=int(ds["spec"].get("minReadySeconds") or 0), now=now
        )
        if wait is not None:
            self.queue.add_after(key, wait)  # to count the pod available then

    async def _apply(self, ds: Obj, plan: DaemonPlan, *, key: str, digest: str,
                     revision: int) -> None:  # fmt: skip
        namespace = ds["metadata"].get("namespace", "")
        held = []
        now = asyncio.get_running_loop().time()
        for pod in plan.failed:
            node = target_node(pod)
            wait = self.failed_backoff.wait(f"{key}/{node}", now)
            if wait is not None:
                held.append(pod)  # replaced too often lately: later
                self.queue.add_after(key, wait)
                continue
            self.events.record(ds, "Warning", "FailedDaemonPod",
                               f"Found failed daemon pod {namespace}/{pod['metadata']['name']} "
                               f"on node {node}, will try to kill it")  # fmt: skip
        deletes = [p for p in plan.delete if p not in held][:BURST]
        self.expectations.expect(key, deleted=[key_of(p) for p in deletes])
        for pod in deletes:
            await self._delete_pod(ds, pod)
        await self._create_pods(ds, list(plan.create)[:BURST], key=key, digest=digest,
                                revision=revision)  # fmt: skip

    async def _create_pods(
        self, ds: Obj, nodes: Sequence[str], *, key: str, digest: str, revision: int
    ) -> None:
        """Create in slow-start batches; each created pod becomes an expectation."""
        path = resource_path("", "v1", "pods", ds["metadata"].get("namespace", ""))
        todo = list(nodes)
        for batch in slow_start_batches(len(todo)):
            targets, todo = todo[:batch], todo[batch:]
            results = await asyncio.gather(
                *(
                    self._client.create(
                        path, daemon_pod(ds, node, digest=digest, revision=revision)
                    )
                    for node in targets
                ),
                return_exceptions=True,
            )
            made = [r for r in results if isinstance(r, dict)]
            self.expectations.expect(key, created=[key_of(p) for p in made])
            for pod in made:
                self.events.record(ds, "Normal", "SuccessfulCreate",
                                   f"Created pod: {pod['metadata']['name']}")  # fmt: skip
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                self.events.record(ds, "Warning", "FailedCreate",
                                   f"Error creating: {failures[0]}")  # fmt: skip
                raise failures[0]  # retried with back-off; the next sync creates the rest

    async def _delete_pod(self, ds: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        path = resource_path("", "v1", "pods", pod["metadata"].get("namespace", ""), name)
        try:
            # Preconditioned on the uid: a stale cache never deletes a newer pod.
            await self._client.delete(path, {"preconditions": {"uid": pod["metadata"]["uid"]}})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                self.events.record(ds, "Warning", "FailedDelete", f"Error deleting: {err}")
                raise
        else:
            self.events.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def _prune_history(
        self, ds: Obj, current: Obj, *, revisions: Sequence[Obj], pods: Sequence[Obj]
    ) -> None:
        """Old revisions beyond revisionHistoryLimit go, unless a pod still runs one."""
        running = {(p["metadata"].get("labels") or {}).get(HASH_LABEL) for p in pods}
        live = {current["metadata"]["name"]} | {
            r["metadata"]["name"] for r in revisions
            if (r["metadata"].get("labels") or {}).get(HASH_LABEL) in running
        }  # fmt: skip
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10))
        await delete_revisions(self._client, revisions_to_delete(revisions, live=live, limit=limit))

    async def _write_status(self, ds: Obj, status: Obj) -> None:
        if (ds.get("status") or {}) == status:
            return
        meta = ds["metadata"]
        path = resource_path("apps", "v1", "daemonsets", meta.get("namespace", ""),
                             meta["name"], "status")  # fmt: skip
        try:
            await self._client.update(path, {**ds, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(ds))  # moved on meanwhile: sync again from the cache
