"""DaemonSet decisions: eligibility, the pod of a node, manage, rolling steps, status."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.api.times import format_time
from kybernetes.controllers.daemonset import FailedPodBackoff
from kybernetes.controllers.daemonset_decisions import (
    daemon_pod,
    daemonset_status,
    manage,
    node_should_run,
    nodes_to_daemon_pods,
    rolling_update,
    seconds_until_available,
    target_node,
    update_budgets,
)
from kybernetes.controllers.history import HASH_LABEL

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
NEW, OLD = "newhash", "oldhash"


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def daemonset(spec: Obj | None = None, **pod_spec: Any) -> Obj:
    return {
        "metadata": {"name": "ds", "namespace": "default", "uid": "u1", "generation": 3},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                         "spec": {"containers": [{"name": "c", "image": "i"}], **pod_spec}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            **(spec or {}),
        },
    }  # fmt: skip


def pod(
    name: str, on: str, digest: str = NEW, *, ready: bool = True, ready_for: int = 3600,
    phase: str = "Running", created: int = 0, deleting: bool = False,
) -> Obj:  # fmt: skip
    since = format_time(NOW - datetime.timedelta(seconds=ready_for))
    born = format_time(NOW - datetime.timedelta(seconds=1000 - created))
    meta: Obj = {"name": name, "labels": {"app": "d", HASH_LABEL: digest},
                 "creationTimestamp": born}  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = format_time(NOW)
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": since}]  # fmt: skip
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [on]}]}]}}}  # fmt: skip
    return {"metadata": meta, "spec": {"affinity": affinity},
            "status": {"phase": phase, "conditions": conditions}}  # fmt: skip


SURGE = {"updateStrategy": {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}  # fmt: skip


def names(pods: Any) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


# -- eligibility ---------------------------------------------------------------------------


def taint(key: str, effect: str, value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize(
    ("the_node", "pod_spec", "expected"),
    [
        (node("n"), {}, (True, True)),
        (node("n", {"disk": "hdd"}), {"nodeSelector": {"disk": "ssd"}}, (False, False)),
        (node("n", {"disk": "ssd"}), {"nodeSelector": {"disk": "ssd"}}, (True, True)),
        (node("n"), {"nodeName": "other"}, (False, False)),
        # A NoSchedule taint keeps new pods away; running ones stay.
        (node("n", taints=[taint("dedicated", "NoSchedule", "db")]), {}, (False, True)),
        # A NoExecute taint evicts too.
        (node("n", taints=[taint("dedicated", "NoExecute", "db")]), {}, (False, False)),
        (node("n", taints=[taint("dedicated", "NoSchedule", "db")]),
         {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]},
         (True, True)),
        (node("n", taints=[taint("dedicated", "NoSchedule", "db")]),
         {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web"}]},
         (False, True)),
        (node("n", taints=[taint("anything", "NoExecute")]),
         {"tolerations": [{"operator": "Exists"}]}, (True, True)),
        # PreferNoSchedule never blocks.
        (node("n", taints=[taint("soft", "PreferNoSchedule")]), {}, (True, True)),
        # The DaemonSet defaults: cordoned, pressured, not-ready and unreachable nodes run daemons.
        (node("n", taints=[taint("node.kubernetes.io/unschedulable", "NoSchedule")]), {},
         (True, True)),
        (node("n", taints=[taint("node.kubernetes.io/disk-pressure", "NoSchedule")]), {},
         (True, True)),
        (node("n", taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]), {},
         (True, True)),
        (node("n", taints=[taint("node.kubernetes.io/unreachable", "NoExecute")]), {},
         (True, True)),
        # network-unavailable only for host-network daemons.
        (node("n", taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), {},
         (False, True)),
        (node("n", taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
         {"hostNetwork": True}, (True, True)),
    ],
)  # fmt: skip
def test_node_should_run(the_node: Obj, pod_spec: Obj, expected: tuple[bool, bool]) -> None:
    assert node_should_run(the_node, daemonset(**pod_spec)) == expected


def required(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}  # fmt: skip


@pytest.mark.parametrize(
    ("terms", "labels", "fits"),
    [
        ([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}],
         {"zone": "b"}, True),
        ([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}],
         {"zone": "b"}, False),
        ([{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}],
         {}, True),
        ([{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}], {"gpu": "1"}, True),
        ([{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}], {"gpu": "1"},
         False),
        ([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}],
         {"cores": "8"}, True),
        ([{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}],
         {"cores": "8"}, False),
        # Terms are ORed, expressions in a term ANDed; an empty term matches nothing.
        ([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
          {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}],
         {"zone": "a"}, True),
        ([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                {"key": "gpu", "operator": "Exists"}]}], {"zone": "a"}, False),
        ([{}], {"zone": "a"}, False),
        ([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}],
         {}, True),
        ([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n"]}]}],
         {}, False),
    ],
)  # fmt: skip
def test_required_node_affinity(terms: list[Obj], labels: dict[str, str], fits: bool) -> None:
    assert node_should_run(node("n", labels), daemonset(affinity=required(*terms)))[0] is fits


# -- the pod of a node ---------------------------------------------------------------------


def test_daemon_pod_is_pinned_by_affinity_and_labelled() -> None:
    preferred = [{"weight": 1, "preference": {"matchExpressions": [
        {"key": "z", "operator": "Exists"}]}}]  # fmt: skip
    affinity = required({"matchExpressions": [{"key": "zone", "operator": "In",
                                               "values": ["a"]}]})  # fmt: skip
    affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    ds = daemonset(affinity=affinity, tolerations=[
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 5}])  # fmt: skip
    made = daemon_pod(ds, "node-7", digest="h1")
    meta, spec = made["metadata"], made["spec"]
    assert meta["generateName"] == "ds-" and "name" not in meta
    assert meta["labels"] == {"app": "d", HASH_LABEL: "h1", "pod-template-generation": "3"}
    assert meta["ownerReferences"][0]["kind"] == "DaemonSet"
    assert meta["ownerReferences"][0]["controller"] is True
    assert "nodeName" not in spec
    node_affinity = spec["affinity"]["nodeAffinity"]
    assert node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]}  # fmt: skip
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    # The user's equal toleration is overwritten by the default (no tolerationSeconds), once.
    keys = [(t["key"], t["effect"]) for t in spec["tolerations"]]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    assert all("tolerationSeconds" not in t for t in spec["tolerations"])
    assert target_node(made) == "node-7"
    # The DaemonSet itself is untouched.
    assert "affinity" in ds["spec"]["template"]["spec"]
    assert len(ds["spec"]["template"]["spec"]["tolerations"]) == 1


def test_target_node_prefers_node_name() -> None:
    bound = pod("p", "n1")
    bound["spec"]["nodeName"] = "n2"
    assert target_node(bound) == "n2"
    assert target_node({"spec": {}}) == ""
    assert nodes_to_daemon_pods([bound, {"metadata": {"name": "x"}, "spec": {}}]) == {
        "n2": [bound]}  # fmt: skip


# -- manage --------------------------------------------------------------------------------


def plan_of(ds: Obj, nodes: list[Obj], pods: list[Obj], digest: str = NEW) -> Any:
    return manage(ds, nodes, nodes_to_daemon_pods(pods), digest=digest, now=NOW)


def test_manage_creates_on_missing_nodes_and_deletes_where_ineligible() -> None:
    nodes = [node("a"), node("b"), node("c", taints=[taint("x", "NoExecute")])]
    bound_to_gone = pod("py", "gone")
    bound_to_gone["spec"]["nodeName"] = "gone"
    pods = [pod("pa", "a"), pod("pc", "c"), pod("pz", "gone"), bound_to_gone]
    plan = plan_of(daemonset(), nodes, pods)
    assert plan.create == ("b",)
    # An evicting taint; an unscheduled pod for a node that no longer exists (a bound
    # one is left to the pod garbage collector).
    assert names(plan.delete) == ["pc", "pz"]


def test_manage_keeps_pods_on_no_schedule_tainted_nodes_but_creates_none() -> None:
    nodes = [
        node("a", taints=[taint("x", "NoSchedule")]),
        node("b", taints=[taint("x", "NoSchedule")]),
    ]
    plan = plan_of(daemonset(), nodes, [pod("pa", "a")])
    assert plan.create == () and plan.delete == ()


def test_manage_waits_for_a_terminating_pod_before_replacing_it() -> None:
    plan = plan_of(daemonset(), [node("a")], [pod("pa", "a", deleting=True)])
    assert plan.create == () and plan.delete == ()


def test_manage_deletes_failed_pods_and_duplicates_keeping_the_oldest() -> None:
    pods = [pod("young", "a", created=5), pod("old", "a", created=1),
            pod("dead", "b", phase="Failed"), pod("done", "c", phase="Succeeded")]  # fmt: skip
    plan = plan_of(daemonset(), [node("a"), node("b"), node("c")], pods)
    assert names(plan.delete) == ["dead", "done", "young"]
    assert names(plan.failed) == ["dead"]


def test_manage_with_surge_keeps_old_until_new_is_available() -> None:
    ds = daemonset(SURGE)
    starting = [pod("old", "a", OLD, created=1), pod("new", "a", NEW, ready=False, created=2)]
    assert plan_of(ds, [node("a")], starting).delete == ()
    up = [pod("old", "a", OLD, created=1), pod("new", "a", NEW, created=2)]
    assert names(plan_of(ds, [node("a")], up).delete) == ["old"]
    # Without surge the younger one goes whatever its revision.
    assert names(plan_of(daemonset(), [node("a")], starting).delete) == ["new"]


# -- rolling updates -----------------------------------------------------------------------


def rolling(ds: Obj, nodes: list[Obj], pods: list[Obj], now: datetime.datetime = NOW) -> Any:
    return rolling_update(ds, nodes, nodes_to_daemon_pods(pods), digest=NEW, now=now)


NODES3 = [node("a"), node("b"), node("c")]


def test_rolling_update_deletes_old_pods_within_max_unavailable() -> None:
    old = [pod("pa", "a", OLD), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    assert names(rolling(daemonset(), NODES3, old).delete) == ["pa"]
    # One new pod not yet available uses the whole budget.
    step = [pod("na", "a", NEW, ready=False), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    assert rolling(daemonset(), NODES3, step).delete == ()
    # A node with no pod at all counts as unavailable too.
    assert rolling(daemonset(), NODES3, [pod("pb", "b", OLD), pod("pc", "c", OLD)]).delete == ()
    done = [pod("na", "a", NEW), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    assert names(rolling(daemonset(), NODES3, done).delete) == ["pb"]


def test_rolling_update_replaces_unavailable_old_pods_beyond_the_budget() -> None:
    pods = [pod("na", "a", NEW, ready=False), pod("pb", "b", OLD, ready=False),
            pod("pc", "c", OLD)]  # fmt: skip
    assert names(rolling(daemonset(), NODES3, pods).delete) == ["pb"]


def test_rolling_update_percent_rounds_up() -> None:
    ds = daemonset({"updateStrategy": {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "50%"}}})  # fmt: skip
    old = [pod("pa", "a", OLD), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    assert names(rolling(ds, NODES3, old).delete) == ["pa", "pb"]


def test_rolling_update_respects_min_ready_seconds() -> None:
    ds = daemonset({"minReadySeconds": 30})
    pods = [pod("na", "a", NEW, ready_for=10), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    assert rolling(ds, NODES3, pods).delete == ()
    later = NOW + datetime.timedelta(seconds=25)
    assert names(rolling(ds, NODES3, pods, now=later).delete) == ["pb"]
    assert seconds_until_available(pods, min_ready_seconds=30, now=NOW) == pytest.approx(21)


def test_rolling_update_with_surge_creates_then_retires() -> None:
    ds = daemonset(SURGE)
    old = [pod("pa", "a", OLD), pod("pb", "b", OLD), pod("pc", "c", OLD)]
    first = rolling(ds, NODES3, old)
    assert first.create == ("a",) and first.delete == ()
    waiting = [*old, pod("na", "a", NEW, ready=False)]
    assert rolling(ds, NODES3, waiting).create == ()
    up = [*old, pod("na", "a", NEW)]
    second = rolling(ds, NODES3, up)
    assert names(second.delete) == ["pa"] and second.create == ("b",)


def test_update_budgets() -> None:
    assert update_budgets(daemonset(), 3) == (0, 1)
    zero = daemonset({"updateStrategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": 0}}})  # fmt: skip
    assert update_budgets(zero, 3) == (0, 1)  # both zero would never progress
    assert update_budgets(daemonset({"updateStrategy": {"type": "OnDelete"}}), 3) == (0, 0)
    assert rolling(daemonset({"updateStrategy": {"type": "OnDelete"}}), NODES3,
                   [pod("pa", "a", OLD)]).delete == ()  # fmt: skip


# -- status --------------------------------------------------------------------------------


def test_status_counts_nodes() -> None:
    ds = daemonset({"minReadySeconds": 60})
    nodes = [node("a"), node("b"), node("c"), node("d", taints=[taint("x", "NoExecute")])]
    pods = [pod("pa", "a", NEW), pod("pb", "b", OLD, ready_for=10), pod("pd", "d", NEW)]
    status = daemonset_status(ds, nodes, nodes_to_daemon_pods(pods), digest=NEW, now=NOW)
    assert status == {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 2,
        "numberMisscheduled": 1,
        "numberReady": 2,
        "numberAvailable": 1,
        "numberUnavailable": 2,
        "updatedNumberScheduled": 1,
        "observedGeneration": 3,
    }


def test_status_keeps_the_conditions_others_set() -> None:
    ds = daemonset({})
    marked = [{"type": "StatusUpdate", "status": "True"}]
    ds["status"] = {"conditions": marked, "numberReady": 7}
    status = daemonset_status(ds, [node("a")], {}, digest=NEW, now=NOW)
    assert status["conditions"] == marked and status["numberReady"] == 0


def test_failed_pod_backoff_doubles_and_resets() -> None:
    backoff = FailedPodBackoff(initial=1, cap=8)
    assert backoff.wait("ds/n1", 0) is None  # the first failure is replaced at once
    assert backoff.wait("ds/n1", 0.5) == pytest.approx(0.5)
    assert backoff.wait("ds/n2", 0.5) is None  # per node
    assert backoff.wait("ds/n1", 1.0) is None
    assert backoff.wait("ds/n1", 2.0) == pytest.approx(1.0)  # now 2 s
    for now in (3.0, 7.0, 15.0, 23.0):
        assert backoff.wait("ds/n1", now) is None
    assert backoff.wait("ds/n1", 30.0) == pytest.approx(1.0)  # capped at 8 s
    assert backoff.wait("ds/n1", 23.0 + 17) is None  # quiet for > 2 x cap: back to 1 s
    assert backoff.wait("ds/n1", 40.5) == pytest.approx(0.5)
