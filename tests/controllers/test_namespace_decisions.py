"""The namespace controller's content plan and conditions; the ServiceAccount decision."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.garbagecollector_decisions import Resource
from kybernetes.controllers.namespace_decisions import (
    CONDITION_TYPES,
    Remaining,
    content_conditions,
    deletable_namespaced_resources,
    grace_estimate,
    is_finalized,
    unexpected_items_error,
    with_conditions,
    without_finalizer,
)
from kybernetes.controllers.serviceaccount import missing_service_accounts

Obj = dict[str, Any]
PODS = Resource("", "v1", "pods", "Pod", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)
ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def test_content_plan_is_every_deletable_namespaced_resource_pods_first() -> None:
    lists = [
        ("v1", [
            {"name": "configmaps", "kind": "ConfigMap", "namespaced": True, "verbs": ALL},
            {"name": "pods", "kind": "Pod", "namespaced": True, "verbs": ALL},
            {"name": "pods/status", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
            {"name": "nodes", "kind": "Node", "namespaced": False, "verbs": ALL},
            {"name": "bindings", "kind": "Binding", "namespaced": True, "verbs": ["create"]},
        ]),
        ("events.k8s.io/v1", [{"name": "events", "kind": "Event", "namespaced": True,
                               "verbs": ALL}]),
        ("stable.example.com/v1", [{"name": "crontabs", "kind": "CronTab", "namespaced": True,
                                    "verbs": ["delete", "get", "list"]}]),
    ]  # fmt: skip
    assert deletable_namespaced_resources(lists) == [
        PODS,
        Resource("", "v1", "configmaps", "ConfigMap", True),
        Resource("stable.example.com", "v1", "crontabs", "CronTab", True),
    ]


def pod(grace: int | None, phase: str = "Running") -> Obj:
    meta: Obj = {"name": "p", "deletionTimestamp": "2026-11-30T10:00:30Z"}
    if grace is not None:
        meta["deletionGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": {"terminationGracePeriodSeconds": 30},
            "status": {"phase": phase}}  # fmt: skip


def test_grace_estimate_counts_from_the_namespace_deletion() -> None:
    deleted = "2026-11-30T10:00:00Z"
    assert grace_estimate([pod(30)], deleted_at=deleted, now="2026-11-30T10:00:10Z") == 30
    assert grace_estimate([pod(5), pod(20)], deleted_at=deleted, now=deleted) == 20
    # The pod's own terminationGracePeriodSeconds when it was not deleted gracefully yet.
    assert grace_estimate([pod(None)], deleted_at=deleted, now=deleted) == 30
    # Once that much time passed, nothing is excused any more.
    assert grace_estimate([pod(30)], deleted_at=deleted, now="2026-11-30T10:00:31Z") == 0
    assert grace_estimate([pod(30, "Succeeded")], deleted_at=deleted, now=deleted) == 0


def test_remaining_content_conditions_in_kubernetes_words() -> None:
    left = Remaining()
    left.add(PODS, [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}])
    left.add(DEPLOYMENTS, [{"metadata": {"name": "d", "finalizers": ["foregroundDeletion"]}}])
    left.add(DEPLOYMENTS, [])
    now = "2026-11-30T10:00:00Z"
    conditions = content_conditions(discovery_error="", delete_errors=[], left=left, now=now)
    assert conditions == [
        {"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": now,
         "reason": "SomeResourcesRemain",
         "message": "Some resources are remaining: deployments.apps has 1 resource instances, "
                    "pods. has 2 resource instances"},
        {"type": "NamespaceFinalizersRemaining", "status": "True", "lastTransitionTime": now,
         "reason": "SomeFinalizersRemain",
         "message": "Some content in the namespace has finalizers remaining: "
                    "foregroundDeletion in 1 resource instances"},
    ]  # fmt: skip
    failed = content_conditions(discovery_error="", left=Remaining(), now=now,
                                delete_errors=[unexpected_items_error("ns", PODS)])  # fmt: skip
    assert failed[0]["reason"] == "ContentDeletionFailed"
    assert failed[0]["message"] == (
        "Failed to delete all resource types, 1 remaining: unexpected items still remain in "
        "namespace: ns for gvr: /v1, Resource=pods"
    )


def test_with_conditions_keeps_every_type_and_unchanged_transition_times() -> None:
    first = with_conditions([], [], now="t1")
    assert [c["type"] for c in first] == list(CONDITION_TYPES)
    assert all(c["status"] == "False" for c in first)
    assert first[3]["reason"] == "ContentRemoved"
    assert first[3]["message"] == "All content successfully removed"
    failing = {"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": "t2",
               "reason": "SomeResourcesRemain", "message": "m"}  # fmt: skip
    second = with_conditions(first, [failing], now="t2")
    assert second[3] == failing
    assert second[0]["lastTransitionTime"] == "t1"  # unchanged: its time stays
    assert with_conditions(second, [dict(failing, lastTransitionTime="t3")], now="t3") == second


def test_finalize_body() -> None:
    ns = {"metadata": {"name": "x"}, "spec": {"finalizers": ["kubernetes", "example.com/f"]}}
    assert not is_finalized(ns)
    done = without_finalizer(ns)
    assert done["spec"]["finalizers"] == ["example.com/f"]
    assert is_finalized(done)
    assert ns["spec"]["finalizers"] == ["kubernetes", "example.com/f"]  # not mutated


def test_missing_service_accounts() -> None:
    active = {"metadata": {"name": "a"}, "status": {"phase": "Active"}}
    terminating = {"metadata": {"name": "a"}, "status": {"phase": "Terminating"}}
    assert missing_service_accounts(active, []) == ["default"]
    assert missing_service_accounts(active, ["default"]) == []
    assert missing_service_accounts(terminating, []) == []
    assert missing_service_accounts(None, []) == []
