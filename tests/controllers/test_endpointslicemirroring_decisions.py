"""The EndpointSlice mirroring controller's pure decisions."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.endpointslicemirroring_decisions import (
    SKIP_MIRROR_LABEL,
    address_type,
    desired_mirror,
    reconcile_mirror,
    should_mirror,
)

Obj = dict[str, Any]
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


def endpoints(subsets: list[Obj], **meta: Any) -> Obj:
    return {"metadata": {"name": "db", "namespace": "ns", "uid": "ep-uid", **meta},
            "subsets": subsets}  # fmt: skip


def stored(eps: Obj, name: str, rv: str = "1") -> Obj:
    meta = {**eps["metadata"], "name": name, "uid": f"uid-{name}", "resourceVersion": rv}
    meta.pop("generateName", None)
    return {**eps, "metadata": meta}


def test_what_is_mirrored() -> None:
    assert should_mirror(endpoints([]))
    assert not should_mirror(endpoints([], labels={SKIP_MIRROR_LABEL: "true"}))
    assert not should_mirror(endpoints([], annotations={
        "control-plane.alpha.kubernetes.io/leader": "{}"}))  # fmt: skip
    assert not should_mirror(None)
    assert address_type("10.0.0.1") == "IPv4" and address_type("fd00::1") == "IPv6"
    assert address_type("not-an-ip") is None


def test_a_subset_becomes_one_slice_owned_by_the_endpoints() -> None:
    ep = endpoints([{
        "addresses": [{"ip": "10.0.0.2", "nodeName": "n1"}, {"ip": "10.0.0.1"}],
        "notReadyAddresses": [{"ip": "10.0.0.3", "hostname": "h"}],
        "ports": [{"port": 5432}],
    }], labels={"team": "db", MANAGED_BY: "someone"},
        annotations={"note": "x", TRIGGER: "t"})  # fmt: skip
    plan = reconcile_mirror(ep, [], desired_mirror(ep))
    (eps,) = plan.create
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "", "port": 5432, "protocol": "TCP"}]
    assert eps["endpoints"] == [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": True}, "nodeName": "n1"},
        {"addresses": ["10.0.0.3"], "conditions": {"ready": False}, "hostname": "h"},
    ]
    meta = eps["metadata"]
    assert meta["generateName"] == "db-"
    assert meta["labels"] == {"team": "db", "kubernetes.io/service-name": "db",
                              MANAGED_BY: "endpointslicemirroring-controller.k8s.io"}  # fmt: skip
    assert meta["annotations"] == {"note": "x"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Endpoints", "name": "db",
                                        "uid": "ep-uid", "controller": True,
                                        "blockOwnerDeletion": True}]  # fmt: skip
    # Mirrored already: nothing to do.
    assert not reconcile_mirror(ep, [stored(eps, "db-a")], desired_mirror(ep))


def test_address_types_and_ports_make_separate_slices_and_invalid_ips_are_counted() -> None:
    ep = endpoints([
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}, {"ip": "bogus"}],
         "ports": [{"name": "a", "port": 1}]},
        {"addresses": [{"ip": "10.0.0.9"}], "ports": [{"name": "b", "port": 2, "protocol": "UDP"}]},
    ])  # fmt: skip
    mirror = desired_mirror(ep)
    assert mirror.invalid == 1 and mirror.skipped == 0
    plan = reconcile_mirror(ep, [], mirror)
    shapes = sorted((s["addressType"], s["ports"][0]["name"], len(s["endpoints"]))
                    for s in plan.create)  # fmt: skip
    assert shapes == [("IPv4", "a", 1), ("IPv4", "b", 1), ("IPv6", "a", 1)]


def test_at_most_max_per_subset_are_mirrored() -> None:
    ep = endpoints(
        [
            {
                "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)],
                "notReadyAddresses": [{"ip": "10.0.1.1"}],
                "ports": [{"port": 80}],
            }
        ]
    )
    mirror = desired_mirror(ep, max_per_subset=4)
    assert mirror.skipped == 2
    (eps,) = reconcile_mirror(ep, [], mirror).create
    assert len(eps["endpoints"]) == 4


def test_changes_rewrite_the_slice_and_extra_slices_go() -> None:
    ep = endpoints([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}])
    (eps,) = reconcile_mirror(ep, [], desired_mirror(ep)).create
    first, duplicate = stored(eps, "db-a", "5"), stored(eps, "db-b")
    grown = endpoints([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                        "ports": [{"port": 80}]}])  # fmt: skip
    plan = reconcile_mirror(grown, [first, duplicate], desired_mirror(grown))
    assert [s["metadata"]["name"] for s in plan.delete] == ["db-b"]
    (update,) = plan.update
    assert update["metadata"]["name"] == "db-a" and update["metadata"]["resourceVersion"] == "5"
    assert len(update["endpoints"]) == 2
    # A port change: the old slice is rewritten with the new ports rather than replaced.
    moved = endpoints([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 81}]}])
    plan = reconcile_mirror(moved, [first], desired_mirror(moved))
    assert not plan.create and not plan.delete
    assert plan.update[0]["metadata"]["name"] == "db-a" and plan.update[0]["ports"][0]["port"] == 81
    # Emptied: the slice goes.
    empty = endpoints([])
    plan = reconcile_mirror(empty, [first], desired_mirror(empty))
    assert plan.delete == [first] and not plan.create and not plan.update
