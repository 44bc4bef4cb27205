"""Preemption decisions, pure: minimal victims, the node chosen, the message when none helps."""

from __future__ import annotations

import random

from kybernetes.scheduler.framework import Framework
from kybernetes.scheduler.plugins import DEFAULT_WEIGHTS, make_plugins
from kybernetes.scheduler.preemption import pick_node, preempt, select_victims
from kybernetes.scheduler.types import PodInfo
from tests.scheduler.helpers import cluster, make_node, make_node_obj, make_pod


def fits_for(pod: PodInfo) -> object:
    fw = Framework(make_plugins(), DEFAULT_WEIGHTS, rng=random.Random(0))

    return fw.run_pre_filters({}, pod, cluster()).check


def test_minimal_victims_spare_the_most_important() -> None:
    node = make_node(cpu="4")
    for name, cpu, priority in (
        ("low-a", "1", 1),
        ("low-b", "1", 2),
        ("mid", "1", 5),
        ("high", "1", 100),
    ):
        node.add_pod(make_pod(name, cpu=cpu, priority=priority))
    pod = make_pod("new", cpu="2", priority=10)
    victims, status = select_victims(pod, node, fits_for(pod))  # type: ignore[arg-type]
    assert status is None
    # Two cores must go: taken off together, then put back most important first, "mid"
    # fits again and stays; low-b and low-a no longer fit: they are the victims.
    assert sorted(v.name for v in victims) == ["low-a", "low-b"]
    assert node.requested.milli_cpu == 4000  # the real node is untouched


def test_no_lower_priority_pods_or_still_too_small() -> None:
    node = make_node(cpu="2")
    node.add_pod(make_pod("peer", cpu="2", priority=10))
    pod = make_pod("new", cpu="1", priority=10)
    victims, status = select_victims(pod, node, fits_for(pod))  # type: ignore[arg-type]
    assert victims == [] and status is not None
    assert status.reasons == ("No preemption victims found for incoming pod",)
    tiny = make_node(cpu="1")
    tiny.add_pod(make_pod("low", cpu="1", priority=0))
    huge = make_pod("huge", cpu="3", priority=10)
    victims, status = select_victims(huge, tiny, fits_for(huge))  # type: ignore[arg-type]
    assert victims == [] and status is not None and status.reasons == ("Insufficient cpu",)


def test_pick_node_prefers_the_least_important_victims() -> None:
    a = [make_pod("a1", priority=5)]
    b = [make_pod("b1", priority=1), make_pod("b2", priority=1)]
    c = [make_pod("c1", priority=1)]
    assert pick_node({"a": a, "b": b, "c": c}) == "c"
    assert pick_node({"a": a, "b": b}) == "b"


def test_preempt_whole_decision_and_message() -> None:
    cache = cluster(
        make_node_obj("full", cpu="2"),
        make_node_obj("tainted", cpu="8", taints=[{"key": "k", "effect": "NoSchedule"}]),
        pods=(make_pod("low", cpu="2", priority=0, node="full"),),
    )
    fw = Framework(make_plugins(), DEFAULT_WEIGHTS)
    pod = make_pod("vip", cpu="1", priority=1000)
    error = fw.schedule(pod, cache).error
    assert error is not None
    decision = preempt(pod, error, cache.node_list, fits_for(pod))  # type: ignore[arg-type]
    assert decision.node == "full" and [v.name for v in decision.victims] == ["low"]
    peer = make_pod("peer", cpu="1", priority=0)
    error = fw.schedule(peer, cache).error
    assert error is not None
    decision = preempt(peer, error, cache.node_list, fits_for(peer))  # type: ignore[arg-type]
    assert not decision.node
    assert decision.message == (
        "preemption: 0/2 nodes are available: 1 No preemption victims "
        "found for incoming pod, 1 Preemption is not helpful for "
        "scheduling."
    )
    never = make_pod("n", cpu="1", priority=1000, preemptionPolicy="Never")
    decision = preempt(never, error, cache.node_list, fits_for(never))  # type: ignore[arg-type]
    assert decision.message == "preemption: not eligible due to preemptionPolicy=Never."


def test_no_second_preemption_while_victims_terminate() -> None:
    victim = make_pod("low", cpu="2", priority=0, node="full")
    victim.deleting = True
    cache = cluster(make_node_obj("full", cpu="2"), pods=(victim,))
    pod = make_pod("vip", cpu="1", priority=1000)
    pod.obj["status"] = {"nominatedNodeName": "full"}
    error = Framework(make_plugins(), DEFAULT_WEIGHTS).schedule(make_pod("x", cpu="1"), cache).error
    assert error is not None
    decision = preempt(pod, error, cache.node_list, fits_for(pod))  # type: ignore[arg-type]
    assert not decision.victims
    assert decision.message == (
        "preemption: not eligible due to a terminating pod on the nominated node."
    )
