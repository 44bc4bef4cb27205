"""The disruption controller: keep each PodDisruptionBudget's status true.

A thin loop (STYLE.md habit 1) around `disruption_decisions`: pod events
wake the budgets of their namespace whose selector matches the pod, a
workload's scale change wakes its namespace's budgets, and `sync` reads
the caches, computes the status and writes it conditioned on the budget's
resourceVersion. The Eviction API (in the API server) spends allowed
disruptions with the same compare-and-swap, so a conflict here means an
eviction won: the budget is synced again from the cache.

The scale a budget is measured against comes from the pods' controllers
(ReplicaSet, or the Deployment above it, ReplicationController,
StatefulSet); a pod whose controller is none of those fails safe, as in
Kubernetes: no disruption allowed, condition SyncFailed.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.selectors import SelectorError, label_selector_from_object
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NAMESPACE, namespace
from kybernetes.client.informer import Informer, key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.disruption_decisions import (
    budget_status,
    controllers_scale,
    needs_scale,
    next_expiry,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["DisruptionController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2
_SCALED = (("apps", "replicasets"), ("apps", "deployments"), ("apps", "statefulsets"),
           ("", "replicationcontrollers"))  # fmt: skip


def _selects(pdb: Obj, pod: Obj) -> bool:
    raw = (pdb.get("spec") or {}).get("selector")
    if raw is None:
        return False  # policy/v1: no selector selects no pods (an empty one, all)
    try:
        return label_selector_from_object(raw).matches(
            (pod.get("metadata") or {}).get("labels") or {}
        )
    except SelectorError:
        return False


class DisruptionController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._client = informers.client
        self._now = now
        self.budgets = informers.informer("policy", "v1", "poddisruptionbudgets")
        self.pods = informers.informer("", "v1", "pods")
        self.budgets.add_index(BY_NAMESPACE, namespace)
        self.pods.add_index(BY_NAMESPACE, namespace)
        self.queue: WorkQueue[str] = WorkQueue(name="disruption")
        self.budgets.on_add(lambda b: self.queue.add(key_of(b)))
        self.budgets.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.pods.on_add(self._pod_changed)
        self.pods.on_update(self._pod_updated)
        self.pods.on_delete(self._pod_changed)
        self.workloads: dict[str, Informer] = {}
        for group, plural in _SCALED:
            informer = informers.informer(group, "v1", plural)
            informer.add_index(BY_NAMESPACE, namespace)
            informer.on_update(lambda old, new: self._namespace_changed(new))
            self.workloads[plural] = informer

    def _pod_changed(self, pod: Obj) -> None:
        ns = (pod.get("metadata") or {}).get("namespace", "")
        for pdb in self.budgets.by_index(BY_NAMESPACE, ns):
            if _selects(pdb, pod):
                self.queue.add(key_of(pdb))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(old)  # relabelled: the budgets it left care too
        self._pod_changed(new)

    def _namespace_changed(self, obj: Obj) -> None:
        for pdb in self.budgets.by_index(
            BY_NAMESPACE, (obj.get("metadata") or {}).get("namespace", "")
        ):
            if needs_scale(pdb):
                self.queue.add(key_of(pdb))

    async def run(self) -> None:
        informers = (self.budgets, self.pods, *self.workloads.values())
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS, informers=informers)

    def _scale_of(self, ns: str) -> dict[str, tuple[str, int]]:
        """Pod controller uid -> (the uid that scales it, its replicas), in one namespace."""
        scales: dict[str, tuple[str, int]] = {}
        deployments = {
            d["metadata"]["uid"]: int((d.get("spec") or {}).get("replicas", 1))
            for d in self.workloads["deployments"].by_index(BY_NAMESPACE, ns)
        }
        for plural, informer in self.workloads.items():
            if plural == "deployments":
                continue
            for obj in informer.by_index(BY_NAMESPACE, ns):
                meta = obj["metadata"]
                scale = (meta["uid"], int((obj.get("spec") or {}).get("replicas", 1)))
                for ref in meta.get("ownerReferences") or []:
                    if ref.get("controller") and ref.get("uid") in deployments:
                        scale = (ref["uid"], deployments[ref["uid"]])
                scales[meta["uid"]] = scale
        return scales

    async def sync(self, key: str) -> None:
        pdb = self.budgets.get(key)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return
        ns = pdb["metadata"].get("namespace", "")
        pods = [p for p in self.pods.by_index(BY_NAMESPACE, ns) if _selects(pdb, p)]
        expected, error = (None, "")
        if needs_scale(pdb):
            expected, error = controllers_scale(pods, self._scale_of(ns))
        now = self._now()
        status = budget_status(pdb, pods, expected_scale=expected, now=now, error=error)
        wait = next_expiry({"status": status}, now)
        if wait is not None:
            self.queue.add_after(key, wait)
        if status == pdb.get("status"):
            return
        meta = pdb["metadata"]
        path = resource_path("policy", "v1", "poddisruptionbudgets", ns, meta["name"], "status")
        try:
            await self._client.update(path, {**pdb, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            if err.code == 409:
                self.queue.add_after(key, 0.05)  # an eviction spent a disruption: sync again
