"""A simulated node stops heartbeating: NotReady, tainted, its pods evicted; then it returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.nodelifecycle import NodeLifecycleController
from kybernetes.controllers.nodelifecycle_decisions import EvictionRates
from kybernetes.simnode.runner import SimulatedNodes
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

PODS = resource_path("", "v1", "pods", "default")
NODES = resource_path("", "v1", "nodes")
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def pod(name: str, node: str, tolerations: list[dict] | None = None) -> dict:
    spec: dict = {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name}, "spec": spec}


def ready(obj: dict) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), "")


async def test_lost_node_is_tainted_and_its_pods_evicted(
    cluster: Cluster, client: ApiClient
) -> None:
    informers = InformerFactory(client)
    controller = NodeLifecycleController(informers, grace_period=2.0,
                                         rates=EvictionRates(primary=100.0))  # fmt: skip
    informers.start()
    sim = SimulatedNodes(client, count=2, prefix="n-", heartbeat_interval=0.3, podcidr_wait=0)
    tasks = [asyncio.create_task(controller.run()), asyncio.create_task(sim.run())]
    try:
        await until(lambda: asyncio.sleep(0, sim.ready.is_set()))
        short = [{"key": k, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}
                 for k in (UNREACHABLE, "node.kubernetes.io/not-ready")]  # fmt: skip
        await client.create(PODS, pod("quick", "n-1", short))
        stay = await client.create(PODS, pod("stay", "n-1"))
        # DefaultTolerationSeconds: five minutes for both taints.
        assert {(t["key"], t["tolerationSeconds"]) for t in stay["spec"]["tolerations"]} == {
            (UNREACHABLE, 300), ("node.kubernetes.io/not-ready", 300)}  # fmt: skip

        async def pods_ready() -> bool:
            items = (await client.get(PODS))["items"]
            return len(items) == 2 and all(ready(p) == "True" for p in items)

        await until(pods_ready)
        await asyncio.sleep(2.5)  # past the grace period: healthy nodes stay Ready
        assert ready(await client.get(f"{NODES}/n-1")) == "True"

        sim.stop_heartbeat("n-1")

        async def node_unknown() -> bool:
            return ready(await client.get(f"{NODES}/n-1")) == "Unknown"

        await until(node_unknown)
        node = await client.get(f"{NODES}/n-1")
        for found in node["status"]["conditions"]:
            assert found["status"] == "Unknown"
            assert found["reason"] == "NodeStatusUnknown"
            assert found["message"] == "Kubelet stopped posting node status."
        table = await cluster.kubectl("get", "nodes")
        assert any(line.split()[:2] == ["n-1", "NotReady"] for line in table.splitlines())
        assert any(line.split()[:2] == ["n-0", "Ready"] for line in table.splitlines())

        async def tainted() -> bool:
            taints = (await client.get(f"{NODES}/n-1"))["spec"].get("taints") or []
            return {(t["key"], t["effect"]) for t in taints} == {
                (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}  # fmt: skip

        await until(tainted)

        async def terminating(name: str) -> bool:
            return bool((await client.get(f"{PODS}/{name}"))["metadata"].get("deletionTimestamp"))

        await until(lambda: terminating("quick"))
        evicted = (await client.get(f"{PODS}/quick"))["status"]["conditions"]
        target = next(c for c in evicted if c["type"] == "DisruptionTarget")
        message = "Taint manager: deleting due to NoExecute taint"
        assert (target["status"], target["reason"], target["message"]) == (
            "True", "DeletionByTaintManager", message)  # fmt: skip
        described = await cluster.kubectl("describe", "node", "n-1")
        assert f"{UNREACHABLE}:NoExecute" in described and "NodeStatusUnknown" in described
        listed = await cluster.kubectl("get", "pods")
        assert any(line.split()[:3] == ["quick", "1/1", "Terminating"]
                   for line in listed.splitlines()), listed  # fmt: skip
        survivor = await client.get(f"{PODS}/stay")
        assert not survivor["metadata"].get("deletionTimestamp")  # 300 s to go
        assert ready(survivor) == "False"  # MarkPodsNotReady
        await controller.events.flush()
        events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
        said = {(e["reason"], e["message"]) for e in events}
        assert ("TaintManagerEviction", "Marking for deletion Pod default/quick") in said
        assert ("NodeNotReady", "Node n-1 status is now: NodeNotReady") in said
        assert ("NodeNotReady", "Node is not ready") in said
        assert ("TaintManagerEviction", "Marking for deletion Pod default/stay") not in said

        # The node comes back: taints go, Ready again, and it finishes the evicted pod.
        sim.resume("n-1")

        async def recovered() -> bool:
            node = await client.get(f"{NODES}/n-1")
            return ready(node) == "True" and not node["spec"].get("taints")

        await until(recovered)

        async def quick_gone() -> bool:
            try:
                await client.get(f"{PODS}/quick")
            except ApiStatusError as err:
                return err.code == 404
            return False

        await until(quick_gone)

        async def stay_ready() -> bool:
            return ready(await client.get(f"{PODS}/stay")) == "True"

        await until(stay_ready)

        # "stay" was waiting out its 300 s: the taint manager says it no longer is.
        async def cancelled() -> bool:
            await controller.events.flush()
            events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
            return any(e["reason"] == "TaintManagerEviction"
                       and e["message"] == "Cancelling deletion of Pod default/stay"
                       for e in events)  # fmt: skip

        await until(cancelled)
        events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
        assert not any(e["message"] == "Cancelling deletion of Pod default/quick" for e in events)
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


def no_execute(node: dict) -> bool:
    return any(t["effect"] == "NoExecute" for t in node["spec"].get("taints") or [])


async def test_evictions_are_rate_limited_and_stop_when_every_node_is_down(
    client: ApiClient,
) -> None:
    informers = InformerFactory(client)
    # One node may get a NoExecute taint now, the next only in 1,000 s.
    controller = NodeLifecycleController(informers, grace_period=1.0,
                                         rates=EvictionRates(primary=0.001))  # fmt: skip
    informers.start()
    sim = SimulatedNodes(client, count=3, prefix="z-", heartbeat_interval=0.2, podcidr_wait=0)
    tasks = [asyncio.create_task(controller.run()), asyncio.create_task(sim.run())]
    try:
        await until(lambda: asyncio.sleep(0, sim.ready.is_set()))
        short = [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}]
        await client.create(PODS, pod("last", "z-0", short))

        async def running() -> bool:
            return ready(await client.get(f"{PODS}/last")) == "True"

        await until(running)
        sim.stop_heartbeat("z-1")
        sim.stop_heartbeat("z-2")

        async def unknown(*names: str) -> bool:
            nodes = [await client.get(f"{NODES}/{n}") for n in names]
            return all(ready(n) == "Unknown" and n["spec"].get("taints") for n in nodes)

        await until(lambda: unknown("z-1", "z-2"))
        lost = [await client.get(f"{NODES}/{n}") for n in ("z-1", "z-2")]
        assert sorted(no_execute(n) for n in lost) == [False, True]  # one token, one node
        # Every node down: the controller blames itself and evicts nothing.
        sim.stop_heartbeat("z-0")
        await until(lambda: unknown("z-0", "z-1", "z-2"))

        async def no_execute_gone() -> bool:
            nodes = [await client.get(f"{NODES}/{n}") for n in ("z-0", "z-1", "z-2")]
            return not any(no_execute(n) for n in nodes)

        await until(no_execute_gone)
        await asyncio.sleep(0.5)  # a negative check: the pod tolerating 0 s stays
        assert not (await client.get(f"{PODS}/last"))["metadata"].get("deletionTimestamp")
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()
