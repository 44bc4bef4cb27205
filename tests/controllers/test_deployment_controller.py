"""Deployments through the real API: ReplicaSets per template, pods, revisions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.deployment_decisions import REVISION, TEMPLATE_HASH, template_hash
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

RS = resource_path("apps", "v1", "replicasets", "default")
PODS = resource_path("", "v1", "pods", "default")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def test_template_hash_is_stable_and_ignores_nulls() -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}}
    with_null = {**template, "metadata": {**template["metadata"], "creationTimestamp": None}}
    assert template_hash(template) == template_hash(with_null)
    assert template_hash(template) != template_hash({**template, "spec": {}})


def test_template_hash_is_spelled_as_kubernetes_spells_it() -> None:
    # SafeEncodeString of the sum's decimal digits: "0".."9" become "4".."9", "b".."f".
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}}
    digest = template_hash(template)
    assert set(digest) <= set("456789bcdf") and len(digest) <= 10
    assert digest == "56b5b6b894"  # FNV-1a of its canonical JSON is 1261626450


async def test_create_deployment_makes_a_replicaset_and_pods(
    cluster: Cluster, client: ApiClient
) -> None:
    manager = asyncio.create_task(run_controller_manager(client, "test"))
    try:
        await cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")

        async def pods(n: int) -> bool:
            items = (await client.get(PODS, labelSelector="app=web"))["items"]
            return len(items) == n

        await until(lambda: pods(2))
        sets = (await client.get(RS))["items"]
        assert len(sets) == 1
        first = sets[0]
        assert first["metadata"]["annotations"][REVISION] == "1"
        digest = first["metadata"]["labels"][TEMPLATE_HASH]
        assert first["metadata"]["name"] == f"web-{digest}"
        out = await cluster.kubectl("get", "rs")
        assert f"web-{digest}" in out

        # A new template: a second ReplicaSet at revision 2. No pod ever becomes
        # available here (no kubelet), so the rollout may only surge: 25% of 2
        # rounds up to one extra pod, and no old pod may go.
        await cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")

        async def surged() -> bool:
            items = (await client.get(RS))["items"]
            revisions = {i["metadata"]["annotations"][REVISION]: i for i in items}
            return (set(revisions) == {"1", "2"}
                    and revisions["2"]["spec"]["replicas"] == 1
                    and revisions["1"]["spec"]["replicas"] == 2)  # fmt: skip

        await until(surged)
        await until(lambda: pods(3))
        history = await cluster.kubectl("rollout", "history", "deployment/web")
        assert "1" in history and "2" in history

        # Rollback: the first template comes back and its ReplicaSet is revision 3.
        await cluster.kubectl("rollout", "undo", "deployment/web")

        async def rolled_back() -> bool:
            items = (await client.get(RS))["items"]
            by_name = {i["metadata"]["name"]: i["metadata"]["annotations"][REVISION] for i in items}
            return by_name.get(first["metadata"]["name"]) == "3" and len(items) == 2

        await until(rolled_back)
        deployed = await client.get(resource_path("apps", "v1", "deployments", "default", "web"))
        image = deployed["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "nginx:1.27"
    finally:
        await cancel_and_wait(manager)
