"""ReplicationControllers end to end: the kind, its scale subresource, and the
replication manager (the ReplicaSet controller's decisions) with the real
kubectl (checklist R07, R08, R09, R12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.replicationcontroller import ReplicationManager
from kybernetes.controllers.resourcequota import ResourceQuotaController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

RCS = resource_path("", "v1", "replicationcontrollers", "default")
PODS = resource_path("", "v1", "pods", "default")
RC_YAML = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: web, image: nginx}]
"""


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def controlled(client: ApiClient, uid: str) -> list[dict]:
    return [
        p
        for p in (await client.get(PODS))["items"]
        if any(
            r.get("uid") == uid and r.get("controller")
            for r in p["metadata"].get("ownerReferences") or []
        )
        and not p["metadata"].get("deletionTimestamp")
    ]


async def test_rc_defaults_and_validation(client: ApiClient) -> None:
    with pytest.raises(ApiStatusError) as bad:
        await client.create(
            RCS,
            {
                "metadata": {"name": "bad"},
                "spec": {
                    "selector": {"app": "other"},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                    },
                },
            },
        )
    assert bad.value.code == 422
    assert "selector does not match template labels" in bad.value.status["message"]


async def test_replication_manager_scales_adopts_and_releases(
    cluster: Cluster, client: ApiClient
) -> None:
    orphan = {"metadata": {"name": "orphan", "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}  # fmt: skip
    await client.create(PODS, orphan)
    informers = InformerFactory(client)
    manager = ReplicationManager(informers)
    informers.start()
    task = asyncio.create_task(manager.run())
    try:
        await cluster.kubectl("apply", "-f", "-", stdin=RC_YAML)
        rc = await client.get(f"{RCS}/web")
        assert rc["spec"]["selector"] == {"app": "web"}  # defaulted from the template
        assert rc["metadata"]["labels"] == {"app": "web"}
        uid = rc["metadata"]["uid"]

        async def count_is(n: int) -> bool:
            return len(await controlled(client, uid)) == n

        await until(lambda: count_is(2))
        pods = await controlled(client, uid)
        assert "orphan" in [p["metadata"]["name"] for p in pods]  # adopted (R07)
        ref = next(r for r in pods[0]["metadata"]["ownerReferences"] if r.get("controller"))
        assert (ref["apiVersion"], ref["kind"], ref["name"]) == (
            "v1",
            "ReplicationController",
            "web",
        )
        # kubectl scale rc, and the scale subresource (R08).
        out = await cluster.kubectl("scale", "rc", "web", "--replicas=3")
        assert "replicationcontroller/web scaled" in out
        await until(lambda: count_is(3))
        scale = await client.get(f"{RCS}/web/scale")
        assert scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"

        async def status_caught_up() -> bool:
            return ((await client.get(f"{RCS}/web")).get("status") or {}).get("replicas") == 3

        await until(status_caught_up)
        out = await cluster.kubectl("get", "rc", "-o", "wide")
        header, row = out.strip().split("\n")[:2]
        assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS",
                                  "IMAGES", "SELECTOR"]  # fmt: skip
        assert row.split()[:4] == ["web", "3", "3", "0"] and row.split()[-1] == "app=web"
        # A pod relabelled out of the selector is released and replaced (R09).
        await client.patch(f"{PODS}/orphan", {"metadata": {"labels": {"app": "gone"}}})

        async def released() -> bool:
            p = await client.get(f"{PODS}/orphan")
            return not p["metadata"].get("ownerReferences")

        await until(released)
        await until(lambda: count_is(3))
        assert "orphan" not in [p["metadata"]["name"] for p in await controlled(client, uid)]
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def test_quota_failure_shows_on_the_rc_until_scaled_within_it(
    cluster: Cluster, client: ApiClient
) -> None:
    """R11: a pods quota too small gives the RC a ReplicaFailure condition; it
    clears once the RC is scaled within the quota."""
    quotas = resource_path("", "v1", "resourcequotas", "default")
    informers = InformerFactory(client)
    running = [ReplicationManager(informers), ResourceQuotaController(informers)]
    informers.start()
    tasks = [asyncio.create_task(c.run()) for c in running]
    try:
        await client.create(quotas, {"metadata": {"name": "condition-test"},
                                     "spec": {"hard": {"pods": "2"}}})  # fmt: skip

        async def quota_ready() -> bool:
            return "used" in ((await client.get(f"{quotas}/condition-test")).get("status") or {})

        await until(quota_ready)
        await cluster.kubectl(
            "apply", "-f", "-", stdin=RC_YAML.replace("replicas: 2", "replicas: 3")
        )

        async def condition() -> dict | None:
            status = (await client.get(f"{RCS}/web")).get("status") or {}
            found = [c for c in status.get("conditions") or [] if c["type"] == "ReplicaFailure"]
            return found[0] if found else None

        async def failing() -> bool:
            return await condition() is not None

        await until(failing)
        failure = await condition()
        assert failure is not None and failure["reason"] == "FailedCreate"
        assert (
            "is forbidden: exceeded quota: condition-test, requested: pods=1, used: pods=2, "
            "limited: pods=2" in failure["message"]
        )
        await cluster.kubectl("scale", "rc", "web", "--replicas=2")

        async def cleared() -> bool:
            return await condition() is None

        await until(cleared)
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()
