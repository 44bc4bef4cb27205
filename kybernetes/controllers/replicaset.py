"""The ReplicaSet controller: keep `replicas` pods of each ReplicaSet alive.

A thin loop around `replicaset_decisions` (STYLE.md habit 1): informer
events only put `namespace/name` keys on the work queue; `sync(key)` reads
the caches, asks the pure functions what to do, creates pods in slow-start
batches and deletes the least useful ones through the API, then writes the
status (conditioned on the ReplicaSet's resourceVersion, like every
controller write).

Expectations: after creating or deleting pods, a ReplicaSet is not acted
on again until the pod informer has seen every one of those changes (or a
timeout passed), so it never over-creates while its cache lags.

Pods are claimed as Kubernetes' ControllerRefManager does (`ownership`):
orphans matching the selector are adopted, pods that stop matching are
released. A pod is available once Ready for `minReadySeconds`; the
ReplicaSet is looked at again when that time runs out.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.selectors import LabelSelector, SelectorError, label_selector_from_object
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import (
    BY_CONTROLLER,
    BY_NAMESPACE,
    BY_UID,
    controller_uid,
    namespace,
    uid,
)
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.expectations import Expectations
from kybernetes.controllers.ownership import adopt_patch, claim, release_patch
from kybernetes.controllers.replicaset_decisions import (
    available_in,
    decide,
    is_active,
    owned_by,
    pod_from_template,
    replicaset_status,
    slow_start_batches,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["ReplicaSetController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
STRATEGIC = "application/strategic-merge-patch+json"
RECHECK = 0.5


class ReplicaSetController:
    # What a subclass for another kind of replica set changes (the
    # ReplicationController's manager, replicationcontroller.py).
    GROUP, VERSION, PLURAL = "apps", "v1", "replicasets"
    COMPONENT = "replicaset-controller"

    def selector(self, rs: Obj) -> LabelSelector:
        """The pods `rs` selects; raises SelectorError."""
        return label_selector_from_object((rs.get("spec") or {}).get("selector"))

    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._client = informers.client
        self._now = now
        self.events = EventRecorder(self._client, self.COMPONENT)
        self.replicasets = informers.informer(self.GROUP, self.VERSION, self.PLURAL)
        self.pods = informers.informer("", "v1", "pods")
        self.pods.add_index(BY_CONTROLLER, controller_uid)
        self.pods.add_index(BY_NAMESPACE, namespace)
        self.replicasets.add_index(BY_UID, uid)
        self.replicasets.add_index(BY_NAMESPACE, namespace)
        self.queue: WorkQueue[str] = WorkQueue(name=self.COMPONENT.removesuffix("-controller"))
        self.replicasets.on_add(lambda rs: self.queue.add(key_of(rs)))
        self.replicasets.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(lambda old, new: self._pod_changed(new))
        self.pods.on_delete(self._pod_changed)
        # Pods created or deleted and not yet seen so (a pod being deleted counts
        # as deleted: its grace period must not hold the set's status back).
        self.expectations = Expectations(self.pods.get, lambda: asyncio.get_running_loop().time())

    def _pod_changed(self, pod: Obj) -> None:
        """A pod event wakes the ReplicaSet that controls it, or those that could adopt it."""
        owners = controller_uid(pod)
        for owner in owners:
            for rs in self.replicasets.by_index(BY_UID, owner):
                self.queue.add(key_of(rs))
        if owners:
            return
        meta = pod.get("metadata") or {}
        for rs in self.replicasets.by_index(BY_NAMESPACE, meta.get("namespace", "")):
            try:
                selector = self.selector(rs)
            except SelectorError:
                continue
            if selector.matches(meta.get("labels") or {}):
                self.queue.add(key_of(rs))

    async def run(self) -> None:
        """Wait until the shared informers synced, then work until cancelled."""
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.replicasets, self.pods),
                             events=self.events)  # fmt: skip

    async def sync(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            self.expectations.forget(key)
            return  # gone: its pods are the garbage collector's
        if not self.expectations.satisfied(key):
            self.queue.add_after(key, RECHECK)
            return
        pods = await self._claim_pods(rs)
        active = [p for p in pods if is_active(p)]
        replicas = int((rs.get("spec") or {}).get("replicas", 1))
        decision = decide(replicas, active)
        namespace = rs["metadata"].get("namespace", "")
        self.expectations.expect(key, deleted=[key_of(p) for p in decision.delete])
        try:
            created = await self._create_pods(rs, namespace, decision.create)
            for pod in decision.delete:
                await self._delete_pod(rs, namespace, pod)
        except ApiStatusError as err:
            # Said in the status (a quota refused the pods, say), then retried with back-off.
            reason = "FailedCreate" if decision.create else "FailedDelete"
            await self._write_status(rs, active, failure=(reason, str(err)))
            raise
        survivors = [p for p in active if p not in decision.delete] + created
        await self._write_status(rs, survivors)
        self._recheck_availability(key, rs, survivors)

    async def _claim_pods(self, rs: Obj) -> list[Obj]:
        """The pods this ReplicaSet controls, after adopting orphans and releasing strays."""
        meta = rs["metadata"]
        try:
            selector = self.selector(rs)
        except SelectorError as err:
            log.warning("replicaset %s: bad selector: %s", key_of(rs), err)
            return []
        candidates = [
            p for p in self.pods.by_index(BY_NAMESPACE, meta.get("namespace", ""))
            if owned_by(p, meta["uid"]) or not controller_uid(p)
        ]  # fmt: skip
        decided = claim(rs, selector, candidates)
        adopted = [p for p in await asyncio.gather(
            *(self._patch_owner(p, adopt_patch(rs, p)) for p in decided.adopt)) if p]  # fmt: skip
        for pod in decided.release:
            await self._patch_owner(pod, release_patch(rs, pod))
        return [*decided.keep, *adopted]

    async def _patch_owner(self, pod: Obj, patch: Obj) -> Obj | None:
        meta = pod["metadata"]
        path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
        try:
            patched: Obj = await self._client.patch(path, patch, STRATEGIC)
        except ApiStatusError as err:
            if err.code not in (404, 409, 422):
                raise
            return None  # gone or changed hands meanwhile: the next sync sees it
        return patched

    def _recheck_availability(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        """Look again when a ready pod's minReadySeconds runs out (it becomes available)."""
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if not min_ready:
            return
        now = self._now()
        waits = [w for p in pods if (w := available_in(p, min_ready, now))]
        if waits:
            self.queue.add_after(key, min(waits) + 0.1)

    async def _create_pods(self, rs: Obj, namespace: str, count: int) -> list[Obj]:
        """Create in slow-start batches; each created pod becomes an expectation."""
        created: list[Obj] = []
        path = resource_path("", "v1", "pods", namespace)
        for batch in slow_start_batches(count):
            results = await asyncio.gather(
                *(self._client.create(path, pod_from_template(rs)) for _ in range(batch)),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            made = [r for r in results if isinstance(r, dict)]
            self.expectations.expect(key_of(rs), created=[key_of(pod) for pod in made])
            created += made
            for pod in made:
                self.events.record(rs, "Normal", "SuccessfulCreate",
                                   f"Created pod: {pod['metadata']['name']}")  # fmt: skip
            if failures:
                self.events.record(rs, "Warning", "FailedCreate",
                                   f"Error creating: {failures[0]}")  # fmt: skip
                log.warning("replicaset %s: %d pod creates failed: %s", key_of(rs),
                            len(failures), failures[0])  # fmt: skip
                raise failures[0]  # retried with back-off; the next sync creates the rest
        return created

    async def _delete_pod(self, rs: Obj, namespace: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            await self._client.delete(resource_path("", "v1", "pods", namespace, name))
        except ApiStatusError as err:
            if err.code != 404:
                self.events.record(rs, "Warning", "FailedDelete", f"Error deleting: {err}")
                raise
        else:
            self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def _write_status(
        self, rs: Obj, active: list[Obj], failure: tuple[str, str] | None = None
    ) -> None:
        status = replicaset_status(rs, active, self._now(), failure)
        if rs.get("status") == {**(rs.get("status") or {}), **status}:
            return
        meta = rs["metadata"]
        path = resource_path(self.GROUP, self.VERSION, self.PLURAL, meta.get("namespace", ""),
                             meta["name"], "status")  # fmt: skip
        body = {**rs, "status": {**(rs.get("status") or {}), **status}}
        try:
            await self._client.update(path, body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            self.queue.add(key_of(rs))  # moved on meanwhile: sync again from the cache
