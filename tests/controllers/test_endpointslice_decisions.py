"""The EndpointSlice controller's pure decisions."""

from __future__ import annotations

import itertools
from typing import Any

from kybernetes.controllers.endpoints_decisions import HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME
from kybernetes.controllers.endpointslice import SliceTracker
from kybernetes.controllers.endpointslice_decisions import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SlicePlan,
    desired_endpoints,
    endpoint_ports,
    reconcile,
    slice_labels,
)
from tests.controllers.test_endpoints_decisions import pod, service

Obj = dict[str, Any]
NODES = {"node-1": {"metadata": {"name": "node-1",
                                 "labels": {"topology.kubernetes.io/zone": "zone-a"}}},
         "node-2": {"metadata": {"name": "node-2"}}}  # fmt: skip
_names = itertools.count()


def pods(count: int, *, start: int = 0, ready: bool = True) -> list[Obj]:
    return [pod(f"p{i:04d}", f"10.1.{i // 250}.{i % 250 + 1}", ready=ready)
            for i in range(start, start + count)]  # fmt: skip


def store(plan: SlicePlan, existing: list[Obj]) -> list[Obj]:
    """What the API holds after `plan`: created slices get a name and uid."""
    gone = {s["metadata"]["name"] for s in plan.delete}
    updated = {s["metadata"]["name"]: s for s in plan.update}
    result = [updated.get(s["metadata"]["name"], s) for s in existing
              if s["metadata"]["name"] not in gone]  # fmt: skip
    for eps in plan.create:
        n = next(_names)
        meta = {**eps["metadata"], "name": f"web-{n}", "uid": f"slice-{n}"}
        result.append({**eps, "metadata": meta})
    return result


def sync(svc: Obj, existing: list[Obj], pod_list: list[Obj], **kw: Any) -> tuple[
        SlicePlan, list[Obj]]:  # fmt: skip
    plan = reconcile(svc, existing, desired_endpoints(svc, pod_list, NODES), **kw)
    return plan, store(plan, existing)


def names(eps: Obj) -> list[str]:
    return [e["targetRef"]["name"] for e in eps["endpoints"]]


def test_an_endpoint_carries_conditions_node_zone_and_pod() -> None:
    svc = service()
    plan, _ = sync(svc, [], [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False, node="node-2"),
                             pod("c", "10.0.0.3", deleting=True)])  # fmt: skip
    (eps,) = plan.create
    by_name = {e["targetRef"]["name"]: e for e in eps["endpoints"]}
    assert by_name["a"] == {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "nodeName": "node-1", "zone": "zone-a",
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"},
    }  # fmt: skip
    assert by_name["b"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert "zone" not in by_name["b"]
    # Terminating pods stay, serving but not ready.
    assert by_name["c"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    # publishNotReadyAddresses: everything ready.
    plan, _ = sync(service(publish=True), [], [pod("c", "10.0.0.3", deleting=True, ready=False)])
    assert plan.create[0]["endpoints"][0]["conditions"] == {
        "ready": True, "serving": False, "terminating": True}  # fmt: skip


def test_a_new_slice_is_labelled_owned_and_named_after_the_service() -> None:
    svc = service(labels={"team": "a", SERVICE_NAME_LABEL: "spoof"})
    plan, _ = sync(svc, [], [pod("a", "10.0.0.1")], trigger_time="2026-11-30T09:00:00Z")
    (eps,) = plan.create
    meta = eps["metadata"]
    assert meta["generateName"] == "web-" and "name" not in meta
    assert meta["labels"] == {"team": "a", SERVICE_NAME_LABEL: "web",
                              MANAGED_BY_LABEL: "endpointslice-controller.k8s.io"}  # fmt: skip
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": "svc-uid", "controller": True,
                                        "blockOwnerDeletion": True}]  # fmt: skip
    assert meta["annotations"] == {LAST_CHANGE_TRIGGER_TIME: "2026-11-30T09:00:00Z"}
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
    assert slice_labels(service(cluster_ip="None"))[HEADLESS_LABEL] == ""


def test_ports_always_have_a_name_and_keep_app_protocol() -> None:
    svc = service(
        [
            {"port": 80, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"},
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
        ]
    )
    assert endpoint_ports(svc, pod("a", "10.0.0.1")) == [
        {"name": "", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
    ]


def test_pods_resolving_named_ports_differently_get_different_slices() -> None:
    svc = service([{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    a = pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}])
    b = pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}])
    c = pod("c", "10.0.0.3")  # no such port: an endpoint with no ports
    plan, _ = sync(svc, [], [a, b, c])
    by_port = {tuple(p["port"] for p in s["ports"]): names(s) for s in plan.create}
    assert by_port == {(8080,): ["a"], (9090,): ["b"], (): ["c"]}


def test_at_most_max_per_slice_and_a_change_rewrites_one_slice() -> None:
    svc = service()
    plan, slices = sync(svc, [], pods(250))
    assert sorted(len(s["endpoints"]) for s in plan.create) == [50, 100, 100]
    # Nothing changed: nothing to do.
    plan, slices = sync(svc, slices, pods(250))
    assert not plan
    # One pod not ready: exactly the slice holding it is updated.
    changed = pods(250)
    changed[120] = pod("p0120", changed[120]["status"]["podIP"], ready=False)
    plan, slices = sync(svc, slices, changed)
    assert not plan.create and not plan.delete and len(plan.update) == 1
    assert "p0120" in names(plan.update[0])
    assert plan.update[0]["metadata"]["name"] in {s["metadata"]["name"] for s in slices}


def test_new_endpoints_fill_slices_being_written_then_the_best_fit() -> None:
    svc = service()
    _, slices = sync(svc, [], pods(150))  # 100 + 50
    # 10 pods gone from the full slice and 20 new ones: 10 refill the slice being written
    # anyway, the other 10 go to the unchanged slice (not to a new one).
    survivors = [p for p in pods(150) if p["metadata"]["name"] not in {f"p{i:04d}" for i in
                                                                     range(10)}]  # fmt: skip
    plan, slices = sync(svc, slices, survivors + pods(20, start=1000))
    assert not plan.create and not plan.delete
    assert sorted(len(s["endpoints"]) for s in plan.update) == [60, 100]
    # 30 new ones, no slice being written: the one they fit best in takes them.
    plan, slices = sync(svc, slices, survivors + pods(20, start=1000) + pods(30, start=2000))
    assert not plan.create and len(plan.update) == 1 and len(plan.update[0]["endpoints"]) == 90
    # 20 more fit nowhere: a new slice.
    more = survivors + pods(20, start=1000) + pods(30, start=2000) + pods(20, start=3000)
    plan, slices = sync(svc, slices, more)
    assert not plan.update and [len(s["endpoints"]) for s in plan.create] == [20]
    assert sorted(len(s["endpoints"]) for s in slices) == [20, 90, 100]


def test_emptied_slices_are_deleted_or_reused_for_new_ones() -> None:
    svc = service()
    _, slices = sync(svc, [], pods(150))
    plan, slices = sync(svc, slices, pods(50, start=100))  # the full slice empties
    assert not plan.create and len(plan.delete) == 1 and not plan.update
    assert [len(s["endpoints"]) for s in slices] == [50]
    # Ports change: the old slice is not deleted and a new one created, it is rewritten.
    svc2 = service([{"port": 80, "targetPort": 9999, "protocol": "TCP"}])
    plan, slices = sync(svc2, slices, pods(50, start=100))
    assert not plan.create and not plan.delete and len(plan.update) == 1
    assert plan.update[0]["ports"][0]["port"] == 9999


def test_no_pods_keeps_one_placeholder_slice() -> None:
    svc = service()
    plan, slices = sync(svc, [], [])
    (placeholder,) = plan.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    plan, slices = sync(svc, slices, [])
    assert not plan  # the placeholder stays as it is
    # Pods arrive: the placeholder is rewritten, not replaced.
    plan, slices = sync(svc, slices, pods(3))
    assert not plan.create and not plan.delete and len(plan.update) == 1
    # They leave: back to a placeholder, again by rewriting.
    plan, slices = sync(svc, slices, [])
    assert not plan.create and not plan.delete
    assert plan.update[0]["endpoints"] == [] and plan.update[0]["ports"] == []


def test_slices_of_another_owner_are_deleted() -> None:
    svc = service()
    _, slices = sync(svc, [], pods(3))
    reborn = {**svc, "metadata": {**svc["metadata"], "uid": "new-uid"}}
    plan, slices = sync(reborn, slices, pods(3))
    assert len(plan.delete) == 1 and len(plan.create) == 1
    assert plan.create[0]["metadata"]["ownerReferences"][0]["uid"] == "new-uid"


def test_label_changes_of_the_service_reach_its_slices() -> None:
    _, slices = sync(service(), [], pods(3))
    plan, _ = sync(service(labels={"team": "b"}), slices, pods(3))
    assert len(plan.update) == 1 and plan.update[0]["metadata"]["labels"]["team"] == "b"
    assert plan.update[0]["endpoints"] == slices[0]["endpoints"]


def test_pods_on_unknown_nodes_are_left_out_and_reported() -> None:
    svc = service()
    desired = desired_endpoints(svc, [pod("a", "10.0.0.1", node="gone")], NODES)
    assert desired.missing_nodes and not any(desired.endpoints.values())
    desired = desired_endpoints(service(publish=True), [pod("a", "10.0.0.1", node="gone")], NODES)
    assert not desired.missing_nodes and any(desired.endpoints.values())


def test_a_deleting_service_gets_no_new_slices() -> None:
    svc = service()
    svc["metadata"]["deletionTimestamp"] = "2026-11-30T10:00:00Z"
    plan, _ = sync(svc, [], pods(3))
    assert not plan.create


def tracked(uid: str, generation: int) -> Obj:
    return {"metadata": {"uid": uid, "generation": generation}}


def test_the_tracker_knows_a_cache_that_lags_our_own_writes() -> None:
    tracker = SliceTracker()
    assert not tracker.stale("ns/web", [tracked("a", 1)])  # nothing written yet
    tracker.written("ns/web", tracked("a", 2))
    assert tracker.stale("ns/web", [tracked("a", 1)])  # an older generation cached
    assert not tracker.stale("ns/web", [tracked("a", 2)])
    assert tracker.is_own_change("ns/web", tracked("a", 2))
    assert not tracker.is_own_change("ns/web", tracked("a", 3))  # someone else's write
    tracker.written("ns/web", tracked("b", 1))
    assert tracker.stale("ns/web", [tracked("a", 2)])  # created, not cached yet
    tracker.deleted("ns/web", tracked("a", 2))
    assert tracker.stale("ns/web", [tracked("a", 2), tracked("b", 1)])  # deleted, still cached
    assert not tracker.stale("ns/web", [tracked("b", 1)])
    assert tracker.deletion_observed("ns/web", tracked("a", 2))  # our own delete
    assert not tracker.deletion_observed("ns/web", tracked("b", 1))  # someone else's
    assert not tracker.stale("ns/web", [])
    tracker.written("ns/web", tracked("c", 1))
    tracker.forget("ns/web")
    assert not tracker.stale("ns/web", [])
