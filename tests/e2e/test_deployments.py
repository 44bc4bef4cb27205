"""Deployments end to end: kubectl → API → controllers → scheduler → simulated nodes.

Every step is a real kubectl command; the pods are Running because a
simulated kubelet said so after the scheduler bound them, not because the
test wrote their status.
"""

from __future__ import annotations

import asyncio

from kybernetes.controllers.deployment_decisions import REVISION
from kybernetes.util.tasks import cancel_and_wait
from tests.e2e.conftest import NODES, Obj, Plane, is_ready, live, until


async def web_pods(plane: Plane) -> list[Obj]:
    return live(await plane.pods(selector="app=web"))


async def revisions(plane: Plane) -> dict[str, Obj]:
    items = (await plane.client.get("/apis/apps/v1/namespaces/default/replicasets"))["items"]
    return {i["metadata"]["annotations"][REVISION]: i for i in items}


def images(pods: list[Obj]) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in pods}


async def test_create_deployment_runs_its_pods_on_the_simulated_nodes(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=5")
    out = await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in out
    pods = await web_pods(plane)
    assert len(pods) == 5
    assert all(p["status"]["phase"] == "Running" and is_ready(p) for p in pods)
    # Spread over the nodes by the scheduler, each with an IP from its node's podCIDR.
    assert {p["spec"]["nodeName"] for p in pods} == set(plane.sim.names)
    assert len({p["status"]["podIP"] for p in pods}) == 5
    table = await plane.kubectl("get", "deployment", "web")
    assert "5/5" in table


async def test_rollout_bounds_history_undo_pause_resume_scale(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=6")
    patch = '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":2,"maxUnavailable":1}}}}'
    await plane.kubectl("patch", "deployment/web", "-p", patch)
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")

    # A sampler reads every pod at each step of the rollout.
    samples: list[tuple[int, int]] = []

    async def sample() -> None:
        while True:
            pods = await web_pods(plane)
            samples.append((len(pods), sum(1 for p in pods if is_ready(p))))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        await plane.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
        out = await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert 'deployment "web" successfully rolled out' in out
    finally:
        await cancel_and_wait(sampler)
    assert len(samples) > 5
    assert max(total for total, _ in samples) <= 6 + 2  # replicas + maxSurge
    assert min(ready for _, ready in samples) >= 6 - 1  # replicas - maxUnavailable
    assert any(total > 6 for total, _ in samples)  # the sampler saw the surge happen
    assert images(await web_pods(plane)) == {"nginx:1.28"}

    history = await plane.kubectl("rollout", "history", "deployment/web")
    assert "REVISION" in history and "1 " in history and "2 " in history

    await plane.kubectl("rollout", "undo", "deployment/web")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert images(await web_pods(plane)) == {"nginx:1.27"}
    assert set(await revisions(plane)) == {"2", "3"}  # revision 1 came back as 3

    # Paused: a new template is not rolled out, scaling still happens in place.
    await plane.kubectl("rollout", "pause", "deployment/web")
    await plane.kubectl("set", "image", "deployment/web", "nginx=nginx:1.29")
    await plane.kubectl("scale", "deployment/web", "--replicas=3")

    async def scaled_in_place() -> bool:
        pods = await web_pods(plane)
        return len(pods) == 3 and images(pods) == {"nginx:1.27"}

    await until(scaled_in_place)
    await asyncio.sleep(0.5)  # a negative check: still nothing of revision 4
    assert set(await revisions(plane)) == {"2", "3"}
    await plane.kubectl("rollout", "resume", "deployment/web")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    pods = await web_pods(plane)
    assert len(pods) == 3 and images(pods) == {"nginx:1.29"} and all(map(is_ready, pods))
    history = await plane.kubectl("rollout", "history", "deployment/web")
    assert "4 " in history

    await plane.kubectl("scale", "deployment/web", "--replicas=7")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert len(await web_pods(plane)) == 7


async def test_a_deleted_pod_is_replaced(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    victim = (await web_pods(plane))[0]["metadata"]["name"]
    await plane.kubectl("delete", "pod", victim)  # waits until the node finished it

    async def replaced() -> bool:
        pods = await web_pods(plane)
        names = {p["metadata"]["name"] for p in pods}
        return len(pods) == 3 and victim not in names and all(map(is_ready, pods))

    await until(replaced)
    assert len(plane.sim.names) == NODES
