"""The Endpoints and EndpointSlice controllers against a real API server, seen by kubectl.

Pods get their IP and Ready condition the way a kubelet gives them: through
`pods/{name}/status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.endpoints import EndpointsController
from kybernetes.controllers.endpointslice import EndpointSliceController
from kybernetes.controllers.endpointslicemirroring import EndpointSliceMirroringController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
PODS = resource_path("", "v1", "pods", "default")
SERVICES = resource_path("", "v1", "services", "default")
ENDPOINTS = resource_path("", "v1", "endpoints", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")
NODES = resource_path("", "v1", "nodes")
ZONE = "topology.kubernetes.io/zone"


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@contextlib.asynccontextmanager
async def running(
    client: ApiClient, *others: Callable[[InformerFactory], Any]
) -> AsyncIterator[EndpointSliceController]:
    """The three controllers (and `others`) on shared informers, as the manager runs them."""
    informers = InformerFactory(client)
    endpoints = EndpointsController(informers)
    slices = EndpointSliceController(informers, max_endpoints_per_slice=2)
    mirroring = EndpointSliceMirroringController(informers)
    extra = [make(informers) for make in others]
    informers.start()
    tasks = [asyncio.create_task(c.run()) for c in (endpoints, slices, mirroring, *extra)]
    try:
        yield slices
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


@pytest.fixture
async def controllers(client: ApiClient) -> AsyncIterator[EndpointSliceController]:
    async with running(client) as slices:
        yield slices


async def until(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def make_pod(client: ApiClient, name: str, ip: str, http_port: int) -> None:
    await client.create(PODS, {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "node-a", "containers": [{
            "name": "web", "image": "nginx",
            "ports": [{"name": "http", "containerPort": http_port}]}]},
    })  # fmt: skip
    await set_ready(client, name, True, ip=ip)


async def set_ready(client: ApiClient, name: str, ready: bool, *, ip: str = "") -> None:
    pod = await client.get(f"{PODS}/{name}")
    status = pod["status"]
    if ip:
        status.update(phase="Running", podIP=ip, podIPs=[{"ip": ip}])
    status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                             "lastTransitionTime": "2026-11-30T10:00:00Z"}]  # fmt: skip
    await client.update(f"{PODS}/{name}/status", pod)


async def endpoints_of(client: ApiClient, name: str) -> Obj | None:
    try:
        return await client.get(f"{ENDPOINTS}/{name}")
    except ApiStatusError as err:
        if err.code == 404:
            return None
        raise


def addresses(ep: Obj | None, field: str = "addresses") -> set[str]:
    return {a["ip"] for s in (ep or {}).get("subsets") or [] for a in s.get(field) or []}


async def slices_of(client: ApiClient, service: str) -> list[Obj]:
    page = await client.get(SLICES, labelSelector=f"kubernetes.io/service-name={service}")
    return list(page["items"])


def slice_endpoints(slices: list[Obj]) -> dict[str, Obj]:
    return {e["addresses"][0]: e for s in slices for e in s.get("endpoints") or []}


async def test_endpoints_and_slices_follow_the_pods(
    cluster: Cluster, client: ApiClient, controllers: EndpointSliceController
) -> None:
    await client.create(NODES, {"metadata": {"name": "node-a", "labels": {ZONE: "zone-a"}}})
    # `web`: one unnamed port (slices must still say `name: ""`, or kubectl describe panics).
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))  # fmt: skip
    # `named`: a named target port, resolved in each pod.
    await client.create(SERVICES, {
        "metadata": {"name": "named"},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    })  # fmt: skip
    await make_pod(client, "web-1", "10.244.0.11", 8080)
    await make_pod(client, "web-2", "10.244.0.12", 8081)
    await make_pod(client, "web-3", "10.244.0.13", 8080)

    async def ready_are(service: str, ips: set[str]) -> bool:
        return addresses(await endpoints_of(client, service)) == ips

    everyone = {"10.244.0.11", "10.244.0.12", "10.244.0.13"}
    await until(lambda: ready_are("web", everyone))
    await until(lambda: ready_are("named", everyone))
    out = await cluster.kubectl("get", "endpoints", "web")
    assert "10.244.0.11:8080,10.244.0.12:8080,10.244.0.13:8080" in out
    named = await endpoints_of(client, "named")
    assert named is not None
    ports = {(a["ip"], p["port"]) for s in named["subsets"] for a in s["addresses"]
             for p in s["ports"]}  # fmt: skip
    assert ports == {("10.244.0.11", 8080), ("10.244.0.12", 8081), ("10.244.0.13", 8080)}
    assert named["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"] == (
        "endpoint-controller")  # fmt: skip
    trigger = named["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
    assert trigger.endswith("Z")

    # Slices: at most two endpoints each here, every port named, owned by the service.
    async def slice_ips_are(service: str, ips: set[str]) -> bool:
        return set(slice_endpoints(await slices_of(client, service))) == ips

    await until(lambda: slice_ips_are("web", everyone))
    web_slices = await slices_of(client, "web")
    assert sorted(len(s["endpoints"]) for s in web_slices) == [1, 2]
    web_uid = (await client.get(f"{SERVICES}/web"))["metadata"]["uid"]
    for eps in web_slices:
        assert eps["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
        assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
            "endpointslice-controller.k8s.io")  # fmt: skip
        (owner,) = eps["metadata"]["ownerReferences"]
        assert owner["uid"] == web_uid and owner["controller"] and owner["blockOwnerDeletion"]
    first = slice_endpoints(web_slices)["10.244.0.11"]
    assert first["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert first["zone"] == "zone-a" and first["nodeName"] == "node-a"
    await until(lambda: slice_ips_are("named", everyone))
    named_ports = {tuple(p["port"] for p in s["ports"]) for s in await slices_of(client, "named")}
    assert named_ports == {(8080,), (8081,)}  # web-2 resolves `http` differently
    out = await cluster.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert "IPv4" in out and "8080" in out and "10.244.0.11" in out
    out = await cluster.kubectl("describe", "svc", "web")
    assert "Endpoints:" in out and "10.244.0.11:8080" in out and "10.244.0.13:8080" in out
    out = await cluster.kubectl("describe", "svc", "named")
    assert "10.244.0.12:8081" in out
    out = await cluster.kubectl("describe", "endpoints", "named")
    assert "10.244.0.11,10.244.0.13" in out and "10.244.0.12" in out
    out = await cluster.kubectl(
        "describe", "endpointslices", "-l", "kubernetes.io/service-name=web"
    )
    assert re.search(r"Ready:\s+true", out) and re.search(r"Zone:\s+zone-a", out)

    # Not ready: the address moves to notReadyAddresses, the slice endpoint to ready=false.
    await set_ready(client, "web-2", False)

    async def web_2_not_ready() -> bool:
        ep = await endpoints_of(client, "web")
        endpoint = slice_endpoints(await slices_of(client, "web")).get("10.244.0.12")
        return (addresses(ep, "notReadyAddresses") == {"10.244.0.12"}
                and addresses(ep) == {"10.244.0.11", "10.244.0.13"}
                and endpoint is not None and endpoint["conditions"]["ready"] is False)  # fmt: skip

    await until(web_2_not_ready)

    # Terminating: out of the Endpoints, in the slices as terminating; then gone.
    await client.delete(f"{PODS}/web-1")

    async def web_1_terminating() -> bool:
        endpoint = slice_endpoints(await slices_of(client, "web")).get("10.244.0.11")
        return (not ({"10.244.0.11"} & addresses(await endpoints_of(client, "web"),
                                                 "notReadyAddresses"))
                and await ready_are("web", {"10.244.0.13"}) and endpoint is not None
                and endpoint["conditions"] == {"ready": False, "serving": True,
                                               "terminating": True})  # fmt: skip

    await until(web_1_terminating)
    await client.delete(f"{PODS}/web-1", {"gracePeriodSeconds": 0})
    await until(lambda: slice_ips_are("web", {"10.244.0.12", "10.244.0.13"}))
    out = await cluster.kubectl("get", "endpoints", "web", "-o", "json")
    assert "10.244.0.11" not in out

    # The service goes: its Endpoints with it; its slices are the garbage collector's
    # (ownerReference above), and the controller does not write them again.
    await cluster.kubectl("delete", "svc", "web")

    async def endpoints_gone() -> bool:
        return await endpoints_of(client, "web") is None

    await until(endpoints_gone)
    left = await slices_of(client, "web")
    assert all(s["metadata"]["ownerReferences"][0]["uid"] == web_uid for s in left)


async def test_selectorless_services_keep_their_users_endpoints(
    cluster: Cluster, client: ApiClient, controllers: EndpointSliceController
) -> None:
    await client.create(SERVICES, {"metadata": {"name": "external"},
                                   "spec": {"ports": [{"port": 5432}]}})  # fmt: skip
    manual = {
        "metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}],
    }
    await client.create(ENDPOINTS, manual)
    # A service with a selector next to it, to know the controllers have worked meanwhile.
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "probe"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
    )

    async def probe_done() -> bool:
        return await endpoints_of(client, "probe") is not None and bool(
            await slices_of(client, "probe")
        )

    await until(probe_done)
    assert addresses(await endpoints_of(client, "external")) == {"192.0.2.10"}
    # ... mirrored into a slice, which kubectl describe shows, and which follows each change.
    mirrored = "endpointslicemirroring-controller.k8s.io"

    async def mirrored_ips_are(ips: set[str]) -> bool:
        slices = await slices_of(client, "external")
        return set(slice_endpoints(slices)) == ips and all(
            s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == mirrored
            for s in slices)  # fmt: skip

    await until(lambda: mirrored_ips_are({"192.0.2.10"}))
    (eps,) = await slices_of(client, "external")
    assert eps["ports"] == [{"name": "", "port": 5432, "protocol": "TCP"}]
    assert eps["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    out = await cluster.kubectl("describe", "svc", "external")
    assert "192.0.2.10:5432" in out
    await client.patch(
        f"{ENDPOINTS}/external",
        {
            "subsets": [
                {
                    "addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}],
                    "ports": [{"port": 5432}],
                }
            ]
        },
    )
    await until(lambda: mirrored_ips_are({"192.0.2.10", "192.0.2.11"}))
    assert [s["metadata"]["name"] for s in await slices_of(client, "external")] == [
        eps["metadata"]["name"]]  # rewritten, not replaced  # fmt: skip
    await client.delete(f"{ENDPOINTS}/external")

    async def mirror_gone() -> bool:
        return await slices_of(client, "external") == []

    await until(mirror_gone)
    # The API server's own service: its Endpoints and EndpointSlice, which describe shows.
    kubernetes = await slices_of(client, "kubernetes")
    assert len(kubernetes) == 1 and kubernetes[0]["endpoints"][0]["addresses"] == ["127.0.0.1"]
    out = await cluster.kubectl("describe", "svc", "kubernetes")
    assert "Endpoints:" in out and "127.0.0.1:" in out
    # A deleted Endpoints of a selector service comes back.
    await client.delete(f"{ENDPOINTS}/probe")
    await until(probe_done)
    # The placeholder slice of a service without pods has no endpoints and no ports.
    (placeholder,) = await slices_of(client, "probe")
    assert not placeholder.get("endpoints") and not placeholder.get("ports")
    out = await cluster.kubectl("get", "endpointslices", "-o", "json")
    assert json.loads(out)["items"]


async def test_a_restarted_controller_changes_nothing(cluster: Cluster, client: ApiClient) -> None:
    await client.create(NODES, {"metadata": {"name": "node-a"}})
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    for i in range(5):
        await make_pod(client, f"web-{i}", f"10.244.0.{20 + i}", 8080)

    async def versions() -> dict[str, str]:
        objects = [await client.get(f"{ENDPOINTS}/web"), *await slices_of(client, "web")]
        return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in objects}

    async with running(client):
        await until(lambda: slices_complete(client, "web", 5))
        before = await versions()
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "probe"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
    )
    async with running(client):
        # Once the new controllers wrote the probe's, they have seen `web` too.
        await until(lambda: slices_complete(client, "probe", 0))
        await until(lambda: endpoints_exist(client, "probe"))
        assert await versions() == before


async def slices_complete(client: ApiClient, service: str, count: int) -> bool:
    slices = await slices_of(client, service)
    return bool(slices) and len(slice_endpoints(slices)) == count


async def endpoints_exist(client: ApiClient, service: str) -> bool:
    return await endpoints_of(client, service) is not None


async def test_a_deleted_services_slices_go_with_it(cluster: Cluster, client: ApiClient) -> None:
    """Through their ownerReference, with the garbage collector (issue 4's, merged apart)."""
    collector = pytest.importorskip("kybernetes.controllers.garbagecollector")
    await client.create(NODES, {"metadata": {"name": "node-a"}})
    await client.create(SERVICES, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})  # fmt: skip
    for i in range(3):
        await make_pod(client, f"web-{i}", f"10.244.0.{30 + i}", 8080)
    async with running(client, collector.GarbageCollector):
        await until(lambda: slices_complete(client, "web", 3))
        await cluster.kubectl("delete", "svc", "web")

        async def all_gone() -> bool:
            return await endpoints_of(client, "web") is None and not await slices_of(client, "web")

        await until(all_gone)
