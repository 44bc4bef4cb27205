"""Simulated nodes against a real API server, with the node IPAM controller and kubectl."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.nodeipam import NodeIpamController
from kybernetes.simnode.objects import EXIT_CODE_ANNOTATION, NodeConfig
from kybernetes.simnode.runner import SimulatedNodes
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

PODS = resource_path("", "v1", "pods", "default")
NODES = resource_path("", "v1", "nodes")
LEASES = resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def pod(name: str, node: str, **annotations: str) -> dict:
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx:1.27"}]},
    }


async def test_nodes_register_and_run_pods(cluster: Cluster, client: ApiClient) -> None:
    informers = InformerFactory(client)
    ipam = NodeIpamController(informers)
    informers.start()
    zone = NodeConfig(labels={"topology.kubernetes.io/zone": "a"})
    sim = SimulatedNodes(client, count=3, prefix="sim-", heartbeat_interval=0.5, config=zone)
    tasks = [asyncio.create_task(ipam.run()), asyncio.create_task(sim.run())]
    try:
        await until(lambda: asyncio.sleep(0, sim.ready.is_set()))
        nodes = {n["metadata"]["name"]: n for n in (await client.get(NODES))["items"]}
        assert set(nodes) == {"sim-0", "sim-1", "sim-2"}
        node = nodes["sim-1"]
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == "sim-1"
        assert labels["kybernetes.io/simulated"] == "true"
        assert labels["topology.kubernetes.io/zone"] == "a"
        assert node["status"]["allocatable"]["pods"] == "110"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("simulated://")

        async def cidrs_assigned() -> bool:
            items = (await client.get(NODES))["items"]
            return all(n["spec"].get("podCIDR") for n in items)

        await until(cidrs_assigned)
        items = (await client.get(NODES))["items"]
        cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in items}
        assert len(set(cidrs.values())) == 3
        assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network("10.244.0.0/16"))
                   for c in cidrs.values())  # fmt: skip
        lease = await client.get(f"{LEASES}/sim-0")
        first_renewal = lease["spec"]["renewTime"]

        await client.create(PODS, pod("web-1", "sim-1"))
        await client.create(PODS, pod("job-1", "sim-2", **{EXIT_CODE_ANNOTATION: "0"}))
        await client.create(PODS, pod("job-2", "sim-2", **{EXIT_CODE_ANNOTATION: "3"}))

        async def phase(name: str, wanted: str) -> bool:
            return (await client.get(f"{PODS}/{name}"))["status"].get("phase") == wanted

        await until(lambda: phase("web-1", "Running"))
        web = await client.get(f"{PODS}/web-1")
        status = web["status"]
        assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(cidrs["sim-1"])
        address = [a for a in nodes["sim-1"]["status"]["addresses"] if a["type"] == "InternalIP"]
        assert status["hostIP"] == address[0]["address"]
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions["Ready"] == "True" and conditions["PodScheduled"] == "True"
        container = status["containerStatuses"][0]
        assert container["ready"] and container["containerID"].startswith("simulated://")
        assert "running" in container["state"]
        await until(lambda: phase("job-1", "Succeeded"))
        await until(lambda: phase("job-2", "Failed"))
        failed = (await client.get(f"{PODS}/job-2"))["status"]["containerStatuses"][0]
        assert failed["state"]["terminated"]["exitCode"] == 3

        wide = await cluster.kubectl("get", "pods", "-o", "wide")
        row = next(line for line in wide.splitlines() if line.startswith("web-1"))
        assert "Running" in row and "1/1" in row and status["podIP"] in row and "sim-1" in row
        nodes_wide = await cluster.kubectl("get", "nodes", "-o", "wide")
        row = next(line for line in nodes_wide.splitlines() if line.startswith("sim-1"))
        assert " Ready " in row and address[0]["address"] in row and "simulated://" in row

        # The Lease is renewed.
        async def renewed() -> bool:
            return (await client.get(f"{LEASES}/sim-0"))["spec"]["renewTime"] != first_renewal

        await until(renewed)
        # A deleted pod is finished by its node (the API server only marks it).
        await client.delete(f"{PODS}/web-1")

        async def gone() -> bool:
            try:
                await client.get(f"{PODS}/web-1")
            except ApiStatusError as err:
                return err.code == 404
            return False

        await until(gone)
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


async def test_ready_after_a_delay(client: ApiClient) -> None:
    sim = SimulatedNodes(client, count=1, prefix="slow-", ready_delay=0.5, podcidr_wait=0.0)
    task = asyncio.create_task(sim.run())
    try:
        await until(lambda: asyncio.sleep(0, sim.ready.is_set()))
        await client.create(PODS, pod("late", "slow-0"))

        async def ready_is(flag: str) -> bool:
            status = (await client.get(f"{PODS}/late"))["status"]
            return any(c["type"] == "Ready" and c["status"] == flag
                       for c in status.get("conditions") or [])  # fmt: skip

        await until(lambda: ready_is("False"))  # Running, not yet Ready
        status = (await client.get(f"{PODS}/late"))["status"]
        assert status["phase"] == "Running"
        # No IPAM here: the fallback range.
        assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network("100.64.0.0/10")
        await until(lambda: ready_is("True"))
    finally:
        await cancel_and_wait(task)
