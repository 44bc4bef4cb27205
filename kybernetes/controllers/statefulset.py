"""The StatefulSet controller: pods with stable names, storage and order.

A thin loop around `statefulset_decisions` (STYLE.md habit 1): StatefulSet
and pod events put set keys on the work queue; `sync(key)` finds (or
writes) the ControllerRevision of the current template, the update
revision, applies one step of the plan (claims before pods, creations in
ordinal order, deletions guarded by the pod's uid so a late delete never
hits the replacement of the same name), prunes history and writes the
status, conditioned on the set's resourceVersion.

Claims are kept (Retain) unless `persistentVolumeClaimRetentionPolicy` says
Delete: then the set owns them (whenDeleted), or a pod scaled away does
(whenScaled), and the garbage collector removes them.

Orphan pods named `<set>-<n>` that the selector matches are adopted, owned
pods it no longer matches released (`adoption`); an orphan revision of the
current template is adopted. Not here yet: adopting other orphan revisions,
and `maxUnavailable` for rolling updates (alpha in kube).
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
from kybernetes.controllers.daemonset_decisions import seconds_until_available
from kybernetes.controllers.expectations import Expectations
from kybernetes.controllers.history import (
    hash_object,
    revision_number,
    revisions_to_delete,
    template_patch,
)
from kybernetes.controllers.history_client import HashCollision, delete_revisions, ensure_revision
from kybernetes.controllers.replicaset_decisions import slow_start_batches
from kybernetes.controllers.runner import run_controller
from kybernetes.controllers.statefulset_decisions import (
    StatefulPlan,
    apply_revision,
    claims_for,
    claims_to_release,
    ordinal_of,
    plan_step,
    pod_revision,
    statefulset_status,
)

__all__ = ["StatefulSetController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2
RECHECK = 0.5


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class StatefulSetController:
    def __init__(self, informers: InformerFactory) -> None:
        self._client = informers.client
        self.events = EventRecorder(self._client, "statefulset-controller")
        self.sets = informers.informer("apps", "v1", "statefulsets")
        self.pods = informers.informer("", "v1", "pods")
        self.claims = informers.informer("", "v1", "persistentvolumeclaims")
        self.revisions = informers.informer("apps", "v1", "controllerrevisions")
        self.pods.add_index(BY_CONTROLLER, controller_uid)
        self.pods.add_index(ORPHANS, orphan_namespace)
        self.revisions.add_index(BY_CONTROLLER, controller_uid)
        self.queue: WorkQueue[str] = WorkQueue(name="statefulset")
        self.sets.on_add(lambda sts: self.queue.add(key_of(sts)))
        self.sets.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        self.pods.on_delete(self._pod_changed)
        self.expectations = Expectations(self.pods.get, lambda: asyncio.get_running_loop().time())

    def _pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "StatefulSet":
                self.queue.add(f"{meta.get('namespace', '')}/{ref['name']}")
        if orphan_namespace(pod):
            # An orphan named like a set's pod wakes that set (which may adopt it).
            parent = str(meta.get("name", "")).rpartition("-")[0]
            if self.sets.get(f"{meta.get('namespace', '')}/{parent}") is not None:
                self.queue.add(f"{meta.get('namespace', '')}/{parent}")

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.sets, self.pods, self.claims, self.revisions),
                             events=self.events)  # fmt: skip

    async def _set_pods(self, sts: Obj) -> list[Obj]:
        """The set's pods, after adopting orphans of its name and releasing strays."""
        try:
            selector = selectors.label_selector_from_object((sts.get("spec") or {}).get("selector"))
        except selectors.SelectorError:
            return []
        meta = sts["metadata"]
        candidates = [*self.pods.by_index(BY_CONTROLLER, meta["uid"]),
                      *self.pods.by_index(ORPHANS, meta.get("namespace", ""))]  # fmt: skip

        return await claim_pods(
            self._client, sts, selector=selector, candidates=candidates, plural="statefulsets",
            member=lambda pod: ordinal_of(meta["name"], pod) is not None,  # isMemberOf
        )  # fmt: skip

    async def sync(self, key: str) -> None:
        sts = self.sets.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            self.expectations.forget(key)
            return  # gone: pods and revisions are the garbage collector's
        if not self.expectations.satisfied(key):
            self.queue.add_after(key, RECHECK)
            return
        revisions = sorted(self.revisions.by_index(BY_CONTROLLER, sts["metadata"]["uid"]),
                           key=revision_number)  # fmt: skip
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        data = template_patch(sts)
        try:
            update = await ensure_revision(
                self._client, sts, kind="StatefulSet", digest=hash_object(data, collisions),
                data=data, revisions=revisions,
            )  # fmt: skip
        except HashCollision:
            await self._write_status(sts, {**status, "collisionCount": collisions + 1})
            return
        by_name = {r["metadata"]["name"]: r for r in revisions}
        current = by_name.get(str(status.get("currentRevision") or ""), update)
        update_name, current_name = update["metadata"]["name"], current["metadata"]["name"]
        pods = await self._set_pods(sts)
        now = _now()
        plan = plan_step(sts, pods, now=now,
                         current=(apply_revision(sts, current), current_name),
                         update=(apply_revision(sts, update), update_name))  # fmt: skip
        await self._apply(sts, plan, key=key)
        status = statefulset_status(
            sts, pods, current_revision=current_name, update_revision=update_name, now=now
        )
        await self._write_status(sts, status)
        await self._prune_history(sts, revisions, live={current_name, update_name}, pods=pods)
        wait = seconds_until_available(
            pods, min_ready_seconds=int(sts["spec"].get("minReadySeconds") or 0), now=now
        )
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _apply(self, sts: Obj, plan: StatefulPlan, *, key: str) -> None:
        meta = sts["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        self.expectations.expect(key, deleted=[key_of(p) for p in plan.delete])
        for pod in plan.delete:
            pod_name = pod["metadata"]["name"]
            if pod in plan.recreate:
                phase = (pod.get("status") or {}).get("phase")
                if phase == "Failed":
                    self.events.record(sts, "Warning", "RecreatingFailedPod",
                                       f"StatefulSet {namespace}/{name} is recreating failed Pod "
                                       f"{pod_name}")  # fmt: skip
                else:
                    self.events.record(sts, "Normal", "RecreatingTerminatedPod",
                                       f"StatefulSet {namespace}/{name} is recreating terminated "
                                       f"Pod {pod_name}")  # fmt: skip
            if await self._release_claims(sts, pod):
                await self._delete_pod(sts, pod)
        for pod in plan.update:
            await self._update_pod(sts, pod)
        # In ordinal order, in slow-start batches (1, 2, 4, ...): OrderedReady plans one
        # pod at a time anyway; Parallel starts many without one broken template
        # failing a hundred times.
        todo = list(plan.create)
        for size in slow_start_batches(len(todo)):
            batch, todo = todo[:size], todo[size:]
            results = await asyncio.gather(*(self._create_pod(sts, p, key=key) for p in batch),
                                           return_exceptions=True)  # fmt: skip
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]  # retried with back-off; the next sync creates the rest
            if not all(results):
                return  # our cache lags behind: the informer will bring the pods

    async def _create_pod(self, sts: Obj, pod: Obj, *, key: str) -> bool:
        """Claims first, then the pod; False when the pod turned out to exist already."""
        name, set_name = pod["metadata"]["name"], sts["metadata"]["name"]
        namespace = sts["metadata"].get("namespace", "")
        ordinal = ordinal_of(set_name, pod)
        for claim in claims_for(sts, ordinal if ordinal is not None else 0):
            claim_name = claim["metadata"]["name"]
            if self.claims.get(f"{namespace}/{claim_name}") is not None:
                continue
            try:
                await self._client.create(
                    resource_path("", "v1", "persistentvolumeclaims", namespace), claim
                )
            except ApiStatusError as err:
                if err.reason == "AlreadyExists":
                    continue
                self.events.record(sts, "Warning", "FailedCreate",
                                   f"create Claim {claim_name} for Pod {name} in StatefulSet "
                                   f"{set_name} failed error: {err}")  # fmt: skip
                raise
            self.events.record(sts, "Normal", "SuccessfulCreate",
                               f"create Claim {claim_name} Pod {name} in StatefulSet {set_name} "
                               "success")  # fmt: skip
        try:
            created = await self._client.create(resource_path("", "v1", "pods", namespace), pod)
        except ApiStatusError as err:
            if err.reason == "AlreadyExists":
                return False  # our cache lags: the informer will bring it
            self.events.record(sts, "Warning", "FailedCreate",
                               f"create Pod {name} in StatefulSet {set_name} failed error: "
                               f"{err}")  # fmt: skip
            raise
        self.expectations.expect(key, created=[key_of(created)])
        self.events.record(sts, "Normal", "SuccessfulCreate",
                           f"create Pod {name} in StatefulSet {set_name} successful")  # fmt: skip
        return True

    async def _release_claims(self, sts: Obj, pod: Obj) -> bool:
        """`whenScaled: Delete`: a pod leaving for good takes its claims with it.

        False when a claim could not be handed over yet (the pod stays until it is).
        """
        ordinal = ordinal_of(sts["metadata"]["name"], pod)
        wanted = int((sts.get("spec") or {}).get("replicas", 1))
        start = int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)
        if ordinal is None or start <= ordinal < start + wanted:
            return True  # replaced, not scaled away: its claims stay
        namespace = sts["metadata"].get("namespace", "")
        existing = {c["metadata"]["name"]: c for c in self.claims.items.values()
                    if c["metadata"].get("namespace", "") == namespace}  # fmt: skip
        for claim in claims_to_release(sts, pod, existing=existing):
            path = resource_path("", "v1", "persistentvolumeclaims", namespace,
                                 claim["metadata"]["name"])  # fmt: skip
            try:
                await self._client.update(path, claim)
            except ApiStatusError as err:
                if err.code == 404:
                    continue
                if err.code != 409:
                    raise
                self.queue.add(key_of(sts))
                return False
        return True

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        set_name = sts["metadata"]["name"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
        try:
            # Preconditioned on the uid: never delete a newer pod of the same name.
            await self._client.delete(path, {"preconditions": {"uid": meta["uid"]}})
        except ApiStatusError as err:
            if err.code in (404, 409):
                return
            self.events.record(sts, "Warning", "FailedDelete",
                               f"delete Pod {meta['name']} in StatefulSet {set_name} failed "
                               f"error: {err}")  # fmt: skip
            raise
        self.events.record(sts, "Normal", "SuccessfulDelete",
                           f"delete Pod {meta['name']} in StatefulSet {set_name} "
                           "successful")  # fmt: skip

    async def _update_pod(self, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        set_name = sts["metadata"]["name"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
        try:
            await self._client.update(path, pod)
        except ApiStatusError as err:
            if err.code in (404, 409):
                self.queue.add(key_of(sts))
                return
            self.events.record(sts, "Warning", "FailedUpdate",
                               f"update Pod {meta['name']} in StatefulSet {set_name} failed "
                               f"error: {err}")  # fmt: skip
            raise
        self.events.record(sts, "Normal", "SuccessfulUpdate",
                           f"update Pod {meta['name']} in StatefulSet {set_name} "
                           "successful")  # fmt: skip

    async def _prune_history(
        self, sts: Obj, revisions: Sequence[Obj], *, live: set[str], pods: Sequence[Obj]
    ) -> None:
        live = live | {pod_revision(p) for p in pods}
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10))
        await delete_revisions(self._client, revisions_to_delete(revisions, live=live, limit=limit))

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        # Written only when what the controller computes changed (kube's
        # inconsistentStatus); the write replaces the whole status, so conditions
        # others set last until then.
        current = {k: v for k, v in (sts.get("status") or {}).items() if k != "conditions"}
        if current == status:
            return
        meta = sts["metadata"]
        path = resource_path("apps", "v1", "statefulsets", meta.get("namespace", ""),
                             meta["name"], "status")  # fmt: skip
        try:
            await self._client.update(path, {**sts, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(sts))
