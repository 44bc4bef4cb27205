"""LoadBalancer Services get the nodes' addresses: decisions, and the controller with kubectl."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.servicelb import ServiceLBController
from kybernetes.controllers.servicelb_decisions import is_ours, node_addresses, wanted_ingress
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

NODES = resource_path("", "v1", "nodes")
INGRESS_COLUMN = "custom-columns=IP:.status.loadBalancer.ingress[*].ip"


def node(name: str, ready: str = "True", **addresses: str) -> dict[str, Any]:
    listed = [{"type": kind, "address": ip} for kind, ip in addresses.items()]
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "addresses": listed}}  # fmt: skip


def test_node_addresses_prefer_external_and_skip_unready() -> None:
    nodes = [node("a", InternalIP="10.0.0.2"),
             node("b", InternalIP="10.0.0.3", ExternalIP="203.0.113.3"),
             node("c", "False", InternalIP="10.0.0.4"), node("d")]  # fmt: skip
    assert node_addresses(nodes) == ["10.0.0.2", "203.0.113.3"]


def test_wanted_ingress_and_ownership() -> None:
    lb = {"spec": {"type": "LoadBalancer"}}
    assert wanted_ingress(lb, nodes=["10.0.0.2"]) == [{"ip": "10.0.0.2", "ipMode": "VIP"}]
    assert wanted_ingress(lb, nodes=["10.0.0.2"], pool=["192.0.2.7"]) == [
        {"ip": "192.0.2.7", "ipMode": "VIP"}
    ]
    was_lb = {"spec": {"type": "ClusterIP"}, "status": {"loadBalancer": {"ingress": [{"ip": "x"}]}}}
    assert is_ours(lb) and is_ours(was_lb) and wanted_ingress(was_lb, nodes=["10.0.0.2"]) == []
    assert not is_ours({"spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}})
    assert not is_ours({"spec": {"type": "ClusterIP"}})


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def eventually_column(cluster: Cluster, want: str) -> str:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        out = await cluster.kubectl("get", "svc", "web", "--no-headers", "-o", INGRESS_COLUMN)
        table = await cluster.kubectl("get", "svc", "web", "--no-headers")
        if out.strip() == want or asyncio.get_running_loop().time() > deadline:
            return table
        await asyncio.sleep(0.1)


async def test_kubectl_shows_the_external_ip_and_it_follows_the_nodes(
    cluster: Cluster, client: ApiClient
) -> None:
    created = await client.create(NODES, node("n1", InternalIP="10.0.0.2"))
    await client.update(f"{NODES}/n1/status", {**created, **node("n1", InternalIP="10.0.0.2")})
    informers = InformerFactory(client)
    controller = ServiceLBController(informers)
    informers.start()
    task = asyncio.create_task(controller.run())
    try:
        await cluster.kubectl("create", "service", "loadbalancer", "web", "--tcp=80:8080")
        table = await eventually_column(cluster, "10.0.0.2")
        assert table.split()[3] == "10.0.0.2", table  # EXTERNAL-IP, not <pending>

        second = await client.create(NODES, node("n2"))
        await client.update(f"{NODES}/n2/status", {**second, **node("n2", InternalIP="10.0.0.3")})
        table = await eventually_column(cluster, "10.0.0.2,10.0.0.3")
        assert table.split()[3] == "10.0.0.2,10.0.0.3", table

        await cluster.kubectl("patch", "svc", "web", "-p", '{"spec":{"type":"ClusterIP"}}')
        table = await eventually_column(cluster, "<none>")
        svc = await client.get(resource_path("", "v1", "services", "default", "web"))
        assert svc["status"]["loadBalancer"] == {}, svc["status"]
    finally:
        await cancel_and_wait(task)
        await informers.stop()
