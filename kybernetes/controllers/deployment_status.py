"""A Deployment's status and its Available / Progressing conditions, as pure functions.

These are what `kubectl rollout status` reads: observedGeneration, the
replica counts, and the Progressing condition whose reason
`ProgressDeadlineExceeded` makes it fail. The words are Kubernetes' own
(deployment/util), so `kubectl describe deployment` reads as on any
cluster. `now` is a parameter: tests pass any time they like.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from kybernetes.api.times import format_time, parse_time
from kybernetes.controllers.deployment_decisions import resolve_fenceposts

__all__ = [
    "AVAILABLE",
    "PROGRESSING",
    "deployment_complete",
    "deployment_status",
    "progress_deadline_in",
    "set_condition",
]

Obj = dict[str, Any]
AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEFAULT_PROGRESS_DEADLINE = 600


def _count(field: str, sets: Sequence[Obj]) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)


def _spec_replicas(deployment: Obj) -> int:
    return int((deployment.get("spec") or {}).get("replicas", 1))


def _condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, *, kind: str, state: str, reason: str, message: str,
                  now: str) -> None:  # fmt: skip
    """Set a condition; the transition time moves only when the status flips (as kube)."""
    old = _condition(status, kind)
    if old and old.get("status") == state and old.get("reason") == reason:
        if old.get("message") != message:
            old.update(message=message, lastUpdateTime=now)
        return
    transition = old["lastTransitionTime"] if old and old.get("status") == state else now
    new = {"type": kind, "status": state, "lastUpdateTime": now,
           "lastTransitionTime": transition, "reason": reason, "message": message}  # fmt: skip
    others = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    status["conditions"] = [*others, new]


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    """Every replica updated and available, none old, and this generation observed."""
    wanted = _spec_replicas(deployment)
    return bool(
        status.get("updatedReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    )


def _progressed(old: Obj, new: Obj) -> bool:
    """kube's DeploymentProgressing: more updated/ready/available, or fewer old pods."""
    old_pods = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_pods = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return bool(
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
        or new_pods < old_pods
    )


def _deadline(deployment: Obj) -> int | None:
    spec = deployment.get("spec") or {}
    value = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    return None if value is None else int(value)


def progress_deadline_in(deployment: Obj, now: datetime.datetime) -> float | None:
    """Seconds until an unfinished rollout times out (when to look again), or None."""
    status = deployment.get("status") or {}
    deadline = _deadline(deployment)
    progressing = _condition(status, PROGRESSING)
    if deadline is None or progressing is None or progressing.get("reason") in (
        "NewReplicaSetAvailable", "ProgressDeadlineExceeded", "DeploymentPaused"
    ):  # fmt: skip
        return None
    since = parse_time(progressing.get("lastUpdateTime"))
    if since is None:
        return None
    return max(0.0, deadline - (now - since).total_seconds())


def deployment_status(
    deployment: Obj,
    *,
    new: Obj | None,
    sets: Sequence[Obj],
    now: datetime.datetime,
    created_new: bool = False,
) -> Obj:
    """The next status: counts from the ReplicaSets, then the two conditions."""
    old_status = deployment.get("status") or {}
    wanted = _spec_replicas(deployment)
    available = _count("availableReplicas", sets)
    status: Obj = {
        "observedGeneration": deployment["metadata"].get("generation", 0),
        "replicas": _count("replicas", sets),
        "updatedReplicas": _count("replicas", [new]) if new else 0,
        "readyReplicas": _count("readyReplicas", sets),
        "availableReplicas": available,
        "unavailableReplicas": max(_count("replicas", sets) - available, 0),
        "conditions": [dict(c) for c in old_status.get("conditions") or []],
    }
    if "collisionCount" in old_status:
        status["collisionCount"] = old_status["collisionCount"]
    stamp = format_time(now)
    _, max_unavailable = resolve_fenceposts(deployment)
    if available >= wanted - max_unavailable:
        set_condition(status, kind=AVAILABLE, state="True", reason="MinimumReplicasAvailable",
                      message="Deployment has minimum availability.", now=stamp)  # fmt: skip
    else:
        set_condition(status, kind=AVAILABLE, state="False", reason="MinimumReplicasUnavailable",
                      message="Deployment does not have minimum availability.",
                      now=stamp)  # fmt: skip
    _progress(deployment, status, old_status, new=new, now=now, created_new=created_new)
    return {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}


def _progress(deployment: Obj, status: Obj, old_status: Obj, *, new: Obj | None,
              now: datetime.datetime, created_new: bool) -> None:  # fmt: skip
    """The Progressing condition, as deployment/progress.go moves it."""
    stamp = format_time(now)
    current = _condition(status, PROGRESSING)
    if (deployment.get("spec") or {}).get("paused"):
        if not current or current.get("reason") != "DeploymentPaused":
            set_condition(status, kind=PROGRESSING, state="Unknown", reason="DeploymentPaused",
                          message="Deployment is paused", now=stamp)  # fmt: skip
        return  # a paused Deployment does not roll out, so it cannot time out either
    if current and current.get("reason") == "DeploymentPaused":
        set_condition(status, kind=PROGRESSING, state="Unknown", reason="DeploymentResumed",
                      message="Deployment is resumed", now=stamp)  # fmt: skip
    if new is None:
        return
    name = new["metadata"]["name"]
    if created_new:
        set_condition(status, kind=PROGRESSING, state="True", reason="NewReplicaSetCreated",
                      message=f'Created new replica set "{name}"', now=stamp)  # fmt: skip
        return  # progress is measured from the next look on
    if _condition(status, PROGRESSING) is None:
        set_condition(status, kind=PROGRESSING, state="True", reason="FoundNewReplicaSet",
                      message=f'Found new replica set "{name}"', now=stamp)  # fmt: skip
    current = _condition(status, PROGRESSING)
    assert current is not None
    finished = (status["replicas"] == status["updatedReplicas"]
                and current.get("reason") == "NewReplicaSetAvailable")  # fmt: skip
    if _deadline(deployment) is None or finished:
        return
    if deployment_complete(deployment, status):
        set_condition(status, kind=PROGRESSING, state="True", reason="NewReplicaSetAvailable",
                      message=f'ReplicaSet "{name}" has successfully progressed.',
                      now=stamp)  # fmt: skip
    elif _progressed(old_status, status):
        _touch_progress(status, name, stamp)
    elif _timed_out(deployment, current, now):
        set_condition(status, kind=PROGRESSING, state="False", reason="ProgressDeadlineExceeded",
                      message=f'ReplicaSet "{name}" has timed out progressing.',
                      now=stamp)  # fmt: skip


def _touch_progress(status: Obj, name: str, stamp: str) -> None:
    """Progress was made: ReplicaSetUpdated, with a fresh lastUpdateTime (the deadline restarts)."""
    set_condition(status, kind=PROGRESSING, state="True", reason="ReplicaSetUpdated",
                  message=f'ReplicaSet "{name}" is progressing.', now=stamp)  # fmt: skip
    condition = _condition(status, PROGRESSING)
    assert condition is not None
    condition["lastUpdateTime"] = stamp


def _timed_out(deployment: Obj, condition: Obj, now: datetime.datetime) -> bool:
    if condition.get("reason") == "ProgressDeadlineExceeded":
        return True
    if condition.get("reason") == "NewReplicaSetAvailable":
        return False
    deadline = _deadline(deployment)
    since = parse_time(condition.get("lastUpdateTime"))
    return deadline is not None and since is not None and (now - since).total_seconds() > deadline
