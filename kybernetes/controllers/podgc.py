"""The pod garbage collector: pods no kubelet will ever finish, and too many finished pods.

kube-controller-manager's podgc, in its three passes:
- orphaned pods: bound to a node that no longer exists (after a short
  quarantine, in case the node is only being re-created) are deleted at
  once (grace 0), since no kubelet will ever finish them;
- unscheduled terminating pods: being deleted while bound to no node are
  deleted at once (no kubelet owns them);
- terminated pods (Succeeded/Failed) beyond `terminated_threshold` are
  deleted, oldest first, so finished pods cannot grow without bound.
A pure `pods_to_collect` decides; a periodic pass applies it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.api.times import parse_time
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiStatusError, resource_path

__all__ = ["PodGCController", "pods_to_collect"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TERMINATED_THRESHOLD = 12_500  # kube-controller-manager's --terminated-pod-gc-threshold
QUARANTINE = 40.0  # seconds a node must be gone before its pods are collected
PERIOD = 20.0  # kube's gcCheckPeriod


def pods_to_collect(
    pods: Iterable[Obj],
    nodes: set[str],
    *,
    gone_since: dict[str, float],
    now: float,
    terminated_threshold: int = TERMINATED_THRESHOLD,
    quarantine: float = QUARANTINE,
) -> list[tuple[Obj, str]]:
    """(pod, why) for every pod to delete now; `gone_since` maps missing nodes to when
    they were first seen missing (the caller keeps it)."""
    chosen: list[tuple[Obj, str]] = []
    terminated: list[Obj] = []
    for pod in pods:
        spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
        node = str(spec.get("nodeName") or "")
        if node and node not in nodes:
            if now - gone_since.setdefault(node, now) >= quarantine:
                chosen.append((pod, f"PodGC: node {node} no longer exists"))
            continue
        if not node and meta.get("deletionTimestamp"):
            chosen.append((pod, "PodGC: unscheduled pod being deleted"))
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            terminated.append(pod)
    for name in [n for n in gone_since if n in nodes]:
        del gone_since[name]  # the node came back
    excess = len(terminated) - terminated_threshold
    if excess > 0:

        def created(pod: Obj) -> datetime.datetime:
            stamp = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
            return stamp or datetime.datetime.min.replace(tzinfo=datetime.UTC)

        oldest = sorted(terminated, key=created)[:excess]
        chosen += [(pod, "PodGC: too many terminated pods") for pod in oldest]
    return chosen


class PodGCController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        period: float = PERIOD,
        quarantine: float = QUARANTINE,
        terminated_threshold: int = TERMINATED_THRESHOLD,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = informers.client
        self.pods = informers.informer("", "v1", "pods")
        self.nodes = informers.informer("", "v1", "nodes")
        self._period = period
        self._quarantine = quarantine
        self._threshold = terminated_threshold
        self._clock = clock
        self._gone_since: dict[str, float] = {}

    async def run(self) -> None:
        await InformerFactory.wait_synced(self.pods, self.nodes)
        while True:
            await self.collect()
            await asyncio.sleep(self._period)

    async def collect(self) -> int:
        """One pass; how many pods were deleted."""
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        nodes = {n["metadata"]["name"] for n in self.nodes.items.values()}
        chosen = pods_to_collect(list(self.pods.items.values()), nodes,
                                 gone_since=self._gone_since, now=now,
                                 terminated_threshold=self._threshold,
                                 quarantine=self._quarantine)  # fmt: skip
        deleted = 0
        for pod, why in chosen:
            meta = pod["metadata"]
            path = resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])
            force = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
            try:
                await self._client.delete(path, force)
            except ApiStatusError as err:
                if err.code not in (404, 409):
                    log.warning("podgc: deleting %s/%s failed: %s", meta.get("namespace"),
                                meta["name"], err)  # fmt: skip
                continue
            deleted += 1
            log.info("%s: deleted pod %s/%s", why, meta.get("namespace"), meta["name"])
        return deleted
