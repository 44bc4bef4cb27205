"""The Endpoints controller: one Endpoints per Service with a selector.

A thin loop around `endpoints_decisions`: service events queue the
service's key; a pod event queues only the services it concerns — those of
the pod's namespace (services are indexed by namespace) whose selector
matches the pod before or after the change, and only when the change shows
in an endpoint (IP, readiness, deletion, labels, hostname). Bursts of pod
changes for one service collapse in the work queue into one sync, which
recomputes the whole Endpoints from the caches.

`sync(key)` writes only a changed result, conditioned on the cached
resourceVersion (a 409 means the cache was behind: sync again). After an
update it remembers the resourceVersion it replaced, and does not act on a
cache that still shows it (kubernetes' stale-endpoints tracker), so it never
overwrites its own newer write from an old cache.

A service without a selector keeps whatever Endpoints its user writes
(the `kubernetes` service's are the API server's). When a service is gone,
its Endpoints are deleted; at start every Endpoints is checked once, which
cleans up after services deleted while no controller ran.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NAMESPACE, namespace
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.endpoints_decisions import (
    TriggerTimes,
    desired_endpoints,
    has_selector,
    namespace_terminating,
    pod_change_keys,
    selects,
    services_of_pod,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["EndpointsController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 5
STALE_RECHECK = 0.05  # seconds until a cache that lags our own write is looked at again
# Endpoints of leader elections that still use Endpoints have no Service; never delete them.
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


class EndpointsController:
    def __init__(self, informers: InformerFactory, *, batch_period: float = 0.0) -> None:
        """`batch_period`: how long a pod change waits before its services sync, so that
        more changes join it (kubernetes' --endpoint-updates-batch-period, 0 by default)."""
        self._client = informers.client
        self._batch_period = batch_period
        self.events = EventRecorder(self._client, "endpoint-controller")
        self.services = informers.informer("", "v1", "services")
        self.pods = informers.informer("", "v1", "pods")
        self.endpoints = informers.informer("", "v1", "endpoints")
        self.services.add_index(BY_NAMESPACE, namespace)
        self.pods.add_index(BY_NAMESPACE, namespace)
        self.queue: WorkQueue[str] = WorkQueue(name="endpoint")
        self.services.on_add(lambda svc: self.queue.add(key_of(svc)))
        self.services.on_update(lambda old, new: self.queue.add(key_of(new)))
        self.services.on_delete(lambda svc: self.queue.add(key_of(svc)))
        self.pods.on_add(self._pod_added_or_deleted)
        self.pods.on_update(self._pod_updated)
        self.pods.on_delete(self._pod_added_or_deleted)
        # Someone deleted an Endpoints: put it back (or confirm a service's is gone).
        self.endpoints.on_delete(lambda ep: self.queue.add(key_of(ep)))
        self.trigger_times = TriggerTimes()
        self._replaced: dict[str, str] = {}  # key -> resourceVersion our last update replaced

    def _namespace_services(self, pod: Obj) -> list[Obj]:
        return self.services.by_index(BY_NAMESPACE, pod["metadata"].get("namespace", ""))

    def _queue_pod_services(self, keys: set[str]) -> None:
        for key in keys:
            self.queue.add_after(key, self._batch_period)

    def _pod_added_or_deleted(self, pod: Obj) -> None:
        self._queue_pod_services(services_of_pod(self._namespace_services(pod), pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._queue_pod_services(pod_change_keys(self._namespace_services(new), old, new))

    async def run(self) -> None:
        """Wait until the caches synced, check every Endpoints once, then work."""
        informers = (self.services, self.pods, self.endpoints)
        await InformerFactory.wait_synced(*informers)
        self._check_leftovers()
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=informers, events=self.events)  # fmt: skip

    def _check_leftovers(self) -> None:
        """Queue every Endpoints: those whose service is gone get deleted."""
        for ep in list(self.endpoints.items.values()):
            if LEADER_ANNOTATION not in ((ep["metadata"].get("annotations")) or {}):
                self.queue.add(key_of(ep))

    async def sync(self, key: str) -> None:
        namespace_, _, name = key.rpartition("/")
        service = self.services.get(key)
        if service is None:
            self.trigger_times.forget(key)
            self._replaced.pop(key, None)
            await self._delete(namespace_, name)
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or not has_selector(service):
            return  # no endpoints from us: the user writes them, if anyone does
        pods = [p for p in self.pods.by_index(BY_NAMESPACE, namespace_)
                if selects(service, p["metadata"].get("labels") or {})]  # fmt: skip
        # Computed on every sync, written or not, so the tracker sees every change once.
        trigger_time = self.trigger_times.compute(key, service, pods)
        current = self.endpoints.get(key)
        if current is not None and self._replaced.get(key) == current["metadata"].get(
                "resourceVersion"):  # fmt: skip
            self.queue.add_after(key, STALE_RECHECK)  # our own last write is not cached yet
            return
        wanted = desired_endpoints(service, pods, current, trigger_time=trigger_time)
        if wanted is None:
            return
        await self._write(key, current, wanted)

    async def _write(self, key: str, current: Obj | None, wanted: Obj) -> None:
        namespace_ = wanted["metadata"]["namespace"]
        name = wanted["metadata"]["name"]
        try:
            if current is None:
                await self._client.create(resource_path("", "v1", "endpoints", namespace_),
                                          wanted)  # fmt: skip
                self._replaced.pop(key, None)
            else:
                written = await self._client.update(
                    resource_path("", "v1", "endpoints", namespace_, name), wanted
                )
                old_rv = current["metadata"].get("resourceVersion")
                if written["metadata"].get("resourceVersion") != old_rv:
                    self._replaced[key] = str(old_rv)
        except ApiStatusError as err:
            if err.code in (404, 409):
                # The cache was behind (someone wrote or deleted it meanwhile): sync again
                # once the informer has caught up.
                self.queue.add_after(key, STALE_RECHECK)
                return
            if current is None and namespace_terminating(err.status):
                return  # creates keep failing in a terminating namespace: drop it
            if current is None:
                self.events.record(
                    wanted,
                    "Warning",
                    "FailedToCreateEndpoint",
                    f"Failed to create endpoint for service {key}: {err}",
                )
            else:
                self.events.record(
                    wanted,
                    "Warning",
                    "FailedToUpdateEndpoint",
                    f"Failed to update endpoint {key}: {err}",
                )
            raise

    async def _delete(self, namespace_: str, name: str) -> None:
        try:
            await self._client.delete(resource_path("", "v1", "endpoints", namespace_, name))
        except ApiStatusError as err:
            if err.code != 404:
                raise
