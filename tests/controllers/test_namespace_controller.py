"""Namespace deletion and the default ServiceAccount, against a real API server
with the real kubectl."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.namespace import NamespaceController
from kybernetes.controllers.serviceaccount import ServiceAccountController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
NAMESPACES = resource_path("", "v1", "namespaces")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def controllers(client: ApiClient) -> AsyncIterator[list[Any]]:
    """The namespace, ServiceAccount and garbage collector controllers, running."""
    informers = InformerFactory(client)
    running = [NamespaceController(informers, recheck_interval=0.2),
               ServiceAccountController(informers), GarbageCollector(informers)]  # fmt: skip
    informers.start()
    tasks = [asyncio.create_task(c.run()) for c in running]
    try:
        yield running
    finally:
        for task in tasks:
            await cancel_and_wait(task)
        await informers.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def exists(client: ApiClient, path: str) -> bool:
    try:
        await client.get(path)
    except ApiStatusError as err:
        if err.code == 404:
            return False
        raise
    return True


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    },
}  # fmt: skip


async def test_kubectl_delete_namespace_empties_it(
    cluster: Cluster, client: ApiClient, controllers: list[Any]
) -> None:
    await client.create(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                        CRD)  # fmt: skip
    await cluster.kubectl("create", "namespace", "team")
    await cluster.kubectl("create", "configmap", "settings", "-n", "team", "--from-literal=a=b")
    await cluster.kubectl("run", "web", "--image=nginx", "-n", "team")
    await cluster.kubectl("create", "deployment", "api", "--image=nginx", "-n", "team")
    gadgets = resource_path("example.com", "v1", "gadgets", "team")
    await client.create(gadgets, {"apiVersion": "example.com/v1", "kind": "Gadget",
                                  "metadata": {"name": "g"}})  # fmt: skip
    # A pod on a node terminates gracefully: the namespace waits for "its kubelet".
    pods = resource_path("", "v1", "pods", "team")
    await client.create(pods, {"metadata": {"name": "bound"}, "spec": {
        "nodeName": "node-1", "containers": [{"name": "c", "image": "nginx"}]}})  # fmt: skip

    await cluster.kubectl("delete", "namespace", "team", "--wait=false")
    assert "Terminating" in await cluster.kubectl("get", "namespace", "team")

    async def waiting_for_the_pod() -> bool:
        ns = await client.get(f"{NAMESPACES}/team")
        conditions = {c["type"]: c for c in ns["status"].get("conditions") or []}
        remaining = conditions.get("NamespaceContentRemaining") or {}
        return remaining.get("message") == (
            "Some resources are remaining: pods. has 1 resource instances"
        )

    await until(waiting_for_the_pod)
    ns = await client.get(f"{NAMESPACES}/team")
    conditions = {c["type"]: c for c in ns["status"]["conditions"]}
    assert conditions["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert conditions["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
    assert conditions["NamespaceDeletionContentFailure"]["status"] == "False"
    # Ordered deletion: while a pod is left, the rest of the content stays.
    assert await exists(client, resource_path("", "v1", "configmaps", "team", "settings"))
    out = await cluster.kubectl("describe", "namespace", "team")
    assert "NamespaceContentRemaining" in out
    bound = await client.get(f"{pods}/bound")
    assert bound["metadata"]["deletionTimestamp"]
    # "The kubelet" finishes the pod; then everything goes, the namespace last.
    await client.delete(f"{pods}/bound", {"gracePeriodSeconds": 0})
    await cluster.kubectl("wait", "--for=delete", "namespace/team", "--timeout=20s")
    assert not await exists(client, f"{NAMESPACES}/team")
    # The name can be used again, and starts empty.
    await cluster.kubectl("create", "namespace", "team")
    out = await cluster.kubectl("get", "all,configmaps,gadgets", "-n", "team", "-o", "json")
    names = [i["metadata"]["name"] for i in json.loads(out)["items"]]
    assert "settings" not in names and "g" not in names and "web" not in names


async def test_kubectl_waits_for_the_namespace_to_go(
    cluster: Cluster, client: ApiClient, controllers: list[Any]
) -> None:
    await cluster.kubectl("create", "namespace", "quick")
    await cluster.kubectl("create", "configmap", "c", "-n", "quick")
    await cluster.kubectl("delete", "namespace", "quick", "--timeout=20s")
    assert not await exists(client, f"{NAMESPACES}/quick")
    # With a GC finalizer on the namespace itself, the collector takes it off.
    for cascade in ("foreground", "orphan"):
        await cluster.kubectl("create", "namespace", cascade)
        await cluster.kubectl("delete", "namespace", cascade, f"--cascade={cascade}",
                              "--timeout=20s")  # fmt: skip
        assert not await exists(client, f"{NAMESPACES}/{cascade}")


async def test_every_namespace_gets_a_default_service_account(
    cluster: Cluster, client: ApiClient, controllers: list[Any]
) -> None:
    await cluster.kubectl("create", "namespace", "fresh")
    accounts = resource_path("", "v1", "serviceaccounts", "fresh")

    async def has_default() -> bool:
        return await exists(client, f"{accounts}/default")

    await until(has_default)
    assert "default" in await cluster.kubectl("get", "sa", "-n", "fresh")
    # Deleted: it comes back, as a new object.
    first = (await client.get(f"{accounts}/default"))["metadata"]["uid"]
    await cluster.kubectl("delete", "sa", "default", "-n", "fresh")

    async def recreated() -> bool:
        try:
            account = await client.get(f"{accounts}/default")
        except ApiStatusError:
            return False
        return bool(account["metadata"]["uid"] != first)

    await until(recreated)
    # The system namespaces have theirs too.
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        path = resource_path("", "v1", "serviceaccounts", name, "default")

        async def present(path: str = path) -> bool:
            return await exists(client, path)

        await until(present)


async def test_pods_go_before_the_rest_even_when_a_finalizer_holds_one(
    cluster: Cluster, client: ApiClient, controllers: list[Any]
) -> None:
    """Conformance NS7 (ordered namespace deletion), as its test does it: a pod
    held by a finalizer keeps the namespace's other content until it goes."""
    await cluster.kubectl("create", "namespace", "ordered")
    pods = resource_path("", "v1", "pods", "ordered")
    meta = {"name": "held", "finalizers": ["e2e.example.com/hold"]}
    spec = {"containers": [{"name": "c", "image": "nginx"}]}
    await client.create(pods, {"metadata": meta, "spec": spec})
    configmap = resource_path("", "v1", "configmaps", "ordered", "settings")
    await client.create(resource_path("", "v1", "configmaps", "ordered"),
                        {"metadata": {"name": "settings"}})  # fmt: skip
    await cluster.kubectl("delete", "namespace", "ordered", "--wait=false")

    async def pod_marked() -> bool:
        held = await client.get(f"{pods}/held")
        return bool(held["metadata"].get("deletionTimestamp"))

    await until(pod_marked)

    async def finalizers_reported() -> bool:
        ns = await client.get(f"{NAMESPACES}/ordered")
        conditions = {c["type"]: c for c in ns["status"].get("conditions") or []}
        remaining = conditions.get("NamespaceFinalizersRemaining") or {}
        return remaining.get("status") == "True"

    await until(finalizers_reported)
    ns = await client.get(f"{NAMESPACES}/ordered")
    conditions = {c["type"]: c for c in ns["status"]["conditions"]}
    assert conditions["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: e2e.example.com/hold in 1 "
        "resource instances"
    )
    assert await exists(client, configmap)  # the pod is still there: so is the rest
    await client.patch(f"{pods}/held", {"metadata": {"finalizers": None}})
    await cluster.kubectl("wait", "--for=delete", "namespace/ordered", "--timeout=20s")
    assert not await exists(client, f"{NAMESPACES}/ordered")
