"""The ReplicaSet controller against a real API server: scale up, heal, scale down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.replicaset import ReplicaSetController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

RS = resource_path("apps", "v1", "replicasets", "default")
PODS = resource_path("", "v1", "pods", "default")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def controller(client: ApiClient) -> AsyncIterator[ReplicaSetController]:
    informers = InformerFactory(client)
    running = ReplicaSetController(informers)
    informers.start()
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def owned_pods(client: ApiClient, uid: str) -> list[dict]:
    pods = (await client.get(PODS))["items"]
    return [
        p for p in pods
        if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        and not p["metadata"].get("deletionTimestamp")
    ]  # fmt: skip


async def until(check: Callable[[], object], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[misc]
            await asyncio.sleep(0.05)


async def test_keeps_the_replica_count(client: ApiClient, controller: ReplicaSetController) -> None:
    rs = await client.create(RS, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    })  # fmt: skip
    uid = rs["metadata"]["uid"]

    async def count_is(n: int) -> bool:
        return len(await owned_pods(client, uid)) == n

    await until(lambda: count_is(3))
    # Heal: a deleted pod is replaced.
    victim = (await owned_pods(client, uid))[0]["metadata"]["name"]
    await client.delete(f"{PODS}/{victim}")
    await until(lambda: count_is(3))
    assert victim not in [p["metadata"]["name"] for p in await owned_pods(client, uid)]
    # Scale down, and never more than asked while scaling up again.
    await client.patch(f"{RS}/web/scale", {"spec": {"replicas": 1}})
    await until(lambda: count_is(1))
    await client.patch(f"{RS}/web/scale", {"spec": {"replicas": 5}})
    await until(lambda: count_is(5))
    await asyncio.sleep(0.5)  # a grace period to catch over-creation (a negative check)
    assert len(await owned_pods(client, uid)) == 5

    async def status_caught_up() -> bool:
        status = (await client.get(f"{RS}/web")).get("status") or {}
        return status.get("replicas") == 5

    await until(status_caught_up)
    # The story `kubectl describe rs` tells.
    await controller.events.flush()
    events = (await client.get(resource_path("", "v1", "events", "default"),
                               fieldSelector=f"involvedObject.uid={uid}"))["items"]  # fmt: skip
    reasons = {e["reason"] for e in events}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons
    created = [e for e in events if e["reason"] == "SuccessfulCreate"]
    assert sum(e["count"] for e in created) >= 7  # 3 + the healed one + 4 scaling up again
    assert all(e["message"].startswith("Created pod: web-") for e in created)


async def test_adopts_orphans_and_releases_pods_that_stop_matching(
    client: ApiClient, controller: ReplicaSetController
) -> None:
    orphan = await client.create(PODS, {
        "metadata": {"name": "orphan", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "postgres"}]},
    })  # fmt: skip
    rs = await client.create(RS, {
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres"}]}}},
    })  # fmt: skip
    uid = rs["metadata"]["uid"]

    async def adopted() -> bool:
        pods = await owned_pods(client, uid)
        return len(pods) == 2 and "orphan" in [p["metadata"]["name"] for p in pods]

    await until(adopted)  # the orphan counts: only one pod was created
    await asyncio.sleep(0.3)  # a negative check: no third pod appears
    assert len((await client.get(PODS, labelSelector="app=db"))["items"]) == 2
    ref = next(r for r in (await client.get(f"{PODS}/orphan"))["metadata"]["ownerReferences"])
    assert (ref["uid"], ref["controller"]) == (uid, True)
    assert orphan["metadata"]["uid"] == (await client.get(f"{PODS}/orphan"))["metadata"]["uid"]

    # Relabel it out of the selector: released, and replaced.
    await client.patch(f"{PODS}/orphan", {"metadata": {"labels": {"app": "debug"}}})

    async def released() -> bool:
        pod = await client.get(f"{PODS}/orphan")
        pods = await owned_pods(client, uid)
        return not pod["metadata"].get("ownerReferences") and len(pods) == 2

    await until(released)


async def test_pods_being_deleted_hold_neither_the_status_nor_the_next_scale_up(
    client: ApiClient, controller: ReplicaSetController
) -> None:
    """Pods on a node stay while their kubelet stops them (here: a node that never
    answers, so for their whole grace period). As kube, the ReplicaSet counts them
    gone at once: its status drops (`kubectl rollout status` waits on it) and a scale
    up right after replaces them without waiting for them to go."""
    rs = await client.create(RS, {
        "metadata": {"name": "bound"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "bound"}},
                 "template": {"metadata": {"labels": {"app": "bound"}},
                              "spec": {"nodeName": "silent-node",
                                       "containers": [{"name": "c", "image": "nginx"}]}}},
    })  # fmt: skip
    uid = rs["metadata"]["uid"]

    async def status_replicas(n: int) -> bool:
        status = (await client.get(f"{RS}/bound")).get("status") or {}
        return bool(status.get("replicas") == n)

    await until(lambda: status_replicas(3))
    await client.patch(f"{RS}/bound/scale", {"spec": {"replicas": 1}})
    await until(lambda: status_replicas(1))
    going = [p for p in (await client.get(PODS))["items"]
             if p["metadata"].get("deletionTimestamp")]  # fmt: skip
    assert len(going) == 2  # still there, in their 30 s grace period
    await client.patch(f"{RS}/bound/scale", {"spec": {"replicas": 3}})
    await until(lambda: status_replicas(3))
    assert len(await owned_pods(client, uid)) == 3
