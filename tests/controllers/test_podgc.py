"""The pod garbage collector: orphaned, unscheduled-terminating and surplus finished pods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.podgc import PodGCController, pods_to_collect
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster


def pod(name: str, node: str = "", phase: str = "Running", created: str = "2026-11-30T10:00:00Z",
        deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name, "uid": name, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T10:05:00Z"
    return {"metadata": meta, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase}}  # fmt: skip


def names(chosen: list[tuple[dict[str, Any], str]]) -> list[str]:
    return [p["metadata"]["name"] for p, _ in chosen]


def test_orphans_wait_out_the_quarantine_and_a_returning_node_saves_them() -> None:
    gone: dict[str, float] = {}
    pods = [pod("on-gone", "n2"), pod("on-live", "n1")]
    assert pods_to_collect(pods, {"n1"}, gone_since=gone, now=100, quarantine=40) == []
    assert names(pods_to_collect(pods, {"n1"}, gone_since=gone, now=141, quarantine=40)) == [
        "on-gone"]  # fmt: skip
    gone.clear()
    pods_to_collect(pods, {"n1"}, gone_since=gone, now=200, quarantine=40)
    pods_to_collect(pods, {"n1", "n2"}, gone_since=gone, now=210, quarantine=40)
    assert gone == {}  # n2 came back: its clock is forgotten


def test_unscheduled_terminating_pods_and_the_terminated_threshold() -> None:
    pods = [pod("stuck", deleting=True), pod("pending"),
            pod("old", "n1", "Succeeded", "2026-11-30T09:00:00Z"),
            pod("new", "n1", "Failed", "2026-11-30T11:00:00Z")]  # fmt: skip
    chosen = pods_to_collect(pods, {"n1"}, gone_since={}, now=0, terminated_threshold=1)
    assert names(chosen) == ["stuck", "old"]
    assert "too many terminated pods" in chosen[1][1]


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def test_a_deleted_nodes_pods_are_collected(client: ApiClient) -> None:
    nodes = resource_path("", "v1", "nodes")
    pods = resource_path("", "v1", "pods", "default")
    await client.create(nodes, {"metadata": {"name": "doomed"}})
    await client.create(pods, {"metadata": {"name": "stranded"},
                               "spec": {"nodeName": "doomed",
                                        "containers": [{"name": "c", "image": "x"}]}})  # fmt: skip
    informers = InformerFactory(client)
    controller = PodGCController(informers, period=0.1, quarantine=0.2)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        await asyncio.sleep(0.5)
        assert (await client.get(f"{pods}/stranded"))["metadata"]["name"] == "stranded"
        await client.delete(resource_path("", "v1", "nodes", name="doomed"))
        async with asyncio.timeout(10):
            while True:
                try:
                    await client.get(f"{pods}/stranded")
                except ApiStatusError as err:
                    assert err.code == 404
                    break
                await asyncio.sleep(0.05)
    finally:
        await cancel_and_wait(task)
        await informers.stop()
