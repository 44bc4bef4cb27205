"""The Deployment controller: one ReplicaSet per template, scaled as the plan says.

A thin loop around pure decisions (`deployment_decisions` for templates and
strategies, `deployment_scaling` for scaling events and history,
`deployment_status` for status and conditions): informer events put
Deployment keys on the work queue; `sync(key)` finds the ReplicaSet of the
current template (creating it with the next revision unless paused),
claims its ReplicaSets (adopting orphans its selector matches, releasing
those that stop matching, as kube's ControllerRefManager does), applies
the scale plan with resourceVersion-conditioned writes, deletes
history beyond `revisionHistoryLimit` once a rollout is done, and reports
the status. A rollout that has not finished is looked at again when its
progress deadline passes, so `ProgressDeadlineExceeded` appears on time.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api import selectors
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_CONTROLLER, controller_uid
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.adoption import ORPHANS, claim_pods, orphan_namespace
from kybernetes.controllers.deployment_decisions import (
    REVISION,
    copied_annotations,
    current_annotations,
    find_current,
    new_replicaset,
    next_revision,
    revision_of,
    revision_to_raise,
    scale_plan,
)
from kybernetes.controllers.deployment_scaling import (
    DESIRED_REPLICAS,
    history_to_delete,
    is_scaling_event,
    proportional_plan,
    replicas_annotations,
)
from kybernetes.controllers.deployment_status import (
    deployment_complete,
    deployment_status,
    progress_deadline_in,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["DeploymentController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5


class DeploymentController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._client = informers.client
        self._now = now
        self.events = EventRecorder(self._client, "deployment-controller")
        self.deployments = informers.informer("apps", "v1", "deployments")
        self.replicasets = informers.informer("apps", "v1", "replicasets")
        self.replicasets.add_index(BY_CONTROLLER, controller_uid)
        self.replicasets.add_index(ORPHANS, orphan_namespace)
        self.queue: WorkQueue[str] = WorkQueue(name="deployment")
        self.deployments.on_add(lambda d: self.queue.add(key_of(d)))
        self.deployments.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.replicasets.on_add(self._replicaset_changed)
        self.replicasets.on_update(lambda old, new: self._replicaset_changed(new))
        self.replicasets.on_delete(self._replicaset_changed)

    def _replicaset_changed(self, rs: Obj) -> None:
        meta = rs.get("metadata") or {}
        namespace = meta.get("namespace", "")
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.queue.add(f"{namespace}/{ref['name']}")
        if not orphan_namespace(rs):
            return
        # An orphan wakes the Deployments of its namespace whose selector matches it.
        labels = meta.get("labels") or {}
        for key, deployment in list(self.deployments.items.items()):
            if (deployment.get("metadata") or {}).get("namespace") != namespace:
                continue
            if (selector := _selector(deployment)) is not None and selector.matches(labels):
                self.queue.add(key)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.deployments, self.replicasets),
                             events=self.events)  # fmt: skip

    async def sync(self, key: str) -> None:
        deployment = self.deployments.get(key)
        if deployment is None:
            return
        owned = [rs for rs in await self._claim_replicasets(deployment)
                 if not rs["metadata"].get("deletionTimestamp")]  # fmt: skip
        current = find_current(deployment, owned)
        old = [rs for rs in owned if current is None or rs is not current]
        if deployment["metadata"].get("deletionTimestamp"):
            await self._write_status(deployment, current, owned, created_new=False)
            return
        paused = bool((deployment.get("spec") or {}).get("paused"))
        created_new = False
        if current is None and not paused:
            current = await self._create_new(deployment, owned)
            if current is None:
                return  # a racing sync or a hash collision: the informer brings the next step
            created_new = True
        elif current is not None:
            # A template that came back (`kubectl rollout undo`) makes its ReplicaSet
            # the newest revision again, as kubectl rollout history expects.
            revision = None if paused else revision_to_raise(current, old)
            annotations = current_annotations(deployment, current, revision)
            if annotations is not None:
                current = await self._set_annotations(current, annotations)
        sets = [current, *old] if current is not None else old
        if paused or is_scaling_event(deployment, sets):
            plan = proportional_plan(deployment, current, old)
        else:
            assert current is not None
            plan = scale_plan(deployment, current, old)
        try:
            sets = [await self._apply_size(deployment, rs, plan.get(rs["metadata"]["name"]))
                    for rs in sets]  # fmt: skip
        except ApiStatusError as err:
            if err.code != 409:
                raise
            # A ReplicaSet moved on (its controller wrote its status): look again once
            # the cache has the new version, without back-off.
            self.queue.add_after(key, 0.05)
            return
        if current is not None:
            current, old = sets[0], sets[1:]
        status = await self._write_status(deployment, current, sets, created_new=created_new)
        if paused or deployment_complete(deployment, status):
            for rs in history_to_delete(deployment, old):
                await self._delete_replicaset(rs)
        if current is not None:
            await self._record_revision(deployment, revision_of(current))
        wait = progress_deadline_in({**deployment, "status": status}, self._now())
        if wait is not None:
            self.queue.add_after(key, wait + 1)

    async def _claim_replicasets(self, deployment: Obj) -> list[Obj]:
        """The ReplicaSets this Deployment controls, after adopting orphans and
        releasing strays (none while it is being deleted: `claim` keeps them)."""
        meta = deployment["metadata"]
        owned = self.replicasets.by_index(BY_CONTROLLER, meta["uid"])
        selector = _selector(deployment)
        if selector is None:
            return owned
        candidates = [*owned, *self.replicasets.by_index(ORPHANS, meta.get("namespace", ""))]
        return await claim_pods(self._client, deployment, selector=selector,
                                candidates=candidates, plural="deployments",
                                resource=("apps", "v1", "replicasets"))  # fmt: skip

    async def _create_new(self, deployment: Obj, owned: list[Obj]) -> Obj | None:
        """The new template's ReplicaSet, at the size the strategy allows right now."""
        annotations = {**copied_annotations(deployment), **replicas_annotations(deployment)}
        candidate = new_replicaset(deployment, next_revision(owned), replicas=0,
                                   annotations=annotations)  # fmt: skip
        wanted = scale_plan(deployment, candidate, owned)[candidate["metadata"]["name"]]
        candidate["spec"]["replicas"] = wanted
        namespace = deployment["metadata"].get("namespace", "")
        try:
            created: Obj = await self._client.create(
                resource_path("apps", "v1", "replicasets", namespace), candidate
            )
        except ApiStatusError as err:
            if err.reason != "AlreadyExists":
                raise
            await self._resolve_collision(deployment, candidate)
            return None
        if wanted:
            self.events.record(deployment, "Normal", "ScalingReplicaSet",
                               f"Scaled up replica set {created['metadata']['name']} "
                               f"from 0 to {wanted}")  # fmt: skip
        return created

    async def _resolve_collision(self, deployment: Obj, candidate: Obj) -> None:
        """The name is taken: ours (a lagging cache) or a hash collision (count it)."""
        meta = candidate["metadata"]
        existing = await self._client.get(
            resource_path("apps", "v1", "replicasets", meta["namespace"], meta["name"])
        )
        if controller_uid(existing) == [deployment["metadata"]["uid"]] and find_current(
            deployment, [existing]
        ):
            return  # ours: the informer will show it
        status = dict(deployment.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        dmeta = deployment["metadata"]
        path = resource_path("apps", "v1", "deployments", dmeta.get("namespace", ""),
                             dmeta["name"], "status")  # fmt: skip
        await self._client.update(path, {**deployment, "status": status})

    async def _set_annotations(self, rs: Obj, annotations: dict[str, str]) -> Obj:
        meta = rs["metadata"]
        path = resource_path("apps", "v1", "replicasets", meta.get("namespace", ""), meta["name"])
        updated: Obj = await self._client.update(
            path, {**rs, "metadata": {**meta, "annotations": annotations}}
        )
        return updated

    async def _apply_size(self, deployment: Obj, rs: Obj, replicas: int | None) -> Obj:
        """Write a new size (and the sizing annotations) when the plan changes them."""
        before = int((rs.get("spec") or {}).get("replicas") or 0)
        meta = rs["metadata"]
        annotations = meta.get("annotations") or {}
        wanted = replicas_annotations(deployment)
        stale = (replicas or before) > 0 and annotations.get(DESIRED_REPLICAS) != wanted[
            DESIRED_REPLICAS
        ]
        if (replicas is None or replicas == before) and not stale:
            return rs
        size = before if replicas is None else replicas
        body = {**rs, "metadata": {**meta, "annotations": {**annotations, **wanted}},
                "spec": {**(rs.get("spec") or {}), "replicas": size}}  # fmt: skip
        path = resource_path("apps", "v1", "replicasets", meta.get("namespace", ""), meta["name"])
        updated: Obj = await self._client.update(path, body)  # conditioned on the cached version
        if size != before:
            direction = "up" if size > before else "down"
            self.events.record(deployment, "Normal", "ScalingReplicaSet",
                               f"Scaled {direction} replica set {meta['name']} from {before} "
                               f"to {size}")  # fmt: skip
        return updated

    async def _delete_replicaset(self, rs: Obj) -> None:
        meta = rs["metadata"]
        path = resource_path("apps", "v1", "replicasets", meta.get("namespace", ""), meta["name"])
        try:
            preconditions = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
            await self._client.delete(path, {"preconditions": preconditions})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise

    async def _record_revision(self, deployment: Obj, revision: int) -> None:
        """The Deployment carries its current revision too (`kubectl rollout status` shows it)."""
        fresh = self.deployments.get(key_of(deployment)) or deployment
        meta = fresh["metadata"]
        annotations = meta.get("annotations") or {}
        if annotations.get(REVISION) == str(revision):
            return
        path = resource_path("apps", "v1", "deployments", meta.get("namespace", ""), meta["name"])
        body = {"metadata": {"annotations": {REVISION: str(revision)},
                             "resourceVersion": meta["resourceVersion"]}}  # fmt: skip
        try:
            await self._client.patch(path, body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(deployment))

    async def _write_status(
        self, deployment: Obj, current: Obj | None, sets: list[Obj], *, created_new: bool
    ) -> Obj:
        status = deployment_status(deployment, new=current, sets=sets, now=self._now(),
                                   created_new=created_new)  # fmt: skip
        if (deployment.get("status") or {}) == status:
            return status
        meta = deployment["metadata"]
        path = resource_path("apps", "v1", "deployments", meta.get("namespace", ""),
                             meta["name"], "status")  # fmt: skip
        try:
            await self._client.update(path, {**deployment, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(deployment))
        return status


def _selector(deployment: Obj) -> selectors.LabelSelector | None:
    """The Deployment's selector; an empty one matches nothing here, as in kube
    (it would otherwise claim every ReplicaSet of the namespace)."""
    raw = (deployment.get("spec") or {}).get("selector")
    try:
        selector = selectors.label_selector_from_object(raw)
    except selectors.SelectorError:
        return None
    return selector if raw and (raw.get("matchLabels") or raw.get("matchExpressions")) else None
