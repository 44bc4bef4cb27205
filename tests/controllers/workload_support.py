"""Helpers for the DaemonSet and StatefulSet tests: nodes, a stand-in kubelet, polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kybernetes.api.times import now_rfc3339
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.util.tasks import cancel_and_wait

Obj = dict[str, Any]
PODS = resource_path("", "v1", "pods", "default")
NODES = resource_path("", "v1", "nodes")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def make_node(
    client: ApiClient, name: str, *, labels: dict[str, str] | None = None,
    taints: Iterable[Obj] = (),
) -> Obj:  # fmt: skip
    body = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": {"taints": list(taints)}}  # fmt: skip
    node: Obj = await client.create(NODES, body)
    return node


async def mark_ready(client: ApiClient, pod: Obj, *, ip: str = "10.244.0.10") -> None:
    """What a kubelet would report: Running, Ready, an IP."""
    now = now_rfc3339()
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
    }
    name = pod["metadata"]["name"]
    try:
        await client.update(f"{PODS}/{name}/status", {**pod, "status": status})
    except ApiStatusError as err:
        if err.code not in (404, 409):
            raise


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


async def pods_of(client: ApiClient, selector: str) -> list[Obj]:
    """Live pods (not being deleted), by name."""
    items = (await client.get(PODS, labelSelector=selector))["items"]
    live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return sorted(live, key=lambda p: p["metadata"]["name"])


def pinned_to(pod: Obj) -> str:
    """The node a `matchFields metadata.name In [node]` affinity names ("" if none)."""
    required = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}  # fmt: skip
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("values"):
                return str(expr["values"][0])
    return ""


class FakeKubelet:
    """Marks every pod it sees Running and Ready, except those `broken` says cannot start.

    With `bind`, it also plays the scheduler (binding pinned pods to the node
    their affinity names, others to `node`) and, while `finish_deletions`,
    ends the graceful deletion of bound pods, as a kubelet does once the
    containers stopped.
    """

    def __init__(
        self, client: ApiClient, selector: str, *, bind: bool = False, node: str = ""
    ) -> None:
        self.client = client
        self.selector = selector
        self.bind = bind or bool(node)
        self.node = node
        self.finish_deletions = self.bind
        self.broken: Callable[[Obj], bool] = lambda pod: False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        n = 0
        while True:
            items = (await self.client.get(PODS, labelSelector=self.selector))["items"]
            for pod in items:
                if pod["metadata"].get("deletionTimestamp"):
                    if self.finish_deletions:
                        await self._finish_deletion(pod)
                    continue
                target = pinned_to(pod) or self.node
                if self.bind and not pod["spec"].get("nodeName") and target:
                    await self._bind(pod, target)
                    continue  # ready once bound, as on a real node
                if not is_ready(pod) and not self.broken(pod):
                    n += 1
                    await mark_ready(self.client, pod, ip=f"10.244.0.{n % 250 + 2}")
            await asyncio.sleep(0.05)

    async def _bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}  # fmt: skip
        try:
            await self.client.create(f"{PODS}/{meta['name']}/binding", body)
            return
        except ApiStatusError as err:
            if err.code == 409:
                return
            # No pods/binding on this server yet: set nodeName as binding would.
        bound = {**pod, "spec": {**pod["spec"], "nodeName": node}}
        try:
            await self.client.update(f"{PODS}/{meta['name']}", bound)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise

    async def _finish_deletion(self, pod: Obj) -> None:
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": pod["metadata"]["uid"]}}
        try:
            await self.client.delete(f"{PODS}/{pod['metadata']['name']}", body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise

    async def __aenter__(self) -> FakeKubelet:
        self._task = asyncio.create_task(self._run(), name="fake-kubelet")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
