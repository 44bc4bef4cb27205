"""The EndpointSlice mirroring controller: slices for user-written Endpoints.

A thin loop around `endpointslicemirroring_decisions`, keyed like the
Endpoints it mirrors (`namespace/name`, which is also its service's key).
Endpoints events queue it when it is (or was) to be mirrored; service events
when the service appears, goes, or gains or loses its selector; slice events
when someone else changed one of the mirrored slices. As in the EndpointSlice
controller, a tracker of this controller's own writes keeps a lagging cache
from causing duplicate creates, and updates are conditioned on the cached
resourceVersion.

A mirrored slice is owned by its Endpoints: when the Endpoints is deleted the
garbage collector deletes the slices, and this controller deletes them too
(the service may still exist, so nothing else would).
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.endpoints_decisions import has_selector, namespace_terminating
from kybernetes.controllers.endpointslice import SliceTracker
from kybernetes.controllers.endpointslice_decisions import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SlicePlan,
)
from kybernetes.controllers.endpointslicemirroring_decisions import (
    MAX_ENDPOINTS_PER_SUBSET,
    MIRRORING_CONTROLLER_NAME,
    desired_mirror,
    reconcile_mirror,
    should_mirror,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["EndpointSliceMirroringController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
STALE_RECHECK = 0.05
BY_MIRRORED = "endpointslicemirroring-service"


def mirrored_key(eps: Obj) -> list[str]:
    """`namespace/name` of the Endpoints a mirrored slice belongs to (index function)."""
    meta = eps.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MIRRORING_CONTROLLER_NAME:
        return []
    if not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{meta.get('namespace', '')}/{labels[SERVICE_NAME_LABEL]}"]


class EndpointSliceMirroringController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        max_endpoints_per_subset: int = MAX_ENDPOINTS_PER_SUBSET,
    ) -> None:
        """`max_endpoints_per_subset`: kubernetes' --mirroring-max-endpoints-per-subset."""
        self._client = informers.client
        self._max = max_endpoints_per_subset
        self.events = EventRecorder(self._client, "endpoint-slice-mirroring-controller")
        self.services = informers.informer("", "v1", "services")
        self.endpoints = informers.informer("", "v1", "endpoints")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        self.slices.add_index(BY_MIRRORED, mirrored_key)
        self.queue: WorkQueue[str] = WorkQueue(name="endpoint_slice_mirroring")
        self.services.on_add(lambda svc: self.queue.add(key_of(svc)))
        self.services.on_update(self._service_updated)
        self.services.on_delete(lambda svc: self.queue.add(key_of(svc)))
        self.endpoints.on_add(self._endpoints_changed)
        self.endpoints.on_update(self._endpoints_updated)
        self.endpoints.on_delete(self._endpoints_changed)
        self.slices.on_add(self._slice_changed)
        self.slices.on_update(self._slice_updated)
        self.slices.on_delete(self._slice_deleted)
        self.tracker = SliceTracker()

    # -- handlers ------------------------------------------------------------------------------

    def _service_updated(self, old: Obj, new: Obj) -> None:
        if has_selector(old) != has_selector(new):
            self.queue.add(key_of(new))

    def _endpoints_changed(self, ep: Obj) -> None:
        if should_mirror(ep):
            self.queue.add(key_of(ep))

    def _endpoints_updated(self, old: Obj, new: Obj) -> None:
        if should_mirror(old) or should_mirror(new):
            self.queue.add(key_of(new))

    def _slice_changed(self, eps: Obj) -> None:
        for key in mirrored_key(eps):
            if not self.tracker.is_own_change(key, eps):
                self.queue.add(key)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        before, after = mirrored_key(old), mirrored_key(new)
        if before == after:
            self._slice_changed(new)
            return
        for key in before:  # relabelled away: no longer ours to wait for (as in endpointslice)
            self.tracker.deletion_observed(key, old)
        for key in before + after:
            self.queue.add(key)

    def _slice_deleted(self, eps: Obj) -> None:
        for key in mirrored_key(eps):
            if not self.tracker.deletion_observed(key, eps):
                self.queue.add(key)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.services, self.endpoints, self.slices),
                             events=self.events)  # fmt: skip

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        service = self.services.get(key)
        if service is None:
            self.tracker.forget(key)
            return  # the Endpoints goes with its service, and the slices with the Endpoints
        slices = [s for s in self.slices.by_index(BY_MIRRORED, key)
                  if not s["metadata"].get("deletionTimestamp")]  # fmt: skip
        if self.tracker.stale(key, slices):
            self.queue.add_after(key, STALE_RECHECK)
            return
        endpoints = self.endpoints.get(key)
        if has_selector(service) or endpoints is None or not should_mirror(endpoints):
            await self._apply(key, key.rpartition("/")[0], SlicePlan(delete=slices), None)
            return
        mirror = desired_mirror(endpoints, self._max)
        if mirror.invalid:
            self.events.record(endpoints, "Warning", "InvalidIPAddress",
                               f"Skipped {mirror.invalid} invalid IP addresses when mirroring "
                               "to EndpointSlices")  # fmt: skip
        if mirror.skipped:
            skipped = mirror.skipped + mirror.invalid  # kubernetes counts both here
            self.events.record(endpoints, "Warning", "TooManyAddressesToMirror",
                               f"A max of {self._max} addresses can be mirrored to "
                               "EndpointSlices per Endpoints subset. "
                               f"{skipped} addresses were skipped")  # fmt: skip
        plan = reconcile_mirror(endpoints, slices, mirror)
        await self._apply(key, key.rpartition("/")[0], plan, endpoints)

    async def _apply(self, key: str, namespace: str, plan: SlicePlan, ep: Obj | None) -> None:
        if not plan:
            return
        collection = resource_path("discovery.k8s.io", "v1", "endpointslices", namespace)
        try:
            for eps in plan.create:
                self.tracker.written(key, await self._client.create(collection, eps))
            for eps in plan.update:
                path = f"{collection}/{eps['metadata']['name']}"
                self.tracker.written(key, await self._client.update(path, eps))
            for eps in plan.delete:
                self.tracker.deleted(key, eps)  # first: the informer may see it before we do
                try:
                    await self._client.delete(f"{collection}/{eps['metadata']['name']}")
                except ApiStatusError as err:
                    if err.code != 404:
                        self.tracker.deletion_observed(key, eps)
                        raise
        except ApiStatusError as err:
            if err.code in (404, 409):
                self.queue.add_after(key, STALE_RECHECK)  # the cache was behind: again soon
                return
            if plan.create and namespace_terminating(err.status):
                return
            if ep is not None:
                self.events.record(
                    ep,
                    "Warning",
                    "FailedToUpdateEndpointSlices",
                    f"Error updating Endpoint Slices for Endpoints {key}: {err}",
                )
            raise
