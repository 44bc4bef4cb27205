"""The garbage collector against a real API server, driven by the real kubectl:
background, foreground and orphan cascades, several owners, custom resources,
and the Deployment -> ReplicaSet -> Pod chain with their controllers running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers import manager
from kybernetes.controllers.deployment import DeploymentController
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.namespace import NamespaceController
from kybernetes.controllers.replicaset import ReplicaSetController
from kybernetes.controllers.serviceaccount import ServiceAccountController
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
RS = resource_path("apps", "v1", "replicasets", "default")
PODS = resource_path("", "v1", "pods", "default")
CONFIGMAPS = resource_path("", "v1", "configmaps", "default")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def gc(client: ApiClient) -> AsyncIterator[GarbageCollector]:
    """A running garbage collector (and nothing else)."""
    informers = InformerFactory(client)
    collector = GarbageCollector(informers, discovery_interval=60)
    informers.start()
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
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


def owner_ref(owner: Obj, *, block: bool = True, controller: bool = True) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": block}  # fmt: skip


async def replicaset(client: ApiClient, name: str) -> Obj:
    """A ReplicaSet no controller acts on (its pods are made by the test)."""
    return await client.create(RS, {
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    })  # fmt: skip


async def pod(client: ApiClient, name: str, *owners: Obj, node: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node  # bound: deleted gracefully, finished by "the kubelet"
    return await client.create(PODS, {
        "metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": list(owners)},
        "spec": spec,
    })  # fmt: skip


async def pod_names(client: ApiClient) -> list[str]:
    return sorted(p["metadata"]["name"] for p in (await client.get(PODS))["items"])


async def test_background_cascade_with_kubectl(
    cluster: Cluster, client: ApiClient, gc: GarbageCollector
) -> None:
    rs = await replicaset(client, "web")
    for name in ("web-a", "web-b"):
        await pod(client, name, owner_ref(rs))
    await pod(client, "bystander")
    await cluster.kubectl("delete", "rs", "web")

    async def only_bystander() -> bool:
        return await pod_names(client) == ["bystander"]

    await until(only_bystander)


async def test_orphan_cascade_with_kubectl(
    cluster: Cluster, client: ApiClient, gc: GarbageCollector
) -> None:
    rs = await replicaset(client, "web")
    other = await replicaset(client, "other")
    await pod(client, "web-a", owner_ref(rs))
    await pod(client, "web-b", owner_ref(rs), owner_ref(other, controller=False))
    # kubectl waits until the ReplicaSet is gone: the collector must release
    # the pods and then remove the orphan finalizer.
    await cluster.kubectl("delete", "rs", "web", "--cascade=orphan", "--timeout=20s")
    assert not await exists(client, f"{RS}/web")
    a = await client.get(f"{PODS}/web-a")
    assert "ownerReferences" not in a["metadata"]
    assert not a["metadata"].get("deletionTimestamp")
    b = await client.get(f"{PODS}/web-b")
    assert [r["name"] for r in b["metadata"]["ownerReferences"]] == ["other"]


async def test_foreground_cascade_waits_for_the_pods(
    cluster: Cluster, client: ApiClient, gc: GarbageCollector
) -> None:
    rs = await replicaset(client, "web")
    for name in ("web-a", "web-b"):
        await pod(client, name, owner_ref(rs), node="node-1")
    await cluster.kubectl("delete", "rs", "web", "--cascade=foreground", "--wait=false")

    async def pods_terminating() -> bool:
        items = (await client.get(PODS))["items"]
        return len(items) == 2 and all(p["metadata"].get("deletionTimestamp") for p in items)

    await until(pods_terminating)
    # The pods are still there (their kubelet has not finished): so is the ReplicaSet.
    held = await client.get(f"{RS}/web")
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    out = await cluster.kubectl("get", "rs", "web", "-o", "jsonpath={.metadata.finalizers}")
    assert "foregroundDeletion" in out
    # "The kubelet" finishes one pod: still held by the other.
    await client.delete(f"{PODS}/web-a", {"gracePeriodSeconds": 0})
    await asyncio.sleep(0.5)  # time for the collector to (wrongly) let go: a negative check
    assert await exists(client, f"{RS}/web")
    await client.delete(f"{PODS}/web-b", {"gracePeriodSeconds": 0})

    async def rs_gone() -> bool:
        return not await exists(client, f"{RS}/web")

    await until(rs_gone)


async def test_a_second_owner_keeps_the_dependent(client: ApiClient, gc: GarbageCollector) -> None:
    first = await replicaset(client, "first")
    second = await replicaset(client, "second")
    await pod(client, "shared", owner_ref(first), owner_ref(second, controller=False))
    await pod(client, "only-first", owner_ref(first))
    await client.delete(f"{RS}/first", {"propagationPolicy": "Foreground"})

    async def first_gone() -> bool:
        return not await exists(client, f"{RS}/first")

    await until(first_gone)
    assert await pod_names(client) == ["shared"]
    shared = await client.get(f"{PODS}/shared")
    assert [r["uid"] for r in shared["metadata"]["ownerReferences"]] == [second["metadata"]["uid"]]
    assert not shared["metadata"].get("deletionTimestamp")


async def test_an_owner_that_never_existed_or_was_replaced(
    client: ApiClient, gc: GarbageCollector
) -> None:
    rs = await replicaset(client, "web")
    ghost = {**owner_ref(rs), "uid": "00000000-0000-0000-0000-000000000000"}
    await pod(client, "ghost-child", ghost)  # same name, another uid: its owner is gone
    await pod(client, "real-child", owner_ref(rs))

    async def ghost_child_gone() -> bool:
        return await pod_names(client) == ["real-child"]

    await until(ghost_child_gone)


async def test_owners_across_scopes_and_namespaces(client: ApiClient, gc: GarbageCollector) -> None:
    """A cluster-scoped owner may own namespaced objects; a namespaced owner
    only those of its own namespace: a reference from another namespace is to
    an owner that is absent there, so the dependent is collected."""
    roles = resource_path("rbac.authorization.k8s.io", "v1", "clusterroles")
    role = await client.create(roles, {"metadata": {"name": "owner-role"}, "rules": []})
    role = {**role, "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
    await pod(client, "by-role", owner_ref(role))
    await client.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": "other"}})
    other = resource_path("", "v1", "configmaps", "other")
    cm = await client.create(other, {"metadata": {"name": "elsewhere"}})
    cm = {**cm, "apiVersion": "v1", "kind": "ConfigMap"}
    await pod(client, "across", owner_ref(cm, block=False, controller=False))
    mine = {"metadata": {"name": "mine", "ownerReferences": [owner_ref(cm)]}}
    await client.create(other, mine)

    async def across_collected() -> bool:
        return await pod_names(client) == ["by-role"]

    await until(across_collected)
    assert await exists(client, f"{other}/mine")  # its owner is alive in its namespace
    await client.delete(f"{roles}/owner-role")

    async def role_dependents_collected() -> bool:
        return await pod_names(client) == []

    await until(role_dependents_collected)


async def test_dependency_cycle_is_collected(client: ApiClient, gc: GarbageCollector) -> None:
    """Conformance G04: pods owning each other in a cycle all go after one is deleted."""
    pods = [await pod(client, f"p{i}") for i in (1, 2, 3)]
    pods = [{**p, "apiVersion": "v1", "kind": "Pod"} for p in pods]
    # p1 <- p3, p2 <- p1, p3 <- p2 (each owned by the previous one, blocking).
    for child, owner in ((0, 2), (1, 0), (2, 1)):
        name = pods[child]["metadata"]["name"]
        await client.patch(f"{PODS}/{name}",
                           {"metadata": {"ownerReferences": [owner_ref(pods[owner])]}})  # fmt: skip
    await client.delete(f"{PODS}/p1", {"propagationPolicy": "Foreground"})

    async def all_gone() -> bool:
        return await pod_names(client) == []

    await until(all_gone, timeout=30)


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    },
}  # fmt: skip


async def test_custom_resources_added_later_are_collected(
    cluster: Cluster, client: ApiClient, gc: GarbageCollector
) -> None:
    # The CRD comes after the collector started: it discovers the new kind.
    await client.create(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                        CRD)  # fmt: skip
    widgets = resource_path("example.com", "v1", "widgets", "default")
    widget = await client.create(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                           "metadata": {"name": "w"}})  # fmt: skip
    config = {"metadata": {"name": "w-config", "ownerReferences": [owner_ref(widget)]}}
    await client.create(CONFIGMAPS, config)
    # A custom resource owned by a built-in one works as well.
    cm = await client.create(CONFIGMAPS, {"metadata": {"name": "parent"}})
    cm = {**cm, "apiVersion": "v1", "kind": "ConfigMap"}
    child = {"name": "child", "ownerReferences": [owner_ref(cm)]}
    await client.create(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                  "metadata": child})  # fmt: skip
    await cluster.kubectl("delete", "widget", "w")
    await cluster.kubectl("delete", "configmap", "parent")

    async def collected() -> bool:
        return not await exists(client, f"{CONFIGMAPS}/w-config") and not await exists(
            client, f"{widgets}/child"
        )

    await until(collected)
    # Deleting the CRD deletes its objects, and so (through them) their dependents.
    widget = await client.create(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                           "metadata": {"name": "w2"}})  # fmt: skip
    config = {"metadata": {"name": "w2-config", "ownerReferences": [owner_ref(widget)]}}
    await client.create(CONFIGMAPS, config)
    await cluster.kubectl("delete", "crd", "widgets.example.com")

    async def collected_with_its_kind() -> bool:
        return not await exists(client, f"{CONFIGMAPS}/w2-config")

    await until(collected_with_its_kind)


async def test_deployment_cascade_under_the_controller_manager(
    cluster: Cluster, client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registry lines proposed for manager.CONTROLLERS, run as `kyb server` runs them.
    monkeypatch.setattr(manager, "CONTROLLERS", (
        ReplicaSetController, DeploymentController, GarbageCollector, NamespaceController,
        ServiceAccountController,
    ))  # fmt: skip
    task = asyncio.create_task(manager.run_controller_manager(client, "test"))
    try:
        await cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")

        async def running(n: int) -> bool:
            return len((await client.get(PODS, labelSelector="app=web"))["items"]) == n

        await until(lambda: running(3))
        await cluster.kubectl("delete", "deployment", "web")

        async def all_gone() -> bool:
            sets = (await client.get(RS))["items"]
            return not sets and await running(0)

        await until(all_gone)
        # Foreground: the Deployment stays until its ReplicaSet (and so its pods) went.
        await cluster.kubectl("create", "deployment", "api", "--image=nginx", "--replicas=2")
        await until(lambda: running(0))  # (label app=web: still none)

        async def api_pods(n: int) -> bool:
            return len((await client.get(PODS, labelSelector="app=api"))["items"]) == n

        await until(lambda: api_pods(2))
        await cluster.kubectl("delete", "deployment", "api", "--cascade=foreground",
                              "--timeout=20s")  # fmt: skip
        assert await api_pods(0)
        assert not (await client.get(RS))["items"]
    finally:
        await cancel_and_wait(task)
