"""The proxier against a real API server, with the kernel replaced by a recorder.

No root needed: `Host` is swapped for an object that keeps the scripts it
is given, so the tests see exactly what would be loaded and when.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.proxy.proxier import Proxier
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

SERVICES = resource_path("", "v1", "services", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")


class RecordingHost:
    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.flows: list[list[str]] = []
        self.fail_next = False

    async def nft(self, script: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("nft: simulated failure")
        self.scripts.append(script)

    async def bridge_netfilter(self) -> None:
        pass

    async def ensure_service_route(self, *, service_cidr: str, bridge: str) -> None:
        pass

    async def delete_flows(self, flows: Iterable[Sequence[str]]) -> None:
        self.flows += [list(f) for f in flows]


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def put_service(client: ApiClient, name: str, ip: str, protocol: str = "TCP") -> None:
    await client.create(SERVICES, {
        "metadata": {"name": name},
        "spec": {"clusterIP": ip, "ports": [{"name": "p", "port": 80, "protocol": protocol}]},
    })  # fmt: skip


async def put_slice(client: ApiClient, service: str, ips: list[str], protocol: str = "TCP") -> None:
    body: dict[str, Any] = {
        "metadata": {"name": service, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": [{"name": "p", "port": 8080, "protocol": protocol}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }  # fmt: skip
    try:
        current = await client.get(f"{SLICES}/{service}")
    except Exception:  # noqa: BLE001 - not there yet
        await client.create(SLICES, body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await client.update(f"{SLICES}/{service}", body)


async def next_script(host: RecordingHost, after: int) -> str:
    deadline = asyncio.get_running_loop().time() + 10
    while len(host.scripts) <= after:
        assert asyncio.get_running_loop().time() < deadline, "no script was loaded"
        await asyncio.sleep(0.02)
    return host.scripts[after]


async def script_with(host: RecordingHost, start: int, text: str) -> str:
    """The first script loaded from index `start` on that contains `text`."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        for script in host.scripts[start:]:
            if text in script:
                return script
        assert asyncio.get_running_loop().time() < deadline, f"no script with {text!r}"
        await asyncio.sleep(0.02)


async def test_a_change_to_one_service_touches_only_its_rules(client: ApiClient) -> None:
    await put_service(client, "one", "10.96.1.1")
    await put_service(client, "two", "10.96.1.2", protocol="UDP")
    await put_slice(client, "one", ["10.244.0.3"])
    await put_slice(client, "two", ["10.244.0.4", "10.244.0.5"], protocol="UDP")
    informers = InformerFactory(client)
    proxier = Proxier(informers, node_name="n1", node_ips=["192.0.2.1"])
    host = proxier.host = RecordingHost()  # type: ignore[assignment]
    informers.start()
    task = asyncio.create_task(proxier.run())
    try:
        first = await next_script(host, 0)
        assert first.startswith("add table ip kybernetes\ndelete table ip kybernetes\n")
        assert "svc-default/one/tcp/p" in first and "svc-default/two/udp/p" in first

        await put_slice(client, "two", ["10.244.0.4"], protocol="UDP")
        second = await next_script(host, 1)
        assert "default/two/" in second and "default/one/" not in second
        assert "delete element ip kybernetes hairpin { 10.244.0.5 . 10.244.0.5 }" in second
        assert "delete table" not in second
        # the UDP endpoint that left has its conntrack entries flushed
        assert host.flows == [["-p", "udp", "--orig-dst", "10.96.1.2", "--orig-port-dst", "80",
                               "--dst-nat", "10.244.0.5"]]  # fmt: skip

        # An endpoint address two services share stays in the hairpin set while one uses it.
        mark = len(host.scripts)
        await put_service(client, "three", "10.96.1.3")
        await put_slice(client, "three", ["10.244.0.3"])
        await script_with(host, mark, "add chain ip kybernetes svc-default/three/tcp/p")
        mark2 = len(host.scripts)
        await put_slice(client, "three", [])
        await script_with(host, mark2, "delete chain ip kybernetes svc-default/three/tcp/p")
        assert not any("hairpin" in script for script in host.scripts[mark:])
        # What was loaded step by step is what a full computation wants.
        assert proxier.applied() == proxier.wanted()

        # A failed load leaves the state unknown: the next load replaces the table.
        mark = len(host.scripts)
        host.fail_next = True
        await client.delete(f"{SERVICES}/one")
        replaced = await script_with(host, mark, "delete table ip kybernetes")
        assert "default/one/" not in replaced and "svc-default/two/udp/p" in replaced
        assert proxier.applied() == proxier.wanted()
    finally:
        await cancel_and_wait(task)
        await informers.stop()
