"""Userspace mode: listeners from service ports (pure), and real traffic on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.proxy.model import Endpoint, ServicePort
from kybernetes.proxy.userspace import Frontend, Picker, UserspaceProxier, frontends
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

A, B = Endpoint("10.244.0.3", 8080, True), Endpoint("10.244.0.4", 8080, False)
WEB = ServicePort(namespace="default", name="web", port_name="", protocol="tcp",
                  cluster_ip="10.96.0.10", port=80, node_port=30080,
                  external_ips=("192.0.2.9",), endpoints=(A, B))  # fmt: skip


def test_every_frontend_gets_a_listener_with_its_policy() -> None:
    local = dataclasses.replace(WEB, external_local=True)
    wanted = frontends([local], node_ips=["192.0.2.1", "192.0.2.2"])
    assert {k: v.endpoints for k, v in wanted.items()} == {
        ("10.96.0.10", "tcp", 80): (A, B),
        ("192.0.2.9", "tcp", 80): (A,),  # externalTrafficPolicy Local: this node's only
        ("192.0.2.1", "tcp", 30080): (A,),
        ("192.0.2.2", "tcp", 30080): (A,),
    }
    sctp = dataclasses.replace(WEB, protocol="sctp")
    assert frontends([sctp], node_ips=[]) == {}  # not proxied in userspace


def test_round_robin_and_client_ip_affinity_with_its_timeout() -> None:
    now = [0.0]
    picker = Picker(clock=lambda: now[0])
    plain = Frontend("default/web/tcp/80", (A, B))
    assert [picker.order(plain, "c")[0] for _ in range(4)] == [A, B, A, B]
    assert picker.order(Frontend("x", ()), "c") == []
    sticky = Frontend("default/sticky/tcp/80", (A, B), affinity_timeout=10)
    first = picker.order(sticky, "c")[0]
    picker.used(sticky, "c", first)
    assert all(picker.order(sticky, "c")[0] == first for _ in range(5))
    now[0] = 11.0  # the affinity expired: round-robin again
    assert {picker.order(sticky, "c")[0] for _ in range(2)} == {A, B}


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def backend(name: str) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name.encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def fetch(ip: str, port: int) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 3)
        data = await asyncio.wait_for(reader.read(100), 3)
        writer.close()
    except (OSError, TimeoutError) as err:
        return f"ERR {type(err).__name__}"
    return data.decode() or "ERR closed"


async def test_traffic_through_external_ips_on_loopback(client: ApiClient) -> None:
    servers = {name: await backend(name) for name in ("a", "b")}
    ports = {name: s.sockets[0].getsockname()[1] for name, s in servers.items()}
    frontend_ip = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    svc_port = random.randint(20000, 29999)
    services = resource_path("", "v1", "services", "default")
    slices = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")
    await client.create(services, {"metadata": {"name": "web"}, "spec": {
        "externalIPs": [frontend_ip], "ports": [{"port": svc_port}]}})  # fmt: skip

    async def endpoints(names: list[str]) -> None:
        # Two loopback "pods" on different ports: one slice per port.
        for name in ("a", "b"):
            body: dict[str, Any] = {
                "metadata": {"name": f"web-{name}",
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "", "port": ports[name]}],
                "endpoints": [{"addresses": ["127.0.0.1"]}] if name in names else [],
            }  # fmt: skip
            path = f"{slices}/web-{name}"
            try:
                current = await client.get(path)
            except Exception:  # noqa: BLE001 - not there yet
                await client.create(slices, body)
                continue
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await client.update(path, body)

    await endpoints(["a", "b"])
    informers = InformerFactory(client)
    proxier = UserspaceProxier(informers, node_name="n1", node_ips=[])
    informers.start()
    task = asyncio.create_task(proxier.run())

    async def hits(count: int = 10) -> Counter[str]:
        return Counter([await fetch(frontend_ip, svc_port) for _ in range(count)])

    async def until(want: Counter[str]) -> Counter[str]:
        deadline = asyncio.get_running_loop().time() + 10
        while (got := await hits(sum(want.values()))) != want:
            if asyncio.get_running_loop().time() > deadline:
                return got
            await asyncio.sleep(0.05)
        return got

    try:
        # The endpoints differ by port, so two slices: round-robin over both.
        assert await until(Counter({"a": 5, "b": 5})) == Counter({"a": 5, "b": 5})
        await endpoints(["b"])
        assert await until(Counter({"b": 10})) == Counter({"b": 10})
        servers["b"].close()
        await servers["b"].wait_closed()
        await endpoints([])
        # No endpoint: refused at once (a reset), not a timeout.
        got = await until(Counter({"ERR ConnectionResetError": 3}))
        assert set(got) <= {"ERR ConnectionResetError", "ERR closed"}, got
        # The cluster IP (not an address here, no alias) was skipped, the rest served.
        assert all(key[0] != proxier.services.items["default/web"]["spec"]["clusterIP"]
                   for key in proxier.listeners)  # fmt: skip
    finally:
        await cancel_and_wait(task)
        await informers.stop()
        for server in servers.values():
            server.close()
