"""Restarting the controller manager or the scheduler mid-rollout changes nothing it should not.

Two ways in: a rollout frozen with new pods that cannot be scheduled (the
new template asks for a node label no node has yet), where a restart must
leave every count and every pod as it was; and a live rollout during which
both are restarted again and again, where no pod may be created beyond the
ones the rollout needs and the surge/unavailable bounds must hold
throughout (a sampler reads every pod at each step).
"""

from __future__ import annotations

import asyncio
import json

from kybernetes.controllers.deployment_decisions import REVISION
from kybernetes.util.tasks import cancel_and_wait
from tests.e2e.conftest import Obj, Plane, is_ready, live, until


async def web_pods(plane: Plane) -> list[Obj]:
    return live(await plane.pods(selector="app=web"))


async def revisions(plane: Plane) -> dict[str, int]:
    items = (await plane.client.get("/apis/apps/v1/namespaces/default/replicasets"))["items"]
    return {i["metadata"]["annotations"][REVISION]: i["spec"]["replicas"] for i in items}


class Sampler:
    """Every pod name ever seen, and (total, ready) at each step."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self.samples: list[tuple[int, int]] = []
        self.names: set[str] = set()

    async def run(self) -> None:
        while True:
            pods = await web_pods(self.plane)
            self.names.update(p["metadata"]["name"] for p in pods)
            self.samples.append((len(pods), sum(1 for p in pods if is_ready(p))))
            await asyncio.sleep(0.005)


async def start(plane: Plane, replicas: int) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27",
                        f"--replicas={replicas}")  # fmt: skip
    patch = '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":2,"maxUnavailable":1}}}}'
    await plane.kubectl("patch", "deployment/web", "-p", patch)
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")


async def test_restarts_while_a_rollout_waits_on_the_scheduler_change_nothing(
    plane: Plane,
) -> None:
    await start(plane, 6)
    sampler = Sampler(plane)
    sampling = asyncio.create_task(sampler.run())
    try:
        selector = {"spec": {"template": {"spec": {"nodeSelector": {"tier": "new"}}}}}
        await plane.kubectl("patch", "deployment/web", "-p", json.dumps(selector))

        async def frozen() -> bool:
            pods = await web_pods(plane)
            pending = [p for p in pods if not p["spec"].get("nodeName")]
            return await revisions(plane) == {"1": 5, "2": 3} and len(pending) == 3

        await until(frozen, what="old 5, new 3 Pending (6 - 1 unavailable, 6 + 2 surge)")
        before = sorted(p["metadata"]["name"] for p in await web_pods(plane))
        for name in ("controller-manager", "scheduler"):
            await plane.restart(name)
            await asyncio.sleep(1.5)  # a negative check: the newcomer must not change anything
            assert await revisions(plane) == {"1": 5, "2": 3}, name
            pods = await web_pods(plane)
            assert sorted(p["metadata"]["name"] for p in pods) == before, name
            assert sum(1 for p in pods if not p["spec"].get("nodeName")) == 3, name

        # The label appears: the restarted scheduler places them, the rollout finishes.
        await plane.kubectl("label", "node", plane.sim.names[0], "tier=new")
        await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    finally:
        await cancel_and_wait(sampling)
    assert await revisions(plane) == {"1": 0, "2": 6}
    pods = await web_pods(plane)
    assert {p["spec"]["nodeName"] for p in pods} == {plane.sim.names[0]}
    assert max(total for total, _ in sampler.samples) <= 6 + 2
    assert min(ready for _, ready in sampler.samples) >= 6 - 1
    assert len(sampler.names) == 6 + 6  # the old six and exactly six new ones


async def test_restarts_during_a_live_rollout_create_no_extra_pods(plane: Plane) -> None:
    await start(plane, 9)
    patch = '{"spec":{"minReadySeconds":1}}'  # slows the rollout so restarts land inside it
    await plane.kubectl("patch", "deployment/web", "-p", patch)
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    sampler = Sampler(plane)
    sampling = asyncio.create_task(sampler.run())
    restarts = 0
    try:
        await plane.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")

        async def rolled_out() -> bool:
            nonlocal restarts
            deployment = await plane.get("apps", "deployments", "web")
            status = deployment.get("status") or {}
            done = (status.get("observedGeneration") == deployment["metadata"]["generation"]
                    and status.get("updatedReplicas") == 9 == status.get("availableReplicas")
                    and status.get("replicas") == 9)  # fmt: skip
            if not done:
                await plane.restart(("controller-manager", "scheduler")[restarts % 2])
                restarts += 1
                await asyncio.sleep(0.4)
            return done

        await until(rolled_out, timeout=60, what="the rollout to finish across restarts")
    finally:
        await cancel_and_wait(sampling)
    assert restarts >= 4  # the restarts did land inside the rollout
    assert await revisions(plane) == {"1": 0, "2": 9}
    assert max(total for total, _ in sampler.samples) <= 9 + 2
    assert min(ready for _, ready in sampler.samples) >= 9 - 1
    assert len(sampler.names) == 9 + 9  # no pod was created twice
