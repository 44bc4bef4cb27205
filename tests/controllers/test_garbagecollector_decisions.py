"""The garbage collector's pure decisions and its ownership graph."""

from __future__ import annotations

from typing import Any

from kybernetes.api.patch.jsonpatch import apply_json_patch
from kybernetes.controllers.garbagecollector_decisions import (
    Delete,
    Nothing,
    ObjectRef,
    OwnerState,
    PatchOwnerRefs,
    Resource,
    blocking_dependents,
    collectable_resources,
    decide_dependent,
    decide_foreground_owner,
    finalizer_patch,
    is_deleting_dependents,
    is_orphaning,
    owner_refs_patch,
    owner_state,
    without_owner,
)
from kybernetes.controllers.ownergraph import OwnershipGraph

Obj = dict[str, Any]
ABSENT, WAITING, SOLID = OwnerState.ABSENT, OwnerState.WAITING, OwnerState.SOLID


def ref(uid: str, *, block: bool = False, controller: bool = False) -> Obj:
    out: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{uid}", "uid": uid}
    if block:
        out["blockOwnerDeletion"] = True
    if controller:
        out["controller"] = True
    return out


def obj(uid: str, *owners: Obj, finalizers: list[str] | None = None,
        deleting: bool = False) -> Obj:  # fmt: skip
    meta: Obj = {"name": f"o-{uid}", "namespace": "default", "uid": uid, "resourceVersion": "7"}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T10:00:00Z"
    return {"metadata": meta}


# -- owner states ------------------------------------------------------------------


def test_owner_state() -> None:
    assert owner_state(None, "a") is ABSENT
    assert owner_state(obj("b"), "a") is ABSENT  # same name, another object: gone
    assert owner_state(obj("a"), "a") is SOLID
    assert owner_state(obj("a", deleting=True, finalizers=["orphan"]), "a") is SOLID
    assert owner_state(obj("a", deleting=True, finalizers=["foregroundDeletion"]), "a") is WAITING
    # The finalizer alone (not being deleted yet) is not waiting.
    assert owner_state(obj("a", finalizers=["foregroundDeletion"]), "a") is SOLID


def test_deletion_flags() -> None:
    assert is_deleting_dependents(obj("a", deleting=True, finalizers=["foregroundDeletion"]))
    assert not is_deleting_dependents(obj("a", deleting=True))
    assert is_orphaning(obj("a", deleting=True, finalizers=["x", "orphan"]))
    assert not is_orphaning(obj("a", finalizers=["orphan"]))


# -- attemptToDelete ------------------------------------------------------------------


def test_a_dependent_of_a_live_owner_stays() -> None:
    assert decide_dependent(obj("p", ref("a")), {"a": SOLID}, []) == Nothing()


def test_a_dependent_whose_only_owner_is_gone_is_deleted_in_the_background() -> None:
    assert decide_dependent(obj("p", ref("a")), {"a": ABSENT}, []) == Delete("Background")


def test_its_own_gc_finalizer_names_the_policy() -> None:
    orphaning = obj("p", ref("a"), finalizers=["orphan"])
    assert decide_dependent(orphaning, {"a": ABSENT}, []) == Delete("Orphan")
    foreground = obj("p", ref("a"), finalizers=["foregroundDeletion"])
    assert decide_dependent(foreground, {"a": ABSENT}, []) == Delete("Foreground")


def test_with_another_live_owner_only_the_dangling_reference_goes() -> None:
    item = obj("p", ref("a"), ref("b", controller=True))
    action = decide_dependent(item, {"a": ABSENT, "b": SOLID}, [])
    assert action == PatchOwnerRefs([ref("a"), ref("b", controller=True)],
                                    [ref("b", controller=True)])  # fmt: skip
    # A foreground-deleting owner is let go too, so it does not wait for this one.
    action = decide_dependent(item, {"a": WAITING, "b": SOLID}, [])
    assert isinstance(action, PatchOwnerRefs)
    assert action.refs == [ref("b", controller=True)]


def test_an_owner_of_unknown_state_means_no_decision_yet() -> None:
    item = obj("p", ref("a"), ref("b"))
    assert decide_dependent(item, {"a": ABSENT}, []) == Nothing()


def test_a_dependent_being_deleted_or_without_owners_is_left_alone() -> None:
    assert decide_dependent(obj("p", ref("a"), deleting=True), {"a": ABSENT}, []) == Nothing()
    assert decide_dependent(obj("p"), {}, []) == Nothing()


def test_waiting_owner_leaf_and_non_leaf_dependents() -> None:
    # A leaf goes in the background; one with dependents goes in the
    # foreground, so that the waiting owner also waits for the grandchildren.
    item = obj("rs", ref("deploy", block=True))
    assert decide_dependent(item, {"deploy": WAITING}, []) == Delete("Background")
    pod = obj("pod", ref("rs", block=True))
    assert decide_dependent(item, {"deploy": WAITING}, [pod]) == Delete("Foreground")


def test_a_cycle_is_broken_by_unblocking_then_deleting_in_the_foreground() -> None:
    item = obj("p2", ref("p1", block=True))
    waiting_dependent = obj("p3", ref("p2", block=True), deleting=True,
                            finalizers=["foregroundDeletion"])  # fmt: skip
    action = decide_dependent(item, {"p1": WAITING}, [waiting_dependent])
    assert isinstance(action, Delete)
    assert action.propagation == "Foreground"
    assert action.unblock_first is not None
    assert action.unblock_first.refs == [{**ref("p1"), "blockOwnerDeletion": False}]


# -- foreground owners ------------------------------------------------------------------


def test_foreground_owner_waits_only_for_blocking_dependents() -> None:
    owner = obj("rs", deleting=True, finalizers=["foregroundDeletion"])
    blocking = obj("p1", ref("rs", block=True))
    going = obj("p2", ref("rs", block=True), deleting=True)
    loose = obj("p3", ref("rs"))
    other = obj("p4", ref("zz", block=True))
    assert blocking_dependents("rs", [blocking, going, loose, other]) == [blocking, going]
    decision = decide_foreground_owner(owner, [blocking, going, loose])
    assert not decision.remove_finalizer
    assert decision.wake == [blocking, going]
    # A dependent that waits for its own dependents is not woken (it is on its way).
    nested = obj("rs2", ref("rs", block=True), deleting=True, finalizers=["foregroundDeletion"])
    assert decide_foreground_owner(owner, [nested]).wake == []
    assert decide_foreground_owner(owner, [loose, other]).remove_finalizer
    assert decide_foreground_owner(owner, []).remove_finalizer


# -- orphaning and the patches --------------------------------------------------------------


def test_orphaning_patches_out_exactly_that_owner() -> None:
    dependent = obj("p", ref("a", controller=True), ref("b"))
    kept = without_owner(dependent["metadata"]["ownerReferences"], "a")
    assert kept == [ref("b")]
    patched = apply_json_patch(dependent, owner_refs_patch(dependent, kept))
    assert patched["metadata"]["ownerReferences"] == [ref("b")]
    # The last reference removed: the field goes, as in Kubernetes.
    lone = obj("q", ref("a"))
    patched = apply_json_patch(lone, owner_refs_patch(lone, []))
    assert "ownerReferences" not in patched["metadata"]


def test_patches_are_guarded_by_uid_and_the_value_they_replace() -> None:
    dependent = obj("p", ref("a"))
    ops = owner_refs_patch(dependent, [])
    assert ops[0] == {"op": "test", "path": "/metadata/uid", "value": "p"}
    assert ops[1] == {"op": "test", "path": "/metadata/ownerReferences", "value": [ref("a")]}
    owner = obj("rs", deleting=True, finalizers=["x", "foregroundDeletion"])
    patched = apply_json_patch(owner, finalizer_patch(owner, "foregroundDeletion"))
    assert patched["metadata"]["finalizers"] == ["x"]
    last = obj("rs", deleting=True, finalizers=["orphan"])
    patched = apply_json_patch(last, finalizer_patch(last, "orphan"))
    assert "finalizers" not in patched["metadata"]


# -- discovery ------------------------------------------------------------------------------


def test_collectable_resources() -> None:
    entries = [
        {"name": "pods", "kind": "Pod", "namespaced": True,
         "verbs": ["create", "delete", "deletecollection", "get", "list", "watch"]},
        {"name": "pods/status", "kind": "Pod", "namespaced": True, "verbs": ["get"]},
        {"name": "events", "kind": "Event", "namespaced": True,
         "verbs": ["delete", "list", "watch"]},
        {"name": "bindings", "kind": "Binding", "namespaced": True, "verbs": ["create"]},
        {"name": "nodes", "kind": "Node", "namespaced": False,
         "verbs": ["delete", "get", "list", "watch"]},
    ]  # fmt: skip
    assert collectable_resources("v1", entries) == [
        Resource("", "v1", "pods", "Pod", True),
        Resource("", "v1", "nodes", "Node", False),
    ]
    crontabs = [{"name": "crontabs", "kind": "CronTab", "namespaced": True,
                 "verbs": ["delete", "list", "watch"]}]  # fmt: skip
    assert collectable_resources("stable.example.com/v1", crontabs) == [
        Resource("stable.example.com", "v1", "crontabs", "CronTab", True)
    ]
    assert collectable_resources("events.k8s.io/v1", entries[2:3]) == []


# -- the graph ------------------------------------------------------------------------------

PODS = Resource("", "v1", "pods", "Pod", True)


def node(uid: str) -> ObjectRef:
    return ObjectRef(PODS, "default", f"p-{uid}", uid)


def test_graph_keeps_dependents_of_owners_it_never_saw_or_forgot() -> None:
    graph = OwnershipGraph()
    graph.observe(node("p1"), ["rs"])
    graph.observe(node("p2"), ["rs", "rs"])  # a repeated reference counts once
    assert graph.dependents("rs") == [node("p1"), node("p2")]
    assert graph.locate("rs") is None
    graph.observe(node("rs"), [])
    graph.forget("rs")
    assert graph.dependents("rs") == [node("p1"), node("p2")]
    # An owner reference removed or replaced moves the dependent.
    graph.observe(node("p2"), ["other"])
    assert graph.dependents("rs") == [node("p1")]
    assert graph.dependents("other") == [node("p2")]
    graph.forget("p1")
    assert graph.dependents("rs") == []
    assert graph.owners("p2") == ("other",)
    assert len(graph) == 1
