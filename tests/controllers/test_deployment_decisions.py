"""Rolling update and Recreate steps, as pure functions."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.deployment_decisions import (
    recreate_plan,
    resolve_fenceposts,
    rolling_plan,
)


def deployment(replicas: int, surge: Any = None, unavailable: Any = None) -> dict[str, Any]:
    rolling = {
        k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None
    }
    return {"metadata": {"name": "d"},
            "spec": {"replicas": replicas,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}}  # fmt: skip


def rs(
    name: str, replicas: int, available: int, created: str = "2026-11-30T10:00:00Z"
) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available}}  # fmt: skip


def test_an_old_set_counts_its_pods_until_they_are_gone() -> None:
    d = deployment(6, 2, 1)
    shrinking = rs("old", 4, 4)
    shrinking["status"]["replicas"] = 5  # told to shrink; its fifth pod not deleted yet
    assert rolling_plan(d, rs("new", 3, 0), [shrinking])["new"] == 3  # 3 + 5 = 6 + 2
    assert rolling_plan(d, rs("new", 3, 0), [rs("old", 4, 4)])["new"] == 4  # once it is gone


def test_fenceposts_round_like_kubernetes() -> None:
    assert resolve_fenceposts(deployment(10)) == (3, 2)  # 25%: surge up, unavailable down
    assert resolve_fenceposts(deployment(1)) == (1, 0)
    assert resolve_fenceposts(deployment(3, 0, 0)) == (0, 1)  # never both zero
    assert resolve_fenceposts(deployment(4, 2, "50%")) == (2, 2)


def test_a_rollout_never_exceeds_surge_or_unavailability() -> None:
    d = deployment(4, 1, 1)
    # Start: old has 4 available; the new RS may surge by one.
    step = rolling_plan(d, rs("new", 0, 0), [rs("old", 4, 4)])
    assert step == {"new": 1, "old": 3}  # 5 pods at most, 3 available at least
    # The new pod is not available yet: nothing more may go.
    step = rolling_plan(d, rs("new", 1, 0), [rs("old", 3, 3)])
    assert step == {"new": 2, "old": 3}
    assert sum(step.values()) <= 5
    # Once new pods are available, old ones go down to keep 3 available:
    # 2 new + 3 old available, so 2 old may go.
    step = rolling_plan(d, rs("new", 2, 2), [rs("old", 3, 3)])
    assert step == {"new": 2, "old": 1}
    # Done: all new.
    assert rolling_plan(d, rs("new", 4, 4), [rs("old", 0, 0)]) == {"new": 4, "old": 0}


def test_unhealthy_old_pods_are_dropped_first() -> None:
    d = deployment(3, 1, 0)
    step = rolling_plan(d, rs("new", 1, 1), [rs("broken", 3, 1)])
    assert step["broken"] < 3


def test_recreate_waits_for_old_pods_to_go() -> None:
    d = {"metadata": {"name": "d"}, "spec": {"replicas": 2, "strategy": {"type": "Recreate"}}}
    assert recreate_plan(d, rs("new", 0, 0), [rs("old", 2, 2)]) == {"old": 0, "new": 0}
    assert recreate_plan(d, rs("new", 0, 0), [rs("old", 0, 0)]) == {"old": 0, "new": 2}


def test_a_returning_template_takes_the_next_revision() -> None:
    from kybernetes.controllers.deployment_decisions import REVISION, revision_to_raise

    def at(revision: int) -> dict[str, Any]:
        return {"metadata": {"annotations": {REVISION: str(revision)}}}

    assert revision_to_raise(at(1), [at(2)]) == 3
    assert revision_to_raise(at(3), [at(1), at(2)]) is None


def test_the_current_set_takes_the_deployments_annotations_and_keeps_its_history() -> None:
    from kybernetes.controllers.deployment_decisions import (
        REVISION,
        REVISION_HISTORY,
        current_annotations,
    )

    d = deployment(1)
    d["metadata"]["annotations"] = {
        "kubernetes.io/change-cause": "kubectl set image", REVISION: "4",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "deployment.kubernetes.io/desired-replicas": "9",
    }  # fmt: skip
    current = {"metadata": {"annotations": {REVISION: "2", REVISION_HISTORY: "1"}}}
    assert current_annotations(d, current, None) == {
        REVISION: "2",
        REVISION_HISTORY: "1",
        "kubernetes.io/change-cause": "kubectl set image",
    }
    # Rolled back to: the revision moves on, the one it had joins its history.
    assert current_annotations(d, current, 5) == {
        REVISION: "5",
        REVISION_HISTORY: "1,2",
        "kubernetes.io/change-cause": "kubectl set image",
    }
    settled = {"metadata": {"annotations": current_annotations(d, current, 5)}}
    assert current_annotations(d, settled, None) is None
