"""The disruption controller's decisions (pure): a budget's status from its pods."""

from __future__ import annotations

import datetime

from kybernetes.api.disruption import scaled_value
from kybernetes.controllers.disruption_decisions import (
    budget_status,
    controllers_scale,
    needs_scale,
    next_expiry,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def pod(name: str, *, ready: bool = True, owner: str = "rs1", deleting: bool = False) -> dict:
    meta: dict = {"name": name, "ownerReferences": [{"uid": owner, "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "status": {"conditions": conditions}}


def pdb(generation: int = 1, status: dict | None = None, **spec: object) -> dict:
    return {"metadata": {"name": "b", "generation": generation}, "spec": spec,
            "status": status or {}}  # fmt: skip


def condition(status: dict) -> tuple[str, str]:
    (c,) = [c for c in status["conditions"] if c["type"] == "DisruptionAllowed"]
    return c["status"], c["reason"]


def test_min_available_integer_counts_the_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", deleting=True)]
    status = budget_status(pdb(minAvailable=1), pods, expected_scale=None, now=NOW)
    assert {k: status[k] for k in ("currentHealthy", "desiredHealthy", "expectedPods",
                                   "disruptionsAllowed", "observedGeneration")} == {
        "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 4, "disruptionsAllowed": 1,
        "observedGeneration": 1,
    }  # fmt: skip
    assert condition(status) == ("True", "SufficientPods")
    status = budget_status(pdb(minAvailable=2), pods, expected_scale=None, now=NOW)
    assert status["disruptionsAllowed"] == 0
    assert condition(status) == ("False", "InsufficientPods")


def test_percentages_and_max_unavailable_use_the_controllers_scale() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    assert needs_scale(pdb(maxUnavailable=1)) and needs_scale(pdb(minAvailable="50%"))
    assert not needs_scale(pdb(minAvailable=1))
    status = budget_status(pdb(maxUnavailable="34%"), pods, expected_scale=4, now=NOW)
    # 34% of 4 rounds up to 2 unavailable: 2 must stay healthy; 3 are.
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        4,
        2,
        1,
    )
    status = budget_status(pdb(minAvailable="50%"), pods, expected_scale=5, now=NOW)
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 0)
    # Nothing expected: nothing may be disrupted (a budget whose pods are not there yet).
    assert (
        budget_status(pdb(maxUnavailable=1), [], expected_scale=0, now=NOW)["disruptionsAllowed"]
        == 0
    )
    assert scaled_value("10%", 15, round_up=False) == 1 and scaled_value(3, 15, round_up=True) == 3


def test_controllers_count_once_and_unknown_ones_fail_safe() -> None:
    pods = [pod("a", owner="rs-old"), pod("b", owner="rs-new"), pod("c", owner="rc")]
    scale_of = {"rs-old": ("deploy", 3), "rs-new": ("deploy", 3), "rc": ("rc", 2)}
    assert controllers_scale(pods, scale_of) == (5, "")
    assert controllers_scale([pod("x", owner="nobody")], scale_of) == (
        0, 'found no controllers for pod "x"')  # fmt: skip
    status = budget_status(pdb(maxUnavailable=1, status={"disruptionsAllowed": 3}), pods,
                           expected_scale=None, now=NOW, error="found no controllers")  # fmt: skip
    assert status["disruptionsAllowed"] == 0
    assert condition(status) == ("False", "SyncFailed")


def test_disrupted_pods_are_not_healthy_until_seen_going_or_expired() -> None:
    fresh = "2026-01-01T11:59:30Z"
    old = "2026-01-01T11:57:00Z"
    budget = pdb(minAvailable=1, status={"disruptedPods": {"a": fresh, "b": old, "gone": fresh}})
    status = budget_status(budget, [pod("a"), pod("b"), pod("c")], expected_scale=None, now=NOW)
    assert status["disruptedPods"] == {"a": fresh}  # b expired, "gone" is gone
    assert status["currentHealthy"] == 2
    assert next_expiry(budget, NOW) == 0.1  # the expired one: look again at once
    assert next_expiry(pdb(status={"disruptedPods": {"a": fresh}}), NOW) == 90.1


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    first = budget_status(pdb(minAvailable=0), [pod("a")], expected_scale=None, now=NOW)
    later = NOW + datetime.timedelta(minutes=5)
    again = budget_status(
        pdb(minAvailable=0, status=first), [pod("a")], expected_scale=None, now=later
    )
    assert again["conditions"] == first["conditions"]
