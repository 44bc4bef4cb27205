"""Scaling in the middle of a rollout, scaling events, and history clean-up."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.deployment_scaling import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    history_to_delete,
    is_scaling_event,
    proportional_plan,
    replicas_annotations,
)


def deployment(replicas: int, *, surge: int = 3, unavailable: int = 2, **spec: Any) -> Any:
    return {"metadata": {"name": "d", "generation": 1},
            "spec": {"replicas": replicas, **spec,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge,
                                                    "maxUnavailable": unavailable}}}}  # fmt: skip


def rs(name: str, replicas: int, *, desired: int | None = None, maximum: int | None = None,
       created: str = "2026-11-30T10:00:00Z", revision: int = 1,
       pods: int | None = None) -> Any:  # fmt: skip
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if desired is not None:
        annotations[DESIRED_REPLICAS] = str(desired)
    if maximum is not None:
        annotations[MAX_REPLICAS] = str(maximum)
    return {"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations,
                         "generation": 1},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas if pods is None else pods, "observedGeneration": 1,
                       "availableReplicas": 0}}  # fmt: skip


def test_annotations_name_the_size_and_the_ceiling() -> None:
    assert replicas_annotations(deployment(10)) == {DESIRED_REPLICAS: "10", MAX_REPLICAS: "13"}


def test_a_scale_up_mid_rollout_is_shared_in_proportion() -> None:
    # 10 -> 20 while old has 8 and new 5 (both sized for 10 + surge 3 = 13).
    d = deployment(20)
    new = rs("new", 5, desired=10, maximum=13, created="2026-11-30T11:00:00Z")
    old = rs("old", 8, desired=10, maximum=13)
    assert is_scaling_event(d, [new, old])
    plan = proportional_plan(d, new, [old])
    assert plan == {"old": 14, "new": 9}
    assert sum(plan.values()) == 20 + 3
    # The conformance test's numbers (checklist D05): 10 -> 30 gives 20 and 13.
    assert proportional_plan(deployment(30), new, [old]) == {"old": 20, "new": 13}


def test_a_scale_down_mid_rollout_is_shared_in_proportion() -> None:
    d = deployment(5)
    new = rs("new", 5, desired=10, maximum=13, created="2026-11-30T11:00:00Z")
    old = rs("old", 8, desired=10, maximum=13)
    plan = proportional_plan(d, new, [old])
    assert plan == {"old": 5, "new": 3}
    assert sum(plan.values()) == 5 + 3


def test_leftovers_go_to_the_largest_and_nothing_goes_negative() -> None:
    d = deployment(0)
    new = rs("new", 2, desired=4, maximum=7, created="2026-11-30T11:00:00Z")
    old = rs("old", 5, desired=4, maximum=7)
    assert proportional_plan(d, new, [old]) == {"old": 0, "new": 0}


def test_one_active_replicaset_takes_the_whole_size() -> None:
    d = deployment(7)
    only = rs("only", 3, desired=3, maximum=4)
    assert proportional_plan(d, only, [rs("empty", 0)]) == {"only": 7}
    # No active set at all: the new one (or else the newest old one) takes it.
    assert proportional_plan(d, rs("new", 0), [rs("old", 0)]) == {"new": 7}
    older, newer = rs("a", 0, created="2026-11-30T09:00:00Z"), rs("b", 0)
    assert proportional_plan(d, None, [older, newer]) == {"b": 7}


def test_no_scaling_event_when_sizes_agree_or_sets_are_empty() -> None:
    d = deployment(10)
    assert not is_scaling_event(d, [rs("a", 4, desired=10), rs("b", 0, desired=3)])
    assert not is_scaling_event(d, [rs("a", 4)])  # never annotated: not a scaling event


def test_history_beyond_the_limit_goes_oldest_revision_first() -> None:
    d = deployment(3, revisionHistoryLimit=2)
    old = [rs(f"r{n}", 0, revision=n) for n in (4, 1, 3, 2)]
    assert [r["metadata"]["name"] for r in history_to_delete(d, old)] == ["r1", "r2"]
    # Sets that still have pods (or a size) are kept, even if that leaves more.
    busy = [rs("r1", 0, revision=1, pods=1), rs("r2", 1, revision=2), rs("r3", 0, revision=3)]
    assert [r["metadata"]["name"] for r in history_to_delete(d, busy)] == []
    d0 = deployment(3, revisionHistoryLimit=0)
    assert len(history_to_delete(d0, old)) == 4
    assert history_to_delete(deployment(3), old) == []  # default limit 10
