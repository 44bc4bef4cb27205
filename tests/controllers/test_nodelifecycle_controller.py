"""The node lifecycle controller's sync, one call at a time, on a clock the test moves."""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator

import pytest

from kybernetes.api.times import format_time
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.nodelifecycle import NodeLifecycleController
from tests.apiserver.conftest import Cluster

NODES = resource_path("", "v1", "nodes")
PODS = resource_path("", "v1", "pods", "default")
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


def stamp(seconds: float) -> str:
    return format_time(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


def node(name: str, ready: str, taints: list[dict]) -> dict:
    heartbeat = stamp(time.time() - 3600)
    conditions = [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}]
    return {"metadata": {"name": name}, "spec": {"taints": taints},
            "status": {"conditions": conditions}}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_restarted_controller_keeps_taints_and_toleration_clocks(
    client: ApiClient,
) -> None:
    added = stamp(time.time() - 100)
    lost = [{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": added}]  # fmt: skip
    await client.create(NODES, node("lost", "Unknown", lost))
    await client.create(NODES, node("fine", "True", []))
    quick = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
              "tolerationSeconds": 50}]  # fmt: skip
    for name, tolerations in (("p", None), ("q", quick)):
        spec: dict = {"nodeName": "lost", "containers": [{"name": "c", "image": "busybox"}]}
        if tolerations:
            spec["tolerations"] = tolerations
        await client.create(PODS, {"metadata": {"name": name}, "spec": spec})

    informers = InformerFactory(client)
    clock = Clock()
    controller = NodeLifecycleController(informers, clock=clock)
    informers.start()
    try:
        await InformerFactory.wait_synced(controller.nodes, controller.leases, controller.pods)
        controller.seed_zones()
        # The lost node is synced first: one healthy node elsewhere means this is
        # not "every node down", so its NoExecute taint and its timeAdded stay.
        await controller.sync("lost")
        taints = (await client.get(f"{NODES}/lost"))["spec"]["taints"]
        assert taints == lost
        # q tolerates 50 s counted from its creation (after the taint): not yet.
        assert not (await client.get(f"{PODS}/q"))["metadata"].get("deletionTimestamp")
        clock.now += 60
        await controller.sync("lost")
        q = await client.get(f"{PODS}/q")
        assert q["metadata"].get("deletionTimestamp")
        assert any(c["type"] == "DisruptionTarget" for c in q["status"]["conditions"])
        assert not (await client.get(f"{PODS}/p"))["metadata"].get("deletionTimestamp")  # 300 s
        clock.now += 300
        await controller.sync("lost")
        assert (await client.get(f"{PODS}/p"))["metadata"].get("deletionTimestamp")
        # The healthy node: nothing to do, before or after its grace period
        # (its heartbeat is an hour old, but the controller only just saw it).
        await controller.sync("fine")
        assert ready_of(await client.get(f"{NODES}/fine")) == "True"
        clock.now += 51
        await controller.sync("fine")
        fine = await client.get(f"{NODES}/fine")
        assert ready_of(fine) == "Unknown"
        assert {(t["key"], t["effect"]) for t in fine["spec"]["taints"]} == {
            (UNREACHABLE, "NoSchedule")}  # every node down now: no NoExecute  # fmt: skip
    finally:
        await informers.stop()


def ready_of(node: dict) -> str:
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")
