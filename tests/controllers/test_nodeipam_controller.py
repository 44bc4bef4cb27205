"""The node IPAM controller against a real API server: assign, restart, release, exhaust."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.nodeipam import NodeIpamController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

NODES = resource_path("", "v1", "nodes")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def cidr(client: ApiClient, name: str) -> str:
    return str((await client.get(f"{NODES}/{name}"))["spec"].get("podCIDR") or "")


class Running:
    """One NodeIpamController over its own informers, stopped on exit."""

    def __init__(self, client: ApiClient) -> None:
        self.informers = InformerFactory(client)
        self.controller = NodeIpamController(self.informers, cluster_cidr="10.250.0.0/22")

    async def __aenter__(self) -> NodeIpamController:
        self.informers.start()
        self.task = asyncio.create_task(self.controller.run())
        return self.controller

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self.task)
        await self.informers.stop()


async def test_assigns_keeps_across_restarts_releases_and_exhausts(
    cluster: Cluster, client: ApiClient
) -> None:
    async with Running(client):
        for name in ("a", "b"):
            await client.create(NODES, {"metadata": {"name": name}})
        await until(lambda: cidr(client, "b"))
        node = await client.get(f"{NODES}/a")
        assert node["spec"]["podCIDR"] == "10.250.0.0/24"
        assert node["spec"]["podCIDRs"] == ["10.250.0.0/24"]
        assert await cidr(client, "b") == "10.250.1.0/24"
    # The API server keeps a podCIDR once set.
    out = await cluster.kubectl("patch", "node", "a", "-p", '{"spec":{"podCIDR":"10.9.0.0/24"}}',
                                check=False)  # fmt: skip
    assert 'node updates may not change podCIDR except from "" to valid' in out
    await client.delete(f"{NODES}/a")
    # A new controller rebuilds from the nodes: b's CIDR is never handed out again.
    async with Running(client) as controller:
        for name in ("c", "d", "e"):
            await client.create(NODES, {"metadata": {"name": name}})
        await until(lambda: cidr(client, "e"))
        got = {n: await cidr(client, n) for n in ("b", "c", "d", "e")}
        assert got["b"] == "10.250.1.0/24"
        assert sorted(got.values()) == [f"10.250.{i}.0/24" for i in range(4)]  # all distinct
        # Exhausted: an Event on the node, and it waits.
        await client.create(NODES, {"metadata": {"name": "f"}})

        async def told() -> bool:
            await controller.events.flush()
            events = (await client.get(resource_path("", "v1", "events", "default")))["items"]
            return any(e["reason"] == "CIDRNotAvailable"
                       and e["message"] == "Node f status is now: CIDRNotAvailable"
                       and e["involvedObject"]["name"] == "f" for e in events)  # fmt: skip

        await until(told)
        assert await cidr(client, "f") == ""
        # A deleted node's CIDR goes to the waiting one.
        await client.delete(f"{NODES}/c")
        await until(lambda: cidr(client, "f"), timeout=20)
        assert await cidr(client, "f") == got["c"]
    with pytest.raises(ApiStatusError):
        await client.get(f"{NODES}/c")
