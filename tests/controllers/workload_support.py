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


class FakeKubelet:
    """Marks every pod it sees Running and Ready, except the names in `hold`."""

    def __init__(self, client: ApiClient, selector: str) -> None:
        self.client = client
        self.selector = selector
        self.hold: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        n = 0
        while True:
            for pod in await pods_of(self.client, self.selector):
                if not is_ready(pod) and pod["metadata"]["name"] not in self.hold:
                    n += 1
                    await mark_ready(self.client, pod, ip=f"10.244.0.{n % 250 + 2}")
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> FakeKubelet:
        self._task = asyncio.create_task(self._run(), name="fake-kubelet")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
