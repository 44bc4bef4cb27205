"""The node lifecycle controller's pure decisions: health, taints, zones, rates, evictions."""

from __future__ import annotations

import datetime

import pytest

from kybernetes.api.times import format_time
from kybernetes.controllers.nodelifecycle_decisions import (
    FULL_DISRUPTION,
    NORMAL,
    NOT_READY,
    PARTIAL_DISRUPTION,
    UNREACHABLE,
    EvictionRates,
    TokenBuckets,
    disruption_target_status,
    eviction_deadline,
    eviction_qps,
    lost_conditions,
    pod_not_ready_status,
    ready_status,
    tolerates,
    updated_taints,
    wanted_taints,
    zone_of,
    zone_state,
)

T0 = 1_800_000_000.0  # seconds since the epoch


def stamp(seconds: float) -> str:
    return format_time(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


def node(ready: str | None = "True", **spec: object) -> dict:
    conditions = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "KubeletReady",
                           "lastHeartbeatTime": stamp(T0 - 60),
                           "lastTransitionTime": stamp(T0 - 600)})  # fmt: skip
    return {"metadata": {"name": "n1", "creationTimestamp": stamp(T0 - 3600)},
            "spec": dict(spec), "status": {"conditions": conditions}}  # fmt: skip


def pod(tolerations: list[dict] | None = None, created: float = T0 - 3600) -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "creationTimestamp": stamp(created)},
            "spec": {"tolerations": tolerations or []}}  # fmt: skip


def taint(key: str, effect: str = "NoExecute", added: float | None = None) -> dict:
    found = {"key": key, "effect": effect}
    if added is not None:
        found["timeAdded"] = stamp(added)
    return found


# -- health --------------------------------------------------------------------------------


def test_a_lost_node_has_every_condition_unknown() -> None:
    conditions = lost_conditions(node("True"), T0)
    assert conditions is not None
    by_type = {c["type"]: c for c in conditions}
    assert set(by_type) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    ready = by_type["Ready"]
    assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert ready["lastTransitionTime"] == stamp(T0)
    assert ready["lastHeartbeatTime"] == stamp(T0 - 60)  # the kubelet's last, kept
    never = by_type["MemoryPressure"]
    assert never["reason"] == "NodeStatusNeverUpdated"
    assert never["message"] == "Kubelet never posted node status."


def test_lost_conditions_change_nothing_twice() -> None:
    once = node()
    once["status"]["conditions"] = lost_conditions(once, T0)
    assert lost_conditions(once, T0 + 10) is None
    assert ready_status(once) == "Unknown"
    assert ready_status(node(None)) == "Unknown"


def test_marking_a_pod_not_ready() -> None:
    conditions = [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]
    ready_pod = {"status": {"conditions": conditions}}
    status = pod_not_ready_status(ready_pod, T0)
    assert status is not None
    assert status["conditions"][0] == {"type": "Ready", "status": "False",
                                       "lastTransitionTime": stamp(T0)}  # fmt: skip
    assert status["conditions"][1]["status"] == "True"
    assert pod_not_ready_status({"status": status}, T0) is None


# -- taints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        ("True", set()),
        ("Unknown", {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}),
        ("False", {(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")}),
    ],
)
def test_wanted_taints_follow_ready(ready: str, expected: set) -> None:
    assert {
        (t["key"], t["effect"]) for t in wanted_taints(node(ready), no_execute=True)
    } == expected


def test_no_execute_only_when_allowed_and_pressure_and_cordon() -> None:
    sick = node("Unknown", unschedulable=True)
    sick["status"]["conditions"].append({"type": "DiskPressure", "status": "True"})
    got = {(t["key"], t["effect"]) for t in wanted_taints(sick, no_execute=False)}
    assert got == {(UNREACHABLE, "NoSchedule"), ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                   ("node.kubernetes.io/unschedulable", "NoSchedule")}  # fmt: skip


def test_updated_taints_add_keep_and_remove() -> None:
    others = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    wanted = wanted_taints(node("Unknown"), no_execute=True)
    added = updated_taints([others], wanted, T0)
    assert added is not None
    assert added[0] == others
    no_execute = next(t for t in added if t["effect"] == "NoExecute")
    assert no_execute == {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": stamp(T0)}
    assert "timeAdded" not in next(t for t in added if t["key"] == UNREACHABLE
                                   and t["effect"] == "NoSchedule")  # fmt: skip
    # Again later: nothing changes (timeAdded is kept).
    assert updated_taints(added, wanted, T0 + 30) is None
    # Back to Ready: the owned taints go, the others' stay.
    assert updated_taints(added, wanted_taints(node("True"), no_execute=True), T0) == [others]
    # Held by the rate limiter: an owned NoExecute taint present stays for now.
    swapped = updated_taints(added, wanted_taints(node("False"), no_execute=False), T0,
                             keep_no_execute=True)  # fmt: skip
    assert swapped is not None
    assert {(t["key"], t["effect"]) for t in swapped} == {
        ("dedicated", "NoSchedule"),
        (UNREACHABLE, "NoExecute"),
        (NOT_READY, "NoSchedule"),
    }


# -- zones and rates -----------------------------------------------------------------------


def test_zone_of_reads_topology_labels() -> None:
    labelled = {"metadata": {"labels": {"topology.kubernetes.io/region": "r",
                                        "topology.kubernetes.io/zone": "z"}}}  # fmt: skip
    assert zone_of(labelled) == "r:\x00:z"
    assert zone_of({"metadata": {}}) == ""


@pytest.mark.parametrize(
    ("ready", "not_ready", "state"),
    [
        (0, 1, FULL_DISRUPTION),
        (0, 0, NORMAL),
        (10, 2, NORMAL),  # two not ready never make a partial disruption
        (1, 2, NORMAL),
        (2, 3, PARTIAL_DISRUPTION),  # 60 % >= 55 %
        (5, 5, NORMAL),  # 50 %
        (45, 55, PARTIAL_DISRUPTION),
    ],
)
def test_zone_state(ready: int, not_ready: int, state: str) -> None:
    assert zone_state(ready, not_ready) == state


def test_eviction_rates() -> None:
    rates = EvictionRates()
    assert eviction_qps(NORMAL, 10, rates, all_down=False) == 0.1
    assert eviction_qps(PARTIAL_DISRUPTION, 51, rates, all_down=False) == 0.01
    assert eviction_qps(PARTIAL_DISRUPTION, 50, rates, all_down=False) == 0.0
    assert eviction_qps(FULL_DISRUPTION, 10, rates, all_down=False) == 0.1
    assert eviction_qps(NORMAL, 10, rates, all_down=True) == 0.0


def test_token_buckets_pace_each_zone() -> None:
    buckets = TokenBuckets()
    assert buckets.take("a", 0.1, T0) == 0.0  # a burst of one
    assert buckets.take("a", 0.1, T0) == pytest.approx(10.0)
    assert buckets.take("b", 0.1, T0) == 0.0  # zones are independent
    assert buckets.take("a", 0.1, T0 + 4) == pytest.approx(6.0)
    assert buckets.take("a", 0.1, T0 + 10) == 0.0
    assert buckets.take("a", 0.0, T0 + 100) == float("inf")


# -- eviction ------------------------------------------------------------------------------


def test_tolerates_like_kubernetes() -> None:
    unreachable = taint(UNREACHABLE)
    assert tolerates({"key": UNREACHABLE, "operator": "Exists"}, unreachable)
    assert tolerates({"operator": "Exists"}, unreachable)  # empty key: everything
    assert not tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"},
                         unreachable)  # fmt: skip
    assert not tolerates({"key": NOT_READY, "operator": "Exists"}, unreachable)
    valued = {"key": "k", "value": "v", "effect": "NoExecute"}
    assert tolerates({"key": "k", "value": "v"}, valued)
    assert tolerates({"key": "k", "operator": "Equal", "value": "v"}, valued)
    assert not tolerates({"key": "k", "value": "w"}, valued)


def test_untolerated_no_execute_evicts_at_once() -> None:
    assert eviction_deadline(pod(), [taint(UNREACHABLE, added=T0 - 5)], T0) == T0
    other = [{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute"}]
    assert eviction_deadline(pod(other), [taint(UNREACHABLE, added=T0)], T0) == T0


def test_no_schedule_taints_never_evict() -> None:
    assert eviction_deadline(pod(), [taint(UNREACHABLE, "NoSchedule")], T0) is None


def test_toleration_seconds_count_from_the_taint() -> None:
    tolerations = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 300}]  # fmt: skip
    assert eviction_deadline(pod(tolerations), [taint(UNREACHABLE, added=T0 - 100)], T0) == T0 + 200
    # A pod created after the taint gets its full toleration from its creation.
    late = pod(tolerations, created=T0 - 10)
    assert eviction_deadline(late, [taint(UNREACHABLE, added=T0 - 100)], T0) == T0 + 290
    # No timeAdded: from when the controller first saw the pod waiting, else now.
    assert eviction_deadline(pod(tolerations), [taint(UNREACHABLE)], T0) == T0 + 300
    since = eviction_deadline(pod(tolerations), [taint(UNREACHABLE)], T0 + 299, since=T0)
    assert since == T0 + 300


def test_the_smallest_toleration_wins_and_unlimited_stays() -> None:
    tolerations = [
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
        {"operator": "Exists", "tolerationSeconds": 30},
    ]
    assert eviction_deadline(pod(tolerations), [taint(UNREACHABLE, added=T0)], T0) == T0 + 30
    forever = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
    assert eviction_deadline(pod(forever), [taint(UNREACHABLE, added=T0)], T0) is None
    negative = [{"operator": "Exists", "tolerationSeconds": -5}]
    assert eviction_deadline(pod(negative), [taint(UNREACHABLE, added=T0)], T0) == T0


def test_every_no_execute_taint_must_be_tolerated() -> None:
    tolerations = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 60}]  # fmt: skip
    taints = [taint(UNREACHABLE, added=T0), taint("custom", added=T0)]
    assert eviction_deadline(pod(tolerations), taints, T0) == T0


def test_disruption_target_before_deletion() -> None:
    running = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    status = disruption_target_status(running, T0)
    assert status is not None and status["phase"] == "Running"
    target = status["conditions"][1]
    assert target == {"type": "DisruptionTarget", "status": "True",
                      "reason": "DeletionByTaintManager",
                      "message": "Taint manager: deleting due to NoExecute taint",
                      "lastProbeTime": None, "lastTransitionTime": stamp(T0)}  # fmt: skip
    assert disruption_target_status({"status": status}, T0 + 5) is None
