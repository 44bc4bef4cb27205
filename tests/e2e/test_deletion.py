"""Deleting end to end: cascading, orphaning, and a namespace emptied before it goes."""

from __future__ import annotations

from kybernetes.client.rest import ApiStatusError, resource_path
from tests.e2e.conftest import Obj, Plane, live, until


async def replicasets(plane: Plane, namespace: str = "default") -> list[Obj]:
    path = resource_path("apps", "v1", "replicasets", namespace)
    items: list[Obj] = (await plane.client.get(path))["items"]
    return items


async def test_deleting_a_deployment_cascades_to_its_replicaset_and_pods(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=4")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert len(await replicasets(plane)) == 1
    await plane.kubectl("delete", "deployment", "web")  # background propagation

    async def all_gone() -> bool:
        return not await replicasets(plane) and not await plane.pods(selector="app=web")

    await until(all_gone, what="the ReplicaSet and every pod to be gone")


async def test_orphan_deletion_leaves_the_replicaset_and_its_pods(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    await plane.kubectl("delete", "deployment", "web", "--cascade=orphan")

    async def orphaned() -> bool:
        sets = await replicasets(plane)
        return len(sets) == 1 and not sets[0]["metadata"].get("ownerReferences")

    await until(orphaned, what="the ReplicaSet without its owner reference")
    out = await plane.kubectl("get", "replicasets", "-l", "app=web", "-o", "name")
    assert out.startswith("replicaset.apps/web-")
    pods = live(await plane.pods(selector="app=web"))
    assert len(pods) == 2  # the ReplicaSet still owns and runs them
    assert all(p["status"]["phase"] == "Running" for p in pods)


async def test_deleting_a_namespace_empties_it_first(plane: Plane) -> None:
    await plane.kubectl("create", "namespace", "shop")
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3",
                        "-n", "shop")  # fmt: skip
    await plane.kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", "shop")
    await plane.kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=30s")
    await plane.kubectl("delete", "namespace", "shop", "--wait=false")

    async def gone() -> bool:
        try:
            await plane.client.get(resource_path("", "v1", "namespaces", name="shop"))
        except ApiStatusError as err:
            return err.code == 404
        return False

    await until(gone, what="namespace shop to be gone")
    # Nothing of it is left behind anywhere.
    for group, plural in (("", "pods"), ("apps", "replicasets"), ("apps", "deployments"),
                          ("", "configmaps")):  # fmt: skip
        items = (await plane.client.get(resource_path(group, "v1", plural, "shop")))["items"]
        assert items == [], plural


async def test_a_namespace_deleted_and_made_again_starts_without_services_or_pods(
    plane: Plane,
) -> None:
    """Conformance NS4, NS5: a namespace's pods and services go with it; the
    name used again starts empty."""
    await plane.kubectl("create", "namespace", "nsdeletetest")
    await plane.kubectl("run", "test-pod", "--image=nginx:1.27", "-n", "nsdeletetest")
    await plane.kubectl("create", "service", "clusterip", "test-service", "--tcp=80:80",
                        "-n", "nsdeletetest")  # fmt: skip
    await plane.kubectl("wait", "--for=condition=Ready", "pod/test-pod", "-n", "nsdeletetest",
                        "--timeout=30s")  # fmt: skip
    await plane.kubectl("delete", "namespace", "nsdeletetest", "--timeout=60s")
    await plane.kubectl("create", "namespace", "nsdeletetest")
    for plural in ("pods", "services"):
        items = (await plane.client.get(resource_path("", "v1", plural, "nsdeletetest")))["items"]
        assert items == [], plural
    out = await plane.kubectl("get", "pods,services", "-n", "nsdeletetest", check=False)
    assert "No resources found in nsdeletetest namespace." in out
