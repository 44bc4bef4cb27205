"""The scheduling cycle, pure: messages, percentage of nodes to score, assumed pods."""

from __future__ import annotations

import random

from kybernetes.scheduler.framework import (
    FitError,
    Framework,
    Status,
    num_feasible_nodes_to_find,
    reasons_histogram,
)
from kybernetes.scheduler.plugins import DEFAULT_WEIGHTS, make_plugins
from tests.scheduler.helpers import cluster, make_node_obj, make_pod

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def framework(**kwargs: int) -> Framework:
    return Framework(make_plugins(), DEFAULT_WEIGHTS, rng=random.Random(1), **kwargs)


def test_message_as_kube_scheduler_words_it() -> None:
    cpu = Status.unschedulable("Insufficient cpu")
    taint = Status.unresolvable("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
    error = FitError(3, {"a": cpu, "b": taint, "c": taint})
    error.post_filter_message = (
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    assert error.message() == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption "
        "is not helpful for scheduling."
    )
    # Reasons sort as text ("10 …" before "2 …"), one status may carry several.
    both = Status.unschedulable("Insufficient cpu", "Insufficient memory")
    assert reasons_histogram([both] * 10 + [cpu, cpu]) == (
        "10 Insufficient memory, 12 Insufficient cpu"
    )
    assert FitError(0).message() == "no nodes available to schedule pods"


def test_whole_cycle_message_for_a_pod_too_big_for_any_node() -> None:
    cache = cluster(
        make_node_obj("a", cpu="1"),
        make_node_obj("b", cpu="8", taints=[UNREACHABLE]),
        make_node_obj("c", cpu="1"),
    )
    result = framework().schedule(make_pod(cpu="2"), cache)
    assert result.error is not None and not result.node
    assert result.error.message() == (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }, 2 Insufficient cpu."
    )


def test_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(50) == 50
    assert num_feasible_nodes_to_find(100) == 100
    assert num_feasible_nodes_to_find(1000) == 420  # 50% - 1000/125 = 42%
    assert num_feasible_nodes_to_find(5000) == 500  # 10%
    assert num_feasible_nodes_to_find(10000) == 500  # floor of 5%
    assert num_feasible_nodes_to_find(150) == 100  # at least 100 nodes
    assert num_feasible_nodes_to_find(1000, 10) == 100


def test_stops_after_enough_feasible_nodes_and_rotates() -> None:
    cache = cluster(*(make_node_obj(f"n{i:03d}") for i in range(1000)))
    fw = framework()
    first = fw.schedule(make_pod("p1", cpu="1m"), cache)
    assert (first.evaluated, first.feasible) == (420, 420)
    second = fw.schedule(make_pod("p2", cpu="1m"), cache)
    assert second.evaluated == 420
    # The next cycle starts where the last stopped: nodes 420.. were not yet looked at.
    assert fw._next_start == 840


def test_assumed_pods_prevent_overcommit_in_a_burst() -> None:
    cache = cluster(make_node_obj("a", cpu="1"), make_node_obj("b", cpu="1"))
    fw = framework()
    placed = []
    for i in range(5):
        pod = make_pod(f"p{i}", cpu="400m")
        result = fw.schedule(pod, cache)
        if result.node:
            cache.assume(pod, result.node)
            placed.append(result.node)
    assert sorted(placed) == ["a", "a", "b", "b"]  # the fifth fits nowhere
    assert cache.nodes["a"].requested.milli_cpu == 800
    # A failed binding forgets the assumed pod; the informer's bound pod replaces it.
    cache.forget(cache.pods["default/p0"])
    assert sum(n.requested.milli_cpu for n in cache.node_list) == 1200
    confirmed = make_pod("p1", cpu="400m", node=cache.pods["default/p1"].node_name)
    cache.add_pod(confirmed)
    assert not cache.is_assumed("default/p1")
    assert sum(n.requested.milli_cpu for n in cache.node_list) == 1200


def test_spreads_a_controllers_pods_and_honours_nominated_node() -> None:
    cache = cluster(*(make_node_obj(n) for n in "abc"))
    fw = framework()
    for i in range(6):
        pod = make_pod(f"r{i}", cpu="10m", owner="rs")
        cache.assume(pod, fw.schedule(pod, cache).node)
    assert sorted(n.controller_counts["rs"] for n in cache.node_list) == [2, 2, 2]
    nominated = make_pod("hi", cpu="10m")
    nominated.obj["status"] = {"nominatedNodeName": "b"}
    assert fw.schedule(nominated, cache).node == "b"


def test_pre_filter_rejection_counts_every_node() -> None:
    cache = cluster(make_node_obj("a"), make_node_obj("b"))
    result = framework().schedule(make_pod(nodeSelector={"disk": "ssd"}), cache)
    assert result.error is not None
    assert result.error.message() == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )


def test_named_nodes_still_report_the_first_failing_plugin_in_order() -> None:
    # Node "a" is ruled out up front by anti-affinity (the last filter), but it is also
    # too small: in kube-scheduler's order, NodeResourcesFit speaks first.
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "db"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    cache = cluster(
        make_node_obj("a", cpu="1"),
        make_node_obj("b", cpu="1"),
        pods=(
            make_pod("db-0", labels={"app": "db"}, node="a", cpu="100m"),
            make_pod("db-1", labels={"app": "db"}, node="b", cpu="100m"),
        ),
    )
    result = framework().schedule(
        make_pod("db-2", labels={"app": "db"}, cpu="950m", affinity=anti), cache
    )
    assert result.error is not None
    assert result.error.message() == "0/2 nodes are available: 2 Insufficient cpu."
    result = framework().schedule(
        make_pod("db-2", labels={"app": "db"}, cpu="100m", affinity=anti), cache
    )
    assert result.error is not None
    assert result.error.message() == (
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
    )


def test_remembered_node_scores_follow_the_nodes_changes() -> None:
    # Identical pods reuse each node's remembered resource scores; a node that
    # took a pod must be scored afresh, or the next pods would pile onto it.
    cache = cluster(make_node_obj("a"), make_node_obj("b"), make_node_obj("c"))
    fw = framework()
    for i in range(12):
        pod = make_pod(f"p{i}", cpu="200m", memory="256Mi")
        cache.assume(pod, fw.schedule(pod, cache).node)
    assert sorted(len(n.pods) for n in cache.node_list) == [4, 4, 4]


def test_room_is_kept_for_a_nominated_pod() -> None:
    cache = cluster(make_node_obj("a", cpu="1"))
    vip = make_pod("vip", cpu="800m", priority=100)
    cache.nominate(vip, "a")
    fw = framework()
    low = fw.schedule(make_pod("low", cpu="500m", priority=0), cache)
    assert low.error is not None and low.error.message() == (
        "0/1 nodes are available: 1 Insufficient cpu."
    )
    assert fw.schedule(make_pod("small", cpu="100m"), cache).node == "a"
    # As important as the nominated pod: room is kept from it too; more important: not.
    assert fw.schedule(make_pod("peer", cpu="500m", priority=100), cache).node == ""
    assert fw.schedule(make_pod("boss", cpu="500m", priority=200), cache).node == "a"
    assert fw.schedule(vip, cache).node == "a"
    cache.unnominate(vip.key)
    assert fw.schedule(make_pod("low", cpu="500m"), cache).node == "a"
