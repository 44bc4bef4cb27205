"""One garbage collector sync at a time, over caches the test fills and an
in-memory API that records every write: what a stale cache may and may not
make the collector do."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.patch.jsonpatch import PatchError, apply_json_patch
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.controllers.garbagecollector import GarbageCollector, Work
from kybernetes.controllers.garbagecollector_decisions import ObjectRef, Resource

Obj = dict[str, Any]
PODS = Resource("", "v1", "pods", "Pod", True)
RSS = Resource("apps", "v1", "replicasets", "ReplicaSet", True)


class FakeApi:
    """The part of ApiClient the collector's sync uses, on a dict of objects."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.writes: list[tuple[str, str, Any]] = []
        self.conflicts = 0  # deletes answered 409 before one goes through

    def put(self, resource: Resource, obj: Obj) -> None:
        meta = obj["metadata"]
        path = resource_path(resource.group, resource.version, resource.plural,
                             meta["namespace"], meta["name"])  # fmt: skip
        self.objects[path] = copy.deepcopy(obj)

    async def get(self, path: str, **_: str) -> Obj:
        if path not in self.objects:
            raise ApiStatusError({"code": 404, "reason": "NotFound"})
        return copy.deepcopy(self.objects[path])

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        self.writes.append(("DELETE", path, body))
        if self.conflicts:
            self.conflicts -= 1
            raise ApiStatusError({"code": 409, "reason": "Conflict"})
        return self.objects.pop(path)

    async def patch(self, path: str, body: Any, content_type: str = "") -> Obj:
        self.writes.append(("PATCH", path, body))
        try:
            patched: Obj = apply_json_patch(self.objects[path], body)
        except PatchError as err:
            raise ApiStatusError({"code": err.code, "reason": "Invalid"}) from err
        self.objects[path] = patched
        return copy.deepcopy(patched)


def rs(name: str, uid: str, **meta: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "resourceVersion": "5", **meta}}  # fmt: skip


def owned_pod(name: str, uid: str, *owners: Obj, rv: str = "9") -> Obj:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o["metadata"]["name"],
              "uid": o["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
            for o in owners]  # fmt: skip
    return {"metadata": {"name": name, "namespace": "default", "uid": uid,
                         "resourceVersion": rv, "ownerReferences": refs}}  # fmt: skip


def collector(api: FakeApi, cached: dict[Resource, list[Obj]]) -> GarbageCollector:
    """A collector whose informer caches hold `cached` (and that knows both kinds)."""
    gc = GarbageCollector(InformerFactory(api))  # type: ignore[arg-type]
    gc._kinds = {("", "Pod"): PODS, ("apps", "ReplicaSet"): RSS}
    for resource in (PODS, RSS):
        informer = gc._factory.informer(resource.group, resource.version, resource.plural)
        for obj in cached.get(resource, []):
            informer.items[f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"] = obj
        informer.synced.set()
        gc._watch(resource)
    return gc


def ref(resource: Resource, obj: Obj) -> ObjectRef:
    meta = obj["metadata"]
    return ObjectRef(resource, meta["namespace"], meta["name"], meta["uid"])


async def test_an_owner_missing_from_a_stale_cache_is_read_live_and_spares_the_pod() -> None:
    api = FakeApi()
    owner = rs("web", "rs-1")
    pod = owned_pod("web-a", "pod-1", owner)
    api.put(RSS, owner)
    api.put(PODS, pod)
    gc = collector(api, {PODS: [pod]})  # the ReplicaSet is not in the cache (yet)
    assert Work("delete", ref(PODS, pod)) in gc.queue._queue  # noticed: an owner never seen
    await gc.sync(Work("delete", ref(PODS, pod)))
    assert api.writes == []


async def test_an_owner_gone_live_means_a_background_delete_with_preconditions() -> None:
    api = FakeApi()
    pod = owned_pod("web-a", "pod-1", rs("web", "rs-1"))
    api.put(PODS, pod)
    api.put(RSS, rs("web", "rs-2"))  # same name, another object: the owner is gone
    gc = collector(api, {PODS: [pod]})
    await gc.sync(Work("delete", ref(PODS, pod)))
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
            "preconditions": {"uid": "pod-1", "resourceVersion": "9"}}  # fmt: skip
    assert api.writes == [("DELETE", "/api/v1/namespaces/default/pods/web-a", body)]


async def test_a_conflict_with_unchanged_owners_deletes_on_the_uid_alone() -> None:
    api = FakeApi()
    pod = owned_pod("web-a", "pod-1", rs("web", "rs-1"))
    api.put(PODS, pod)
    api.conflicts = 1  # a status update raced the delete
    gc = collector(api, {PODS: [pod]})
    await gc.sync(Work("delete", ref(PODS, pod)))
    assert [w[2]["preconditions"] for w in api.writes] == [
        {"uid": "pod-1", "resourceVersion": "9"}, {"uid": "pod-1"}]  # fmt: skip
    assert "/api/v1/namespaces/default/pods/web-a" not in api.objects


async def test_an_owner_in_another_namespace_is_absent_for_that_dependent_only() -> None:
    """Kubernetes looks a namespaced owner up in the dependent's namespace: a
    reference across namespaces is to an absent owner, and that absence is
    not the owner's own namespace's (kube keys absentOwnerCache by namespace)."""
    api = FakeApi()
    owner = rs("web", "rs-1", namespace="other")
    across = owned_pod("across", "pod-1", owner)  # in default
    own = owned_pod("own", "pod-2", owner)
    own["metadata"]["namespace"] = "other"
    for resource, obj in ((RSS, owner), (PODS, across), (PODS, own)):
        api.put(resource, obj)
    gc = collector(api, {PODS: [across, own], RSS: [owner]})
    assert Work("delete", ref(PODS, across)) in gc.queue._queue  # no owner here: judged
    await gc.sync(Work("delete", ref(PODS, across)))
    await gc.sync(Work("delete", ref(PODS, own)))
    assert [(w[0], w[1]) for w in api.writes] == [
        ("DELETE", "/api/v1/namespaces/default/pods/across")]  # fmt: skip
    assert "/api/v1/namespaces/other/pods/own" in api.objects


async def test_a_cached_live_owner_means_no_request_at_all() -> None:
    api = FakeApi()
    owner = rs("web", "rs-1")
    pod = owned_pod("web-a", "pod-1", owner)
    gc = collector(api, {PODS: [pod], RSS: [owner]})
    await gc.sync(Work("delete", ref(PODS, pod)))
    assert api.writes == []


async def test_orphaning_releases_every_dependent_then_the_finalizer() -> None:
    api = FakeApi()
    owner = rs("web", "rs-1", deletionTimestamp="2026-11-30T10:00:00Z",
               finalizers=["orphan"])  # fmt: skip
    other = rs("other", "rs-2")
    pods = [owned_pod("web-a", "pod-1", owner), owned_pod("web-b", "pod-2", owner, other)]
    for obj in (owner, other):
        api.put(RSS, obj)
    for pod in pods:
        api.put(PODS, pod)
    gc = collector(api, {PODS: pods, RSS: [owner, other]})
    assert Work("orphan", ref(RSS, owner)) in gc.queue._queue
    await gc.sync(Work("orphan", ref(RSS, owner)))
    assert [(w[0], w[1].rsplit("/", 1)[1]) for w in api.writes] == [
        ("PATCH", "web-a"), ("PATCH", "web-b"), ("PATCH", "web")]  # fmt: skip
    a = api.objects["/api/v1/namespaces/default/pods/web-a"]
    assert "ownerReferences" not in a["metadata"]
    b = api.objects["/api/v1/namespaces/default/pods/web-b"]
    assert [r["uid"] for r in b["metadata"]["ownerReferences"]] == ["rs-2"]
    released = api.objects["/apis/apps/v1/namespaces/default/replicasets/web"]
    assert "finalizers" not in released["metadata"]


async def test_a_foreground_owner_keeps_its_finalizer_while_a_blocking_pod_is_cached() -> None:
    api = FakeApi()
    owner = rs("web", "rs-1", deletionTimestamp="2026-11-30T10:00:00Z",
               finalizers=["foregroundDeletion"])  # fmt: skip
    pod = owned_pod("web-a", "pod-1", owner)
    api.put(RSS, owner)
    gc = collector(api, {PODS: [pod], RSS: [owner]})  # the pod is gone, the cache lags
    await gc.sync(Work("delete", ref(RSS, owner)))
    assert api.writes == []
    assert Work("delete", ref(PODS, pod)) in gc.queue._queue  # woken: it should go
    # Once the cache saw the pod go, the finalizer comes off.
    gc._factory.informer("", "v1", "pods")._delete(pod)
    await gc.sync(Work("delete", ref(RSS, owner)))
    assert api.writes[-1][0] == "PATCH"
    assert "finalizers" not in api.objects[
        "/apis/apps/v1/namespaces/default/replicasets/web"]["metadata"]  # fmt: skip


async def test_a_dependent_that_stops_naming_a_foreground_owner_wakes_it() -> None:
    # The owner may have been looked at while this dependent still blocked it;
    # nothing else would bring it back, and it would wait for ever (a flaky test).
    api = FakeApi()
    owner = rs("web", "rs-1", deletionTimestamp="2026-11-30T10:00:00Z",
               finalizers=["foregroundDeletion"])  # fmt: skip
    other = rs("keep", "rs-2")
    pod = owned_pod("shared", "pod-1", owner, other)
    gc = collector(api, {PODS: [pod], RSS: [owner, other]})
    while len(gc.queue):  # what the caches' first sight queued is taken and done
        gc.queue.done(await gc.queue.get())
    released = owned_pod("shared", "pod-1", other, rv="10")
    gc._factory.informer("", "v1", "pods")._upsert(released)
    assert Work("delete", ref(RSS, owner)) in gc.queue._queue
    assert Work("delete", ref(RSS, other)) not in gc.queue._queue  # not deleting: left alone


GIZMOS = Resource("example.com", "v1", "gizmos", "Gizmo", True)
VERBS = ["delete", "get", "list", "watch"]


async def test_an_owner_of_a_kind_not_served_yet_is_decided_after_discovery() -> None:
    api = FakeApi()
    pod = owned_pod("web-a", "pod-1")
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "example.com/v1", "kind": "Gizmo", "name": "g", "uid": "gizmo-1"}
    ]
    api.put(PODS, pod)
    gc = collector(api, {PODS: [pod]})
    await gc.sync(Work("delete", ref(PODS, pod)))
    assert api.writes == []  # unknown: no decision
    # The CRD is served now (and there is no such gizmo).
    api.objects["/api/v1"] = {
        "resources": [{"name": "pods", "kind": "Pod", "namespaced": True, "verbs": VERBS}]
    }
    api.objects["/apis"] = {
        "groups": [{"name": "example.com", "preferredVersion": {"groupVersion": "example.com/v1"}}]
    }
    api.objects["/apis/example.com/v1"] = {
        "resources": [{"name": "gizmos", "kind": "Gizmo", "namespaced": True, "verbs": VERBS}]
    }
    await gc.discover()
    assert gc._kinds[("example.com", "Gizmo")] == GIZMOS
    work = Work("delete", ref(PODS, pod))
    assert work in gc.queue._queue
    await gc.sync(work)
    assert [w[:2] for w in api.writes] == [("DELETE", "/api/v1/namespaces/default/pods/web-a")]
