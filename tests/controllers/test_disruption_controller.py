"""PodDisruptionBudgets end to end: the disruption controller's status, the
Eviction API refusing (429) then allowing, and `kubectl drain` through
evictions (checklist L04-L08)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.deployment import DeploymentController
from kybernetes.controllers.disruption import DisruptionController
from kybernetes.controllers.replicaset import ReplicaSetController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.controllers.workload_support import PODS, FakeKubelet, make_node, pods_of, until

PDBS = resource_path("policy", "v1", "poddisruptionbudgets", "default")
DEPLOYS = resource_path("apps", "v1", "deployments", "default")
WEB = {
    "metadata": {"name": "web"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
}  # fmt: skip


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def controllers(client: ApiClient) -> AsyncIterator[DisruptionController]:
    informers = InformerFactory(client)
    disruption = DisruptionController(informers)
    running = [disruption, ReplicaSetController(informers), DeploymentController(informers)]
    informers.start()
    tasks = [asyncio.create_task(c.run()) for c in running]
    try:
        yield disruption
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


async def budget(client: ApiClient) -> dict:
    return dict((await client.get(f"{PDBS}/web")).get("status") or {})


def eviction(name: str) -> dict:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}


async def test_status_eviction_refused_then_allowed(
    cluster: Cluster, client: ApiClient, controllers: DisruptionController
) -> None:
    await make_node(client, "n1")
    async with FakeKubelet(client, "app=web", node="n1"):
        await client.create(DEPLOYS, WEB)
        await client.create(PDBS, {"metadata": {"name": "web"}, "spec": {
            "minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})  # fmt: skip

        async def settled(healthy: int, allowed: int) -> bool:
            s = await budget(client)
            return s.get("currentHealthy") == healthy and s.get("disruptionsAllowed") == allowed

        await until(lambda: settled(2, 0))
        status = await budget(client)
        assert (status["desiredHealthy"], status["expectedPods"], status["observedGeneration"]) == (
            2,
            2,
            1,
        )
        (cond,) = status["conditions"]
        assert (cond["type"], cond["status"], cond["reason"]) == (
            "DisruptionAllowed",
            "False",
            "InsufficientPods",
        )
        victim = (await pods_of(client, "app=web"))[0]["metadata"]["name"]
        with pytest.raises(ApiStatusError) as refused:
            await client.create(f"{PODS}/{victim}/eviction", eviction(victim))
        assert refused.value.code == 429
        assert refused.value.status["message"] == (
            "Cannot evict pod as it would violate the pod's disruption budget."
        )
        assert refused.value.status["details"]["causes"] == [{
            "reason": "DisruptionBudget",
            "message": "The disruption budget web needs 2 healthy pods and has 2 currently",
        }]  # fmt: skip
        out = await cluster.kubectl("get", "pdb")
        assert out.split("\n")[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE",
                                              "ALLOWED", "DISRUPTIONS", "AGE"]  # fmt: skip
        assert out.split("\n")[1].split()[:4] == ["web", "2", "N/A", "0"]
        # Scaled up, the budget allows one disruption: the eviction deletes the pod.
        await client.patch(f"{DEPLOYS}/web/scale", {"spec": {"replicas": 3}})
        await until(lambda: settled(3, 1))
        # A finalizer holds the evicted pod so that it can be read while it goes.
        await client.patch(f"{PODS}/{victim}", {"metadata": {"finalizers": ["test/hold"]}})
        answer = await client.create(f"{PODS}/{victim}/eviction", eviction(victim))
        assert answer["status"] == "Success"
        assert (await budget(client))["disruptionsAllowed"] == 0  # spent at once
        held = await client.get(f"{PODS}/{victim}")
        assert held["metadata"].get("deletionTimestamp")
        target = [c for c in held["status"]["conditions"] if c["type"] == "DisruptionTarget"]
        assert [(c["status"], c["reason"], c["message"]) for c in target] == [
            ("True", "EvictionByEvictionAPI", "Eviction API: evicting")
        ]
        await client.patch(f"{PODS}/{victim}", {"metadata": {"finalizers": None}})

        async def gone() -> bool:
            return victim not in [p["metadata"]["name"] for p in await pods_of(client, "app=web")]

        await until(gone)
        await until(lambda: settled(3, 1))  # replaced, and ready again


async def test_kubectl_drain_honours_the_budget(
    cluster: Cluster, client: ApiClient, controllers: DisruptionController
) -> None:
    await make_node(client, "n1")
    await make_node(client, "n2")
    async with FakeKubelet(client, "app=web", node="n1") as kubelet:
        await client.create(DEPLOYS, {**WEB, "spec": {**WEB["spec"], "replicas": 2}})
        await client.create(PDBS, {"metadata": {"name": "web"}, "spec": {
            "maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}})  # fmt: skip

        async def allows_one() -> bool:
            s = await budget(client)
            return s.get("currentHealthy") == 2 and s.get("disruptionsAllowed") == 1

        await until(allows_one)
        kubelet.node = "n2"  # what the scheduler would do once n1 is cordoned
        out = await cluster.kubectl("drain", "n1", "--timeout=60s")
        assert "node/n1 cordoned" in out and "node/n1 drained" in out
        pods = await pods_of(client, "app=web")
        assert len(pods) == 2 and all(p["spec"]["nodeName"] == "n2" for p in pods)
        # The two evictions raced for one allowed disruption: one was refused (429,
        # reported on stderr) and retried once a replacement was ready.
        assert out.count("evicting pod ") == 3
