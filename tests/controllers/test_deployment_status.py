"""A Deployment's status and conditions over the life of a rollout."""

from __future__ import annotations

import datetime
from typing import Any

from kybernetes.controllers.deployment_status import (
    deployment_complete,
    deployment_status,
    progress_deadline_in,
)

T0 = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def rs(name: str, replicas: int, available: int) -> Any:
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "readyReplicas": available,
                       "availableReplicas": available}}  # fmt: skip


def deployment(replicas: int = 3, status: Any = None, **spec: Any) -> Any:
    return {"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": 60, **spec},
            "status": status or {}}  # fmt: skip


def condition(status: Any, kind: str) -> Any:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_rollout_from_creation_to_completion() -> None:
    new = rs("web-abc", 1, 0)
    status = deployment_status(deployment(), new=new, sets=[new], now=at(0), created_new=True)
    progressing = condition(status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetCreated")
    assert progressing["message"] == 'Created new replica set "web-abc"'
    available = condition(status, "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert status["observedGeneration"] == 2 and status["unavailableReplicas"] == 1

    new = rs("web-abc", 3, 2)
    status = deployment_status(deployment(status=status), new=new, sets=[new], now=at(10))
    progressing = condition(status, "Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated"
    assert progressing["message"] == 'ReplicaSet "web-abc" is progressing.'
    assert progressing["lastTransitionTime"] == "2026-11-30T12:00:00Z"  # still True: kept
    assert progressing["lastUpdateTime"] == "2026-11-30T12:00:10Z"
    # 25% of 3 rounds down to 0 unavailable allowed: 2 of 3 is not minimum availability.
    assert condition(status, "Available")["status"] == "False"
    assert progress_deadline_in(deployment(status=status), at(20)) == 50

    new = rs("web-abc", 3, 3)
    status = deployment_status(deployment(status=status), new=new, sets=[new], now=at(20))
    assert deployment_complete(deployment(), status)
    progressing = condition(status, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == 'ReplicaSet "web-abc" has successfully progressed.'
    assert progress_deadline_in(deployment(status=status), at(30)) is None
    available = condition(status, "Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert available["message"] == "Deployment has minimum availability."


def test_a_stuck_rollout_times_out_at_its_deadline() -> None:
    old, new = rs("web-old", 3, 3), rs("web-new", 1, 0)
    status = deployment_status(deployment(), new=new, sets=[new, old], now=at(0),
                               created_new=True)  # fmt: skip
    status = deployment_status(deployment(status=status), new=new, sets=[new, old], now=at(5))
    assert condition(status, "Progressing")["reason"] == "NewReplicaSetCreated"  # no progress
    assert progress_deadline_in(deployment(status=status), at(5)) == 55
    still = deployment_status(deployment(status=status), new=new, sets=[new, old], now=at(59))
    assert condition(still, "Progressing")["status"] == "True"
    late = deployment_status(deployment(status=status), new=new, sets=[new, old], now=at(61))
    timed_out = condition(late, "Progressing")
    assert (timed_out["status"], timed_out["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert timed_out["message"] == 'ReplicaSet "web-new" has timed out progressing.'


def test_pause_and_resume_show_in_progressing() -> None:
    new = rs("web-abc", 3, 3)
    paused = deployment_status(deployment(paused=True), new=new, sets=[new], now=at(0))
    cond = condition(paused, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")  # fmt: skip
    resumed = deployment_status(deployment(status=paused), new=new, sets=[new], now=at(5))
    assert condition(resumed, "Progressing")["reason"] in ("DeploymentResumed",
                                                           "NewReplicaSetAvailable")  # fmt: skip
