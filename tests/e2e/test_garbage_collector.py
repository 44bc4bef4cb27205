"""The conformance tests' garbage collector checks with ReplicationControllers
(checklist G02, G03, G05, G07): the replication manager, the collector and
simulated kubelets all running, the deletes sent as the tests send them."""

from __future__ import annotations

import json
from typing import Any

from kybernetes.client.rest import ApiStatusError, resource_path
from tests.e2e.conftest import Obj, Plane, is_ready, live, until

RCS = resource_path("", "v1", "replicationcontrollers", "default")
PODS = resource_path("", "v1", "pods", "default")


def rc(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": labels, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
    }  # fmt: skip


async def start(plane: Plane, name: str, replicas: int) -> Obj:
    created: Obj = await plane.client.create(RCS, rc(name, replicas))

    async def running() -> bool:
        pods = live(await plane.pods(selector=f"app={name}"))
        return len(pods) == replicas and all(map(is_ready, pods))

    await until(running, what=f"{replicas} running pods of {name}")
    return created


async def gone(plane: Plane, path: str) -> bool:
    try:
        await plane.client.get(path)
    except ApiStatusError as err:
        return err.code == 404
    return False


async def test_background_delete_of_an_rc_takes_its_pods(plane: Plane) -> None:
    """G02."""
    await start(plane, "bg", 2)
    await plane.client.delete(f"{RCS}/bg", {"propagationPolicy": "Background"})

    async def collected() -> bool:
        return await gone(plane, f"{RCS}/bg") and not await plane.pods(selector="app=bg")

    await until(collected, what="the RC and its pods to be gone")


async def test_foreground_delete_keeps_the_rc_until_its_pods_are_gone(plane: Plane) -> None:
    """G03: readable, with deletionTimestamp and the foregroundDeletion
    finalizer, while any pod is left."""
    await start(plane, "fg", 3)
    await plane.cluster.kubectl("delete", "rc", "fg", "--cascade=foreground", "--wait=false")
    seen_held = False

    async def collected() -> bool:
        nonlocal seen_held
        pods = await plane.pods(selector="app=fg")
        try:
            held = await plane.client.get(f"{RCS}/fg")
        except ApiStatusError as err:
            assert err.code == 404
            return not pods
        # While the RC is there it is marked, and no pod was replaced.
        assert held["metadata"]["deletionTimestamp"]
        assert "foregroundDeletion" in held["metadata"]["finalizers"]
        assert len(pods) <= 3
        seen_held = seen_held or bool(pods)
        return False

    await until(collected, what="the RC to go after its pods")
    assert seen_held  # the RC was there while pods were


async def test_a_second_owner_keeps_half_the_pods(plane: Plane) -> None:
    """G05: foreground delete of one RC; the pods a second RC also owns stay."""
    await start(plane, "to-be-deleted", 4)
    stays = await plane.client.create(RCS, rc("to-stay", 0))
    pods = sorted(p["metadata"]["name"] for p in await plane.pods(selector="app=to-be-deleted"))
    kept = pods[:2]
    second = {"apiVersion": "v1", "kind": "ReplicationController",
              "name": "to-stay", "uid": stays["metadata"]["uid"]}  # fmt: skip
    for name in kept:
        pod = await plane.client.get(f"{PODS}/{name}")
        refs = [*pod["metadata"]["ownerReferences"], second]
        await plane.client.patch(f"{PODS}/{name}", {"metadata": {"ownerReferences": refs}})
    await plane.client.delete(f"{RCS}/to-be-deleted", {"propagationPolicy": "Foreground"})

    async def collected() -> bool:
        left = [p["metadata"]["name"] for p in await plane.pods(selector="app=to-be-deleted")]
        return await gone(plane, f"{RCS}/to-be-deleted") and sorted(left) == kept

    await until(collected, what="the RC and the pods it alone owned to go")
    for name in kept:
        meta = (await plane.client.get(f"{PODS}/{name}"))["metadata"]
        assert not meta.get("deletionTimestamp")
        assert [r["uid"] for r in meta["ownerReferences"]] == [stays["metadata"]["uid"]]


async def test_orphan_delete_of_an_rc_leaves_its_pods_ownerless(plane: Plane) -> None:
    """G07."""
    await start(plane, "orphans", 2)
    await plane.cluster.kubectl("delete", "rc", "orphans", "--cascade=orphan", "--timeout=30s")
    assert await gone(plane, f"{RCS}/orphans")
    pods = await plane.pods(selector="app=orphans")
    assert len(live(pods)) == 2
    assert all(not p["metadata"].get("ownerReferences") for p in pods), json.dumps(pods)
