"""The EndpointSlice controller: discovery.k8s.io/v1 slices for every Service with a selector.

A thin loop around `endpointslice_decisions`, fed like the Endpoints
controller (service events; pod changes mapped to the services of the pod's
namespace that select it; batched per service by the work queue), plus:

* EndpointSlice events: a change to one of our slices that we did not write
  ourselves (a user edited or deleted it) queues its service again;
* Node events: a node that appears (or changes zone) queues the services of
  the pods on it, since pods on unknown nodes are left out, as kubernetes
  leaves them out.

Slices are created with `generateName`, so a create from a stale cache would
make a duplicate rather than fail. Hence the tracker (kubernetes'
EndpointSliceTracker): it remembers the generation of every slice this
controller wrote and the slices it deleted; a service whose cached slices
are older than that is synced again a moment later instead of being acted
on. Updates are conditioned on the cached resourceVersion.

When a service is deleted its slices are left to the garbage collector,
which follows their ownerReference (controller, blockOwnerDeletion) — the
controller does not delete them itself, as kubernetes' does not.
EndpointSlice mirroring (slices for selector-less services from their
user-written Endpoints) is not done here.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NAMESPACE, BY_NODE, namespace, node_name
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.endpoints_decisions import (
    TriggerTimes,
    has_selector,
    namespace_terminating,
    pod_change_keys,
    selects,
    services_of_pod,
)
from kybernetes.controllers.endpointslice_decisions import (
    CONTROLLER_NAME,
    MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME_LABEL,
    ZONE_LABEL,
    SlicePlan,
    desired_endpoints,
    reconcile,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["EndpointSliceController", "SliceTracker"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
STALE_RECHECK = 0.05  # seconds until a cache that lags our own writes is looked at again
BY_SERVICE = "endpointslice-service"
DELETED = -1


def managed_service_key(eps: Obj) -> list[str]:
    """`namespace/service` of a slice this controller manages (index function)."""
    meta = eps.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{meta.get('namespace', '')}/{labels[SERVICE_NAME_LABEL]}"]


def _generation(eps: Obj) -> int:
    return int((eps.get("metadata") or {}).get("generation") or 0)


class SliceTracker:
    """The slices this controller wrote (uid -> generation) or deleted, per service."""

    def __init__(self) -> None:
        self._by_service: dict[str, dict[str, int]] = {}

    def written(self, service_key: str, eps: Obj) -> None:
        uid = str(eps["metadata"].get("uid", ""))
        self._by_service.setdefault(service_key, {})[uid] = _generation(eps)

    def deleted(self, service_key: str, eps: Obj) -> None:
        uid = str(eps["metadata"].get("uid", ""))
        self._by_service.setdefault(service_key, {})[uid] = DELETED

    def forget(self, service_key: str) -> None:
        self._by_service.pop(service_key, None)

    def stale(self, service_key: str, cached: list[Obj]) -> bool:
        """Does the cache lag behind this controller's own writes for the service?"""
        tracked = self._by_service.get(service_key)
        if not tracked:
            return False
        seen = set()
        for eps in cached:
            uid = str(eps["metadata"].get("uid", ""))
            seen.add(uid)
            expected = tracked.get(uid)
            if expected is not None and (expected == DELETED or expected > _generation(eps)):
                return True
        return any(g != DELETED and uid not in seen for uid, g in tracked.items())

    def is_own_change(self, service_key: str, eps: Obj) -> bool:
        """Was this add or update our own write (so no sync is needed for it)?"""
        expected = self._by_service.get(service_key, {}).get(str(eps["metadata"].get("uid", "")))
        return expected is not None and expected != DELETED and _generation(eps) <= expected

    def deletion_observed(self, service_key: str, eps: Obj) -> bool:
        """A slice left the cache; True when that was our own delete."""
        tracked = self._by_service.get(service_key, {})
        return tracked.pop(str(eps["metadata"].get("uid", "")), None) == DELETED


class EndpointSliceController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
        batch_period: float = 0.0,
    ) -> None:
        """`max_endpoints_per_slice`: kubernetes' --max-endpoints-per-slice (100).
        `batch_period`: how long a pod change waits for more to join it before its
        services sync (--endpointslice-updates-batch-period, 0 by default)."""
        self._client = informers.client
        self._max = max_endpoints_per_slice
        self._batch_period = batch_period
        self.events = EventRecorder(self._client, "endpoint-slice-controller")
        self.services = informers.informer("", "v1", "services")
        self.pods = informers.informer("", "v1", "pods")
        self.nodes = informers.informer("", "v1", "nodes")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        self.services.add_index(BY_NAMESPACE, namespace)
        self.pods.add_index(BY_NAMESPACE, namespace)
        self.pods.add_index(BY_NODE, node_name)
        self.slices.add_index(BY_SERVICE, managed_service_key)
        self.queue: WorkQueue[str] = WorkQueue(name="endpoint_slice")
        self.services.on_add(lambda svc: self.queue.add(key_of(svc)))
        self.services.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.services.on_delete(lambda svc: self.queue.add(key_of(svc)))
        self.pods.on_add(self._pod_added_or_deleted)
        self.pods.on_update(self._pod_updated)
        self.pods.on_delete(self._pod_added_or_deleted)
        self.slices.on_add(self._slice_changed)
        self.slices.on_update(self._slice_updated)
        self.slices.on_delete(self._slice_deleted)
        self.nodes.on_add(self._node_changed)
        self.nodes.on_update(self._node_updated)
        self.tracker = SliceTracker()
        self.trigger_times = TriggerTimes()

    # -- handlers: events to keys ----------------------------------------------------------

    def _namespace_services(self, pod: Obj) -> list[Obj]:
        return self.services.by_index(BY_NAMESPACE, pod["metadata"].get("namespace", ""))

    def _queue_pod_services(self, keys: set[str]) -> None:
        for key in keys:
            self.queue.add_after(key, self._batch_period)

    def _pod_added_or_deleted(self, pod: Obj) -> None:
        self._queue_pod_services(services_of_pod(self._namespace_services(pod), pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._queue_pod_services(pod_change_keys(self._namespace_services(new), old, new))

    def _slice_changed(self, eps: Obj) -> None:
        for key in managed_service_key(eps):
            if not self.tracker.is_own_change(key, eps):
                self.queue.add(key)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        before, after = managed_service_key(old), managed_service_key(new)
        if before == after:
            self._slice_changed(new)
            return
        # Someone relabelled it (another service, or not ours any more). The generation does
        # not move with labels, so: stop tracking it, and sync both services.
        for key in before:
            self.tracker.deletion_observed(key, old)
        for key in before + after:
            self.queue.add(key)

    def _slice_deleted(self, eps: Obj) -> None:
        for key in managed_service_key(eps):
            if not self.tracker.deletion_observed(key, eps):
                self.queue.add(key)

    def _node_changed(self, node: Obj) -> None:
        for pod in self.pods.by_index(BY_NODE, node["metadata"]["name"]):
            self._pod_added_or_deleted(pod)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def zone(node: Obj) -> str | None:
            return (node["metadata"].get("labels") or {}).get(ZONE_LABEL)

        if zone(old) != zone(new):
            self._node_changed(new)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.services, self.pods, self.nodes, self.slices),
                             events=self.events)  # fmt: skip

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace_ = key.rpartition("/")[0]
        service = self.services.get(key)
        if service is None:
            # Its slices go with it: the garbage collector follows their ownerReference.
            self.trigger_times.forget(key)
            self.tracker.forget(key)
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or not has_selector(service):
            return  # slices of selector-less services are their users' to write
        pods = [p for p in self.pods.by_index(BY_NAMESPACE, namespace_)
                if selects(service, p["metadata"].get("labels") or {})]  # fmt: skip
        slices = [s for s in self.slices.by_index(BY_SERVICE, key)
                  if not s["metadata"].get("deletionTimestamp")]  # fmt: skip
        if self.tracker.stale(key, slices):
            self.queue.add_after(key, STALE_RECHECK)  # our own writes are not cached yet
            return
        trigger_time = self.trigger_times.compute(key, service, pods)
        desired = desired_endpoints(service, pods, self.nodes.items)
        if desired.missing_nodes:
            # They come back when their node appears (see _node_changed).
            log.debug("service %s: skipping pods on unknown nodes: %s", key,
                     ", ".join(desired.missing_nodes))  # fmt: skip
        plan = reconcile(service, slices, desired, max_endpoints_per_slice=self._max,
                         trigger_time=trigger_time)  # fmt: skip
        if plan:
            await self._apply(service, key, plan)

    async def _apply(self, service: Obj, key: str, plan: SlicePlan) -> None:
        namespace_ = service["metadata"].get("namespace", "")
        collection = resource_path("discovery.k8s.io", "v1", "endpointslices", namespace_)
        try:
            for eps in plan.create:
                self.tracker.written(key, await self._client.create(collection, eps))
            for eps in plan.update:
                path = f"{collection}/{eps['metadata']['name']}"
                self.tracker.written(key, await self._client.update(path, eps))
            for eps in plan.delete:
                # Marked first: the informer may see the deletion before the call returns.
                self.tracker.deleted(key, eps)
                try:
                    await self._client.delete(f"{collection}/{eps['metadata']['name']}")
                except ApiStatusError as err:
                    if err.code != 404:
                        self.tracker.deletion_observed(key, eps)  # not deleted after all
                        raise
        except ApiStatusError as err:
            if err.code in (404, 409):
                # The cache was behind someone else's write: sync again once it caught up.
                self.queue.add_after(key, STALE_RECHECK)
                return
            if plan.create and namespace_terminating(err.status):
                return  # creates keep failing in a terminating namespace: drop it
            self.events.record(
                {"apiVersion": "v1", "kind": "Service", **service},
                "Warning",
                "FailedToUpdateEndpointSlices",
                f"Error updating Endpoint Slices for Service {key}: {err}",
            )
            raise
