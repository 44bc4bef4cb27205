"""The scheduler against a real API server: bind, spread, explain, retry, taints, preemption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.scheduler.scheduler import Scheduler, run_scheduler
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
        # NoSchedule, as the node lifecycle controller sets it: every pod tolerates
        # the NoExecute one for 300 s (DefaultTolerationSeconds admission).
        taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}],
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


async def test_taints_and_tolerations(client: ApiClient, scheduler: Scheduler) -> None:
    dedicated = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    await add_node(client, "db-node", taints=dedicated)
    await add_node(client, "cordoned")
    cordon = await client.get(f"{NODES}/cordoned")
    cordon["spec"]["unschedulable"] = True
    await client.update(f"{NODES}/cordoned", cordon)
    await client.create(PODS, pod("plain"))
    await client.create(
        PODS,
        pod(
            "tolerant",
            tolerations=[
                {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
            ],
        ),
    )

    async def tolerant_bound() -> bool:
        return await node_of(client, "tolerant") == "db-node"

    await until(tolerant_bound)
    expected = (
        "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "1 node(s) were unschedulable. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling."
    )

    async def explained() -> bool:
        return (await condition(client, "plain")).get("message") == expected

    await until(explained)
    # Uncordoning the node is a cluster change: the pod goes there at once.
    cordon = await client.get(f"{NODES}/cordoned")
    cordon["spec"]["unschedulable"] = False
    await client.update(f"{NODES}/cordoned", cordon)

    async def plain_bound() -> bool:
        return await node_of(client, "plain") == "cordoned"

    await until(plain_bound, timeout=10)


async def test_pod_anti_affinity_one_per_node(client: ApiClient, scheduler: Scheduler) -> None:
    for i in range(3):
        await add_node(client, f"node-{i}")
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "db"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    for i in range(4):
        await client.create(PODS, pod(f"db-{i}", labels={"app": "db"}, affinity=anti))

    async def three_bound() -> bool:
        return len([n for n in [await node_of(client, f"db-{i}") for i in range(4)] if n]) == 3

    await until(three_bound)
    placed = [await node_of(client, f"db-{i}") for i in range(4)]
    assert sorted(n for n in placed if n) == ["node-0", "node-1", "node-2"]
    waiting = f"db-{placed.index('')}"

    async def explained() -> bool:
        return (
            (await condition(client, waiting))
            .get("message", "")
            .startswith("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
        )

    await until(explained)
    # One of them goes away: the waiting pod takes its node.
    gone = next(f"db-{i}" for i, n in enumerate(placed) if n == "node-1")
    await client.delete(f"{PODS}/{gone}", {"gracePeriodSeconds": 0})

    async def took_its_place() -> bool:
        return await node_of(client, waiting) == "node-1"

    await until(took_its_place, timeout=10)


async def test_priority_classes_and_preemption(
    client: ApiClient, scheduler: Scheduler, cluster: Cluster
) -> None:
    await cluster.kubectl("create", "priorityclass", "high", "--value=1000")
    table = await cluster.kubectl("get", "pc")
    assert table.split("\n")[0].split() == [
        "NAME",
        "VALUE",
        "GLOBAL-DEFAULT",
        "AGE",
        "PREEMPTIONPOLICY",
    ]
    assert "system-node-critical" in table and "2000001000" in table
    changed = await cluster.kubectl("patch", "pc", "high", "-p", '{"value": 5}', check=False)
    assert "may not be changed in an update" in changed
    refused = await cluster.kubectl("run", "nope", "--image=nginx",
                                    "--overrides", '{"spec": {"priorityClassName": "missing"}}',
                                    check=False)  # fmt: skip
    assert 'pods "nope" is forbidden: no PriorityClass with name missing was found' in refused

    await add_node(client, "only", cpu="2")
    for i in range(2):
        await client.create(PODS, pod(f"low-{i}", cpu="1"))

    async def lows_bound() -> bool:
        return all([await node_of(client, f"low-{i}") for i in range(2)])

    await until(lows_bound)
    await client.create(PODS, pod("vip", cpu="1", priorityClassName="high"))
    assert (await client.get(f"{PODS}/vip"))["spec"]["priority"] == 1000

    async def nominated() -> bool:
        found = await client.get(f"{PODS}/vip")
        return found.get("status", {}).get("nominatedNodeName") == "only"

    await until(nominated)

    async def one_victim_marked() -> list[str]:
        victims = []
        for i in range(2):
            found = await client.get(f"{PODS}/low-{i}")
            if found["metadata"].get("deletionTimestamp"):
                victims.append(f"low-{i}")
        return victims

    await until(one_victim_marked)
    victims = await one_victim_marked()
    assert len(victims) == 1  # the minimal set: one core frees enough
    victim = await client.get(f"{PODS}/{victims[0]}")
    target = [c for c in victim["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target and target[0]["reason"] == "PreemptionByScheduler"
    # No kubelet here: finish the victim's graceful deletion as its kubelet would.
    await client.delete(f"{PODS}/{victims[0]}", {"gracePeriodSeconds": 0})

    async def vip_bound() -> bool:
        return await node_of(client, "vip") == "only"

    await until(vip_bound, timeout=10)
    await scheduler.events.flush()
    preempted = [e for e in await events_of(client, victims[0]) if e["reason"] == "Preempted"]
    uid = (await client.get(f"{PODS}/vip"))["metadata"]["uid"]
    assert preempted and preempted[0]["message"] == f"Preempted by pod {uid} on node only"


async def test_run_scheduler_leads_through_the_kube_scheduler_lease(client: ApiClient) -> None:
    await add_node(client, "node-0")
    informers = InformerFactory(client)
    task = asyncio.create_task(run_scheduler(informers, identity="sched-a"))
    try:
        await client.create(PODS, pod("led"))

        async def bound() -> bool:
            return await node_of(client, "led") == "node-0"

        await until(bound)
        lease = await client.get(
            resource_path("coordination.k8s.io", "v1", "leases", "kube-system", "kube-scheduler")
        )
        assert lease["spec"]["holderIdentity"] == "sched-a"
    finally:
        await cancel_and_wait(task)


async def test_a_restarted_scheduler_never_overcommits(client: ApiClient) -> None:
    for name in ("a", "b"):
        await add_node(client, name, cpu="1")

    async def start() -> tuple[InformerFactory, asyncio.Task[None]]:
        informers = InformerFactory(client)
        sched = Scheduler(informers)
        informers.start()
        return informers, asyncio.create_task(sched.run())

    informers, task = await start()
    for i in range(3):
        await client.create(PODS, pod(f"w-{i}", cpu="400m"))

    async def bound_count(n: int) -> bool:
        pods = (await client.get(PODS))["items"]
        return sum(1 for p in pods if p["spec"].get("nodeName")) == n

    await until(lambda: bound_count(3))
    await cancel_and_wait(task)
    await informers.stop()
    # A new scheduler (a restart, or a new leader) starts from the API's state only.
    for i in range(3, 6):
        await client.create(PODS, pod(f"w-{i}", cpu="400m"))
    informers, task = await start()
    try:
        await until(lambda: bound_count(4))
        await asyncio.sleep(0.3)  # a negative check: nothing more may be bound
        pods = (await client.get(PODS))["items"]
        per_node = {"a": 0, "b": 0}
        for p in pods:
            if p["spec"].get("nodeName"):
                per_node[p["spec"]["nodeName"]] += 400
        assert per_node == {"a": 800, "b": 800}
    finally:
        await cancel_and_wait(task)
        await informers.stop()
