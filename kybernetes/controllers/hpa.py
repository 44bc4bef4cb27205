"""The horizontal pod autoscaler: each HPA reconciled every 15 seconds.

As kube-controller-manager's: read the target's `scale` (the target's
resource found through discovery, so any kind with a scale subresource
works, custom resources too), decide (hpa_decisions.py), write the scale
when it must change, then the HPA's status when it changed, and record the
Events. The target's pods (listed with the scale's selector) and their
PodMetrics (the resource metrics API, served by the API server) are read
through the API as kube's controller reads them; each HPA's recommendation
and scale history stays in memory, as kube's does, and is forgotten with it.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kybernetes.api.times import format_time
from kybernetes.client.events import EventRecorder
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import Clock, WorkQueue
from kybernetes.controllers.hpa_behavior import DOWNSCALE_WINDOW, History
from kybernetes.controllers.hpa_decisions import Observed, plan, set_condition
from kybernetes.controllers.runner import run_controller

__all__ = ["HorizontalPodAutoscalerController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESYNC = 15.0  # kube-controller-manager's --horizontal-pod-autoscaler-sync-period
DISCOVERY_TTL = 30.0
WORKERS = 5
COMPONENT = "horizontal-pod-autoscaler"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ScaleError(Exception):
    """The target's scale could not be read (its words go to the HPA)."""


class HorizontalPodAutoscalerController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        now: Callable[[], datetime.datetime] = _utcnow,
        clock: Clock | None = None,
        downscale_window: datetime.timedelta = DOWNSCALE_WINDOW,
    ) -> None:
        self._client = informers.client
        self._now = now
        # kube's --horizontal-pod-autoscaler-downscale-stabilization, for HPAs without `behavior`.
        self._downscale_window = downscale_window
        self._history: dict[str, History] = {}
        self.hpas = informers.informer("autoscaling", "v2", "horizontalpodautoscalers")
        self.queue: WorkQueue[str] = WorkQueue(name="horizontal-pod-autoscaler", clock=clock)
        self.events = EventRecorder(self._client, COMPONENT)
        self._discovered: dict[str, tuple[float, list[Obj]]] = {}
        self.hpas.on_add(lambda hpa: self.queue.add(key_of(hpa)))
        # Its own status writes come back as updates: only a spec change is news.
        self.hpas.on_update(
            lambda old, new: (
                self.queue.add(key_of(new)) if old.get("spec") != new.get("spec") else None
            )
        )

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.hpas,), events=self.events)  # fmt: skip

    async def sync(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None or (hpa.get("metadata") or {}).get("deletionTimestamp"):
            self._history.pop(key, None)
            return
        try:
            await self._reconcile(hpa)
        finally:
            self.queue.add_after(key, RESYNC)

    async def _reconcile(self, hpa: Obj) -> None:
        moment = self._now()
        now = format_time(moment)
        try:
            scale_path, scale = await self._scale(hpa)
        except ScaleError as err:
            await self._cannot_scale(hpa, str(err), now)
            return
        replicas = int((scale.get("spec") or {}).get("replicas") or 0)
        selector = str((scale.get("status") or {}).get("selector") or "")
        key = key_of(hpa)
        observed = await self._observe(hpa, selector)
        decided = plan(hpa, replicas, observed, moment, history=self._history.get(key),
                       downscale_window=self._downscale_window)  # fmt: skip
        earlier = self._history.get(key) or History()
        self._history[key] = decided.history
        if decided.scale_to is not None:
            scale["spec"] = {**(scale.get("spec") or {}), "replicas": decided.scale_to}
            try:
                await self._client.update(scale_path, scale)
            except ApiStatusError as err:
                # The recommendation stands; a scale that did not happen is no scale event.
                self._history[key] = replace(decided.history, up=earlier.up, down=earlier.down)
                self.events.record(hpa, "Warning", "FailedRescale",
                                   f"New size: {decided.scale_to}; reason: {decided.reason}; "
                                   f"error: {err}")  # fmt: skip
                await self._cannot_scale(hpa, str(err), now, reason="FailedUpdateScale",
                                         doing="update the target scale")  # fmt: skip
                return
        for type_, reason, message in decided.events:
            self.events.record(hpa, type_, reason, message)
        await self._write_status(hpa, decided.status)

    async def _cannot_scale(self, hpa: Obj, error: str, now: str, *, reason: str = "FailedGetScale",
                            doing: str = "get the target's current scale") -> None:  # fmt: skip
        self.events.record(hpa, "Warning", reason, error)
        status = dict(hpa.get("status") or {})
        status["conditions"] = set_condition(status.get("conditions") or [], "AbleToScale",
                                             "False", reason,
                                             f"the HPA controller was unable to {doing}: {error}",
                                             now)  # fmt: skip
        await self._write_status(hpa, status)

    async def _write_status(self, hpa: Obj, status: Obj) -> None:
        if status == hpa.get("status"):
            return
        meta = hpa["metadata"]
        path = resource_path("autoscaling", "v2", "horizontalpodautoscalers",
                             meta.get("namespace", ""), meta["name"])  # fmt: skip
        try:
            await self._client.update(f"{path}/status", {**hpa, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            # Gone or changed meanwhile: the next sync starts from the new one.

    async def _scale(self, hpa: Obj) -> tuple[str, Obj]:
        """The path of the target's scale and the Scale itself."""
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        version = str(ref.get("apiVersion") or "")
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        group = version.rsplit("/", 1)[0] if "/" in version else ""
        listed = [r for r in await self._resources(version) if "/" not in r.get("name", "")]
        plural = next((r["name"] for r in listed if r.get("kind") == kind), None)
        if plural is None:
            raise ScaleError(f'no matches for kind "{kind}" in group "{group}"')
        namespace = hpa["metadata"].get("namespace", "")
        path = resource_path(group, version.rsplit("/", 1)[-1], plural, namespace, name) + "/scale"
        try:
            return path, await self._client.get(path)
        except ApiStatusError as err:
            raise ScaleError(str(err)) from err

    async def _resources(self, group_version: str) -> list[Obj]:
        fetched = self._discovered.get(group_version)
        if fetched is not None and time.monotonic() - fetched[0] < DISCOVERY_TTL:
            return fetched[1]
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version or 'v1'}"
        try:
            resources = list((await self._client.get(path)).get("resources") or [])
        except ApiStatusError as err:
            if err.code != 404:
                raise
            resources = []
        self._discovered[group_version] = (time.monotonic(), resources)
        return resources

    async def _observe(self, hpa: Obj, selector: str) -> Observed:
        """The target's pods and their PodMetrics, both listed with the scale's selector."""
        if not any(m.get("type") in ("Resource", "ContainerResource")
                   for m in (hpa.get("spec") or {}).get("metrics") or []):  # fmt: skip
            return Observed()
        namespace = hpa["metadata"].get("namespace", "")
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
        try:
            metrics = (await self._client.get(path, labelSelector=selector)).get("items") or []
        except ApiStatusError as err:
            return Observed(metrics_error=f"{err} (get pods.metrics.k8s.io)")
        pods = await self._client.get(resource_path("", "v1", "pods", namespace),
                                      labelSelector=selector)  # fmt: skip
        return Observed(list(pods.get("items") or []), list(metrics))
