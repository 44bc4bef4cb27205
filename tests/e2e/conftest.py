"""A whole control plane in this process, on simulated nodes, driven by the real kubectl.

The `plane` fixture runs what `kyb server --disable kubelet --simulated-nodes 3`
runs, each part as its own task so a test can restart one: the API server
(tests/apiserver's `cluster`), the controller manager (`run_controller_manager`,
leader-elected, every controller of the registry), the scheduler
(`run_scheduler`, leader-elected) and three simulated nodes (4 cpu, 8Gi each).

Only the timings are shortened, through constructor config: nodes renew
their Lease every 0.5 s and the node lifecycle controller calls a node lost
after 3 s without one (instead of 10 s and 50 s), so a test of a dead node
takes seconds. The registry is patched for the test only (the manager reads
it when it starts leading), so the manager itself runs unmodified.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers import manager
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.controllers.nodelifecycle import NodeLifecycleController
from kybernetes.scheduler.scheduler import run_scheduler
from kybernetes.simnode.objects import NodeConfig
from kybernetes.simnode.runner import SimulatedNodes
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster, cluster  # noqa: F401 - the fixture, shared

Obj = dict[str, Any]
NODES = 3
HEARTBEAT = 0.5  # seconds between a simulated node's Lease renewals
GRACE = 3.0  # seconds without one before the node is lost
NODE_CONFIG = NodeConfig(cpu="4", memory="8Gi")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "") -> None:
    """Poll `check` until true; fail with `what` at the deadline."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout}s waiting for {what or check.__name__}")


def wait_for(check: Callable[[], object], timeout: float = 30, what: str = "") -> Any:
    """Poll `check` (a blocking call, e.g. the official client's, in a thread) until
    it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        time.sleep(0.1)
    return found


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


def live(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


@dataclass
class Plane:
    cluster: Cluster
    client: ApiClient
    sim: SimulatedNodes
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    generation: int = 0

    async def kubectl(self, *args: str, stdin: str = "", check: bool = True) -> str:
        return await self.cluster.kubectl(*args, stdin=stdin, check=check)

    def start(self, name: str) -> None:
        """Start the controller manager or the scheduler (a new identity each time)."""
        self.generation += 1
        identity = f"{name}-{self.generation}"
        if name == "controller-manager":
            job = run_controller_manager(self.client, identity)
        else:
            job = run_scheduler(InformerFactory(self.client), identity=identity)
        self.tasks[name] = asyncio.create_task(job, name=f"e2e-{identity}")

    async def stop(self, name: str) -> None:
        await cancel_and_wait(self.tasks.pop(name))

    async def restart(self, name: str) -> None:
        await self.stop(name)
        self.start(name)

    async def pods(self, namespace: str = "default", selector: str = "") -> list[Obj]:
        path = resource_path("", "v1", "pods", namespace)
        query = {"labelSelector": selector} if selector else {}
        items: list[Obj] = (await self.client.get(path, **query))["items"]
        return items

    async def get(self, group: str, plural: str, name: str, namespace: str = "default") -> Obj:
        version = "v1"
        found: Obj = await self.client.get(resource_path(group, version, plural, namespace, name))
        return found


@pytest.fixture
async def plane(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Plane]:  # noqa: F811
    short = functools.partial(NodeLifecycleController, grace_period=GRACE)
    registry = tuple(short if make is NodeLifecycleController else make
                     for make in manager.CONTROLLERS)  # fmt: skip
    monkeypatch.setattr(manager, "CONTROLLERS", registry)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        sim = SimulatedNodes(client, count=NODES, config=NODE_CONFIG,
                             heartbeat_interval=HEARTBEAT)  # fmt: skip
        plane = Plane(cluster, client, sim)
        plane.tasks["simulated-nodes"] = asyncio.create_task(sim.run(), name="e2e-sim")
        plane.start("controller-manager")
        plane.start("scheduler")
        try:
            await asyncio.wait_for(sim.ready.wait(), 20)
            yield plane
        finally:
            for name in list(plane.tasks):
                await plane.stop(name)
