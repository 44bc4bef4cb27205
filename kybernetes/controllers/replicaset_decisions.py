"""What the ReplicaSet controller decides, as pure functions (STYLE.md habit 1).

Given a ReplicaSet and the pods it controls: how many pods to create, which
to delete (unscheduled first, then pending, then not ready, then the newest,
as kubernetes' `ActivePodsWithRanks` orders them), the pod to create from
the template, and the status to report. No I/O here: tests call these
directly.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.times import format_time, parse_time

__all__ = [
    "Decision",
    "decide",
    "available_in",
    "is_active",
    "is_available",
    "owned_by",
    "pod_from_template",
    "replicaset_status",
    "slow_start_batches",
]

Obj = dict[str, Any]

# Creates go out in batches of 1, 2, 4, ... and stop at the first failure,
# so a broken template fails once, not `replicas` times (controller_utils.go).
SLOW_START_INITIAL_BATCH = 1


@dataclass(frozen=True)
class Decision:
    create: int
    delete: tuple[Obj, ...]


def is_active(pod: Obj) -> bool:
    """Counts toward replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get(
        "deletionTimestamp"
    )


def owned_by(pod: Obj, owner_uid: str) -> bool:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == owner_uid:
            return True
    return False


def _ready_since(pod: Obj) -> datetime.datetime | None:
    """When the pod last became Ready, or None when it is not ready."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime")) or datetime.datetime.min.replace(
                tzinfo=datetime.UTC
            )
    return None


def _is_ready(pod: Obj) -> bool:
    return _ready_since(pod) is not None


def available_in(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> float | None:
    """Seconds until a ready pod counts as available (0: it does), None when not ready."""
    since = _ready_since(pod)
    if since is None:
        return None
    return max(0.0, min_ready_seconds - (now - since).total_seconds())


def is_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least minReadySeconds (kubernetes' IsPodAvailable)."""
    return available_in(pod, min_ready_seconds, now) == 0


def _readiness_rank(pod: Obj) -> tuple[int, int, int]:
    """Lower goes first: unscheduled, then not running, then not ready."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return (
        1 if spec.get("nodeName") else 0,
        1 if status.get("phase") == "Running" else 0,
        1 if _is_ready(pod) else 0,
    )


def _created(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def decide(replicas: int, active_pods: Sequence[Obj]) -> Decision:
    """Create the missing pods, or delete the surplus ones, least useful first."""
    diff = replicas - len(active_pods)
    if diff > 0:
        return Decision(create=diff, delete=())
    if diff == 0:
        return Decision(create=0, delete=())
    newest_first = sorted(active_pods, key=_created, reverse=True)
    ranked = sorted(newest_first, key=_readiness_rank)  # stable: newest first among equals
    return Decision(create=0, delete=tuple(ranked[:-diff]))


def slow_start_batches(count: int) -> list[int]:
    """Batch sizes 1, 2, 4, ... adding up to `count`."""
    batches, size, left = [], SLOW_START_INITIAL_BATCH, count
    while left > 0:
        batches.append(min(size, left))
        left -= batches[-1]
        size *= 2
    return batches


def pod_from_template(rs: Obj) -> Obj:
    """A new pod for `rs`: its template, a generated name, a controller reference."""
    meta = rs["metadata"]
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    pod_meta = template.get("metadata") or {}
    pod_meta.pop("creationTimestamp", None)
    pod_meta["generateName"] = f"{meta['name']}-"
    pod_meta["namespace"] = meta.get("namespace", "")
    pod_meta["ownerReferences"] = [
        {
            # A ReplicationController's pods name it (replicationcontroller.py).
            "apiVersion": rs.get("apiVersion") or "apps/v1",
            "kind": rs.get("kind") or "ReplicaSet",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}  # fmt: skip


def replicaset_status(
    rs: Obj,
    active_pods: Sequence[Obj],
    now: datetime.datetime,
    failure: tuple[str, str] | None = None,
) -> Obj:
    """The status the controller reports (replicas, ready, available, observedGeneration).

    `failure` (reason, message) is why pods could not be created or deleted: the
    ReplicaFailure condition says it until a sync manages its pods again.
    """
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels", {})
    ready = [p for p in active_pods if _is_ready(p)]
    fully_labeled = [
        p for p in active_pods
        if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v
               for k, v in labels.items())
    ]  # fmt: skip
    status: Obj = {
        "replicas": len(active_pods),
        "fullyLabeledReplicas": len(fully_labeled),
        "readyReplicas": len(ready),
        "availableReplicas": sum(1 for p in ready if is_available(p, min_ready, now)),
        "observedGeneration": (rs.get("metadata") or {}).get("generation", 0),
    }
    old = (rs.get("status") or {}).get("conditions") or []
    conditions = [c for c in old if c.get("type") != "ReplicaFailure"]
    if failure is not None:
        previous = next((c for c in old if c.get("type") == "ReplicaFailure"), None)
        since = previous["lastTransitionTime"] if previous else format_time(now)
        conditions.append({"type": "ReplicaFailure", "status": "True", "reason": failure[0],
                           "message": failure[1], "lastTransitionTime": since})  # fmt: skip
    if conditions or old:
        status["conditions"] = conditions
    return status
