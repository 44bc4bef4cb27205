"""Whole rollouts through the real kubectl: bounds, status, pause, scale, undo, history.

No kubelet here: a stand-in marks every pod Running and Ready (writing
`pods/status` as a kubelet would), and can be held to freeze a rollout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.deployment_decisions import REVISION
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

RS = resource_path("apps", "v1", "replicasets", "default")
DEPLOY = resource_path("apps", "v1", "deployments", "default")
PODS = resource_path("", "v1", "pods", "default")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


class Readier:
    """Marks pods Running and Ready, as a kubelet would, unless held."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.held = False

    async def run(self) -> None:
        while True:
            if not self.held:
                for pod in (await self.client.get(PODS))["items"]:
                    if not is_ready(pod) and not pod["metadata"].get("deletionTimestamp"):
                        await self._ready(pod)
            await asyncio.sleep(0.05)

    async def _ready(self, pod: dict[str, Any]) -> None:
        status = {"phase": "Running", "podIP": "10.244.0.9",
                  "conditions": [{"type": "Ready", "status": "True",
                                  "lastTransitionTime": "2026-11-30T00:00:00Z"}]}  # fmt: skip
        try:
            await self.client.update(f"{PODS}/{pod['metadata']['name']}/status",
                                     {**pod, "status": status})  # fmt: skip
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise


@pytest.fixture
async def running(client: ApiClient) -> AsyncIterator[Readier]:
    readier = Readier(client)
    tasks = [asyncio.create_task(run_controller_manager(client, "test")),
             asyncio.create_task(readier.run())]  # fmt: skip
    try:
        yield readier
    finally:
        for task in tasks:
            await cancel_and_wait(task)


async def live_pods(client: ApiClient) -> list[dict[str, Any]]:
    items = (await client.get(PODS, labelSelector="app=web"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def replicasets(client: ApiClient) -> dict[str, dict[str, Any]]:
    """Revision -> ReplicaSet."""
    items = (await client.get(RS))["items"]
    return {i["metadata"]["annotations"][REVISION]: i for i in items}


async def set_strategy(cluster: Cluster, *, surge: int, unavailable: int) -> None:
    rolling = f'{{"maxSurge":{surge},"maxUnavailable":{unavailable}}}'
    patch = f'{{"spec":{{"strategy":{{"rollingUpdate":{rolling}}}}}}}'
    await cluster.kubectl("patch", "deployment/web", "-p", patch)


async def test_a_rolling_update_stays_within_its_bounds(
    cluster: Cluster, client: ApiClient, running: Readier
) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=4")
    await set_strategy(cluster, surge=1, unavailable=1)
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")

    samples: list[tuple[int, int]] = []

    async def sample() -> None:
        while True:
            pods = await live_pods(client)
            samples.append((len(pods), sum(1 for p in pods if is_ready(p))))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
        out = await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert 'deployment "web" successfully rolled out' in out
    finally:
        await cancel_and_wait(sampler)
    assert len(samples) > 5
    assert max(total for total, _ in samples) <= 4 + 1  # replicas + maxSurge
    assert min(ready for _, ready in samples) >= 4 - 1  # replicas - maxUnavailable
    sets = await replicasets(client)
    assert sets["2"]["spec"]["replicas"] == 4 and sets["1"]["spec"]["replicas"] == 0

    deployment = await client.get(f"{DEPLOY}/web")
    status = deployment["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == 4
    assert deployment["metadata"]["annotations"][REVISION] == "2"
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons == {"Available": "MinimumReplicasAvailable",
                       "Progressing": "NewReplicaSetAvailable"}  # fmt: skip
    described = await cluster.kubectl("describe", "deployment", "web")
    assert "ScalingReplicaSet" in described
    assert f"Scaled up replica set {sets['2']['metadata']['name']}" in described
    assert "NewReplicaSetAvailable" in described


async def test_pause_scale_resume_undo_and_history_limit(
    cluster: Cluster, client: ApiClient, running: Readier
) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    await cluster.kubectl("rollout", "pause", "deployment/web")
    await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
    await cluster.kubectl("scale", "deployment/web", "--replicas=3")

    async def scaled_in_place() -> bool:
        sets = await replicasets(client)
        return list(sets) == ["1"] and sets["1"]["spec"]["replicas"] == 3

    await until(scaled_in_place)  # paused: scaling works, no new template is rolled out
    deployment = await client.get(f"{DEPLOY}/web")
    progressing = next(c for c in deployment["status"]["conditions"]
                       if c["type"] == "Progressing")  # fmt: skip
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")

    await cluster.kubectl("rollout", "resume", "deployment/web")
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    sets = await replicasets(client)
    assert set(sets) == {"1", "2"} and sets["2"]["spec"]["replicas"] == 3

    # Undo to an explicit revision: revision 1's template returns as revision 3.
    await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.29")
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    await cluster.kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    deployment = await client.get(f"{DEPLOY}/web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert set(await replicasets(client)) == {"2", "3", "4"}  # revision 1 became 4
    history = await cluster.kubectl("rollout", "history", "deployment/web")
    assert "4" in history

    # History beyond revisionHistoryLimit goes, oldest first.
    await cluster.kubectl("patch", "deployment/web", "-p", '{"spec":{"revisionHistoryLimit":1}}')

    async def trimmed() -> bool:
        return set(await replicasets(client)) == {"3", "4"}

    await until(trimmed)


async def test_scaling_mid_rollout_is_proportional(
    cluster: Cluster, client: ApiClient, running: Readier
) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=10")
    await set_strategy(cluster, surge=3, unavailable=2)
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    running.held = True  # new pods never become ready: the rollout freezes mid-way
    await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")

    async def frozen() -> bool:
        sets = await replicasets(client)
        return ("2" in sets and sets["2"]["spec"]["replicas"] == 5
                and sets["1"]["spec"]["replicas"] == 8)  # fmt: skip

    await until(frozen)  # 13 = 10 + surge; 8 old = 10 - 2 unavailable
    await cluster.kubectl("scale", "deployment/web", "--replicas=20")

    async def shared() -> bool:
        sets = await replicasets(client)
        return sets["1"]["spec"]["replicas"] == 14 and sets["2"]["spec"]["replicas"] == 9

    await until(shared)  # 23 = 20 + surge, shared 8:5
    running.held = False
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    sets = await replicasets(client)
    assert sets["2"]["spec"]["replicas"] == 20 and sets["1"]["spec"]["replicas"] == 0


async def test_restarting_the_controller_manager_mid_rollout_changes_nothing(
    cluster: Cluster, client: ApiClient
) -> None:
    readier = Readier(client)
    ready_task = asyncio.create_task(readier.run())
    manager = asyncio.create_task(run_controller_manager(client, "first"))
    try:
        await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=6")
        await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        readier.held = True
        await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")

        async def frozen() -> bool:
            # 25% of 6: surge 2 (up), unavailable 1 (down): 5 old stay, 3 new wait for ever.
            sets = await replicasets(client)
            return ("2" in sets and sets["2"]["spec"]["replicas"] == 3
                    and sets["1"]["spec"]["replicas"] == 5)  # fmt: skip

        await until(frozen)
        await asyncio.sleep(0.3)
        before = {r: s["spec"]["replicas"] for r, s in (await replicasets(client)).items()}
        pods_before = sorted(p["metadata"]["name"] for p in await live_pods(client))
        await cancel_and_wait(manager)
        # A new manager (another identity: it must wait for the Lease or take it over).
        manager = asyncio.create_task(run_controller_manager(client, "second"))
        await asyncio.sleep(1.0)  # a negative check: the newcomer must not add anything
        after = {r: s["spec"]["replicas"] for r, s in (await replicasets(client)).items()}
        assert after == before
        assert sorted(p["metadata"]["name"] for p in await live_pods(client)) == pods_before
        readier.held = False
        await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        sets = await replicasets(client)
        assert sets["2"]["spec"]["replicas"] == 6 and sets["1"]["spec"]["replicas"] == 0
    finally:
        await cancel_and_wait(manager)
        await cancel_and_wait(ready_task)


async def test_a_rollover_scales_the_unfinished_revision_away(
    cluster: Cluster, client: ApiClient, running: Readier
) -> None:
    # Checklist D06: a new template during an unfinished rollout wins; the
    # intermediate ReplicaSet, whose pods never became ready, goes to 0 at once.
    await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=1")
    await set_strategy(cluster, surge=1, unavailable=0)
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    running.held = True
    await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:nonexistent")

    async def sizes(expected: dict[str, int]) -> bool:
        sets = await replicasets(client)
        return {rev: rs["spec"]["replicas"] for rev, rs in sets.items()} == expected

    await until(lambda: sizes({"1": 1, "2": 1}))  # stuck: the surge pod is never ready
    await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
    await until(lambda: sizes({"1": 1, "2": 0, "3": 1}))  # still held: 1 stays available
    running.held = False
    await cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    await until(lambda: sizes({"1": 0, "2": 0, "3": 1}))
    pods = await live_pods(client)
    assert len(pods) == 1
    hash3 = (await replicasets(client))["3"]["metadata"]["labels"]["pod-template-hash"]
    assert pods[0]["metadata"]["labels"]["pod-template-hash"] == hash3
