"""The scheduler against a real API server: bind, spread, explain, retry, taints, preemption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.scheduler.scheduler import Scheduler
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

PODS = resource_path("", "v1", "pods", "default")
NODES = resource_path("", "v1", "nodes")
Obj = dict[str, Any]


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def scheduler(client: ApiClient) -> AsyncIterator[Scheduler]:
    informers = InformerFactory(client)
    sched = Scheduler(informers)
    informers.start()
    task = asyncio.create_task(sched.run())
    try:
        yield sched
    finally:
        await cancel_and_wait(task)
        await informers.stop()


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def add_node(
    client: ApiClient,
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
) -> None:
    node = await client.create(
        NODES,
        {
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": {"taints": taints or []},
        },
    )
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    node["status"] = {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    await client.update(f"{NODES}/{name}/status", node)


def pod(
    name: str,
    *,
    cpu: str = "100m",
    memory: str = "64Mi",
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "nginx",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ],
            **spec,
        },
    }


async def node_of(client: ApiClient, name: str) -> str:
    return str((await client.get(f"{PODS}/{name}"))["spec"].get("nodeName") or "")


async def condition(client: ApiClient, name: str) -> Obj:
    found = await client.get(f"{PODS}/{name}")
    for cond in found.get("status", {}).get("conditions") or []:
        if cond["type"] == "PodScheduled":
            return dict(cond)
    return {}


async def events_of(client: ApiClient, name: str) -> list[Obj]:
    items = (
        await client.get(
            resource_path("", "v1", "events", "default"),
            fieldSelector=f"involvedObject.name={name}",
        )
    )["items"]
    return list(items)


async def test_binds_and_spreads(client: ApiClient, scheduler: Scheduler, cluster: Cluster) -> None:
    for i in range(3):
        await add_node(client, f"node-{i}")
    for i in range(6):
        await client.create(PODS, pod(f"web-{i}"))

    async def all_bound() -> bool:
        return all([await node_of(client, f"web-{i}") for i in range(6)])

    await until(all_bound)
    placed = [await node_of(client, f"web-{i}") for i in range(6)]
    # Least-allocated scoring spreads equal pods evenly over equal nodes.
    assert sorted(placed.count(f"node-{i}") for i in range(3)) == [2, 2, 2]
    assert (await condition(client, "web-0"))["status"] == "True"
    await scheduler.events.flush()
    scheduled = [e for e in await events_of(client, "web-0") if e["reason"] == "Scheduled"]
    assert scheduled[0]["message"] == f"Successfully assigned default/web-0 to {placed[0]}"
    assert scheduled[0]["source"]["component"] == "default-scheduler"


async def test_too_big_pod_waits_then_lands_on_a_new_node(
    client: ApiClient, scheduler: Scheduler, cluster: Cluster
) -> None:
    await add_node(client, "small-1", cpu="1")
    await add_node(
        client,
        "tainted",
        cpu="8",
        taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}],
    )
    await add_node(client, "small-2", cpu="1")
    await client.create(PODS, pod("big", cpu="2"))
    expected = (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes "
        "are available: 1 Preemption is not helpful for scheduling, 2 No preemption "
        "victims found for incoming pod."
    )

    async def explained() -> bool:
        return (await condition(client, "big")).get("message") == expected

    await until(explained)
    cond = await condition(client, "big")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    await scheduler.events.flush()
    failed = [e for e in await events_of(client, "big") if e["reason"] == "FailedScheduling"]
    assert failed and failed[0]["type"] == "Warning" and failed[0]["message"] == expected
    described = await cluster.kubectl("describe", "pod", "big")
    assert "FailedScheduling" in described and "2 Insufficient cpu" in described
    assert "default-scheduler" in described
    # A node big enough arrives: the pod is retried at once (not after the 5-minute flush).
    await add_node(client, "big-node", cpu="4")

    async def bound() -> bool:
        return await node_of(client, "big") == "big-node"

    await until(bound, timeout=10)
