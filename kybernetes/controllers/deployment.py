"""The Deployment controller: one ReplicaSet per template, scaled as the plan says.

A thin loop around `deployment_decisions`: informer events put Deployment
keys on the work queue; `sync(key)` finds the ReplicaSet of the current
template (creating it with the next revision), applies the scale plan with
resourceVersion-conditioned writes, and reports the status.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_CONTROLLER, controller_uid
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.deployment_decisions import (
    REVISION,
    deployment_status,
    find_current,
    new_replicaset,
    next_revision,
    revision_to_raise,
    scale_plan,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["DeploymentController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5


class DeploymentController:
    def __init__(self, informers: InformerFactory) -> None:
        self._client = informers.client
        self.events = EventRecorder(self._client, "deployment-controller")
        self.deployments = informers.informer("apps", "v1", "deployments")
        self.replicasets = informers.informer("apps", "v1", "replicasets")
        self.replicasets.add_index(BY_CONTROLLER, controller_uid)
        self.queue: WorkQueue[str] = WorkQueue(name="deployment")
        self.deployments.on_add(lambda d: self.queue.add(key_of(d)))
        self.deployments.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.replicasets.on_add(self._replicaset_changed)
        self.replicasets.on_update(lambda old, new: self._replicaset_changed(new))
        self.replicasets.on_delete(self._replicaset_changed)

    def _replicaset_changed(self, rs: Obj) -> None:
        namespace = (rs.get("metadata") or {}).get("namespace", "")
        for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.queue.add(f"{namespace}/{ref['name']}")

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.deployments, self.replicasets),
                             events=self.events)  # fmt: skip

    async def sync(self, key: str) -> None:
        deployment = self.deployments.get(key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        uid = deployment["metadata"]["uid"]
        owned = self.replicasets.by_index(BY_CONTROLLER, uid)
        current = find_current(deployment, owned)
        namespace = deployment["metadata"].get("namespace", "")
        if current is None:
            # A new template: its ReplicaSet starts at what the strategy allows now.
            candidate = new_replicaset(deployment, next_revision(owned), replicas=0)
            wanted = scale_plan(deployment, candidate, owned)[candidate["metadata"]["name"]]
            candidate["spec"]["replicas"] = wanted
            current = await self._create_replicaset(namespace, candidate)
            if current is None:
                return  # created by a racing sync: the informer will bring it
            if wanted:
                self.events.record(deployment, "Normal", "ScalingReplicaSet",
                                   f"Scaled up replica set {current['metadata']['name']} "
                                   f"from 0 to {wanted}")  # fmt: skip
        old = [rs for rs in owned if rs["metadata"]["name"] != current["metadata"]["name"]]
        revision = revision_to_raise(current, old)
        if revision is not None:
            # A template came back (`kubectl rollout undo`): its ReplicaSet becomes
            # the newest revision again, as kubectl rollout history expects.
            current = await self._set_revision(current, revision)
        by_name = {rs["metadata"]["name"]: rs for rs in [current, *old]}
        for name, replicas in scale_plan(deployment, current, old).items():
            if int((by_name[name].get("spec") or {}).get("replicas", 0)) != replicas:
                await self._scale(deployment, by_name[name], replicas)
        await self._write_status(deployment, current, [current, *old])

    async def _create_replicaset(self, namespace: str, replicaset: Obj) -> Obj | None:
        path = resource_path("apps", "v1", "replicasets", namespace)
        try:
            created: Obj = await self._client.create(path, replicaset)
        except ApiStatusError as err:
            if err.reason == "AlreadyExists":
                return None
            raise
        return created

    async def _set_revision(self, rs: Obj, revision: int) -> Obj:
        meta = rs["metadata"]
        path = resource_path("apps", "v1", "replicasets", meta.get("namespace", ""), meta["name"])
        annotations = {**(meta.get("annotations") or {}), REVISION: str(revision)}
        updated: Obj = await self._client.update(
            path, {**rs, "metadata": {**meta, "annotations": annotations}}
        )
        return updated

    async def _scale(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        meta = rs["metadata"]
        path = resource_path("apps", "v1", "replicasets", meta.get("namespace", ""), meta["name"])
        before = int((rs.get("spec") or {}).get("replicas", 0))
        body = {**rs, "spec": {**(rs.get("spec") or {}), "replicas": replicas}}
        await self._client.update(path, body)  # conditioned on the cached resourceVersion
        direction = "up" if replicas > before else "down"
        self.events.record(deployment, "Normal", "ScalingReplicaSet",
                           f"Scaled {direction} replica set {meta['name']} from {before} "
                           f"to {replicas}")  # fmt: skip

    async def _write_status(self, deployment: Obj, current: Obj, sets: list[Obj]) -> None:
        status = deployment_status(deployment, current, sets)
        if (deployment.get("status") or {}) == status:
            return
        meta = deployment["metadata"]
        path = resource_path("apps", "v1", "deployments", meta.get("namespace", ""),
                             meta["name"], "status")  # fmt: skip
        try:
            await self._client.update(path, {**deployment, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(deployment))
