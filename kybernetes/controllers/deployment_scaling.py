"""Scaling a Deployment whose ReplicaSets are several, and clearing its history.

When `replicas` changes in the middle of a rollout, the change is shared
among the active ReplicaSets in proportion to their sizes (deployment/
sync.go), so a scale-up does not land entirely on an old template nor a
scale-down only on the new one. Each ReplicaSet remembers, in the
`desired-replicas` and `max-replicas` annotations, the Deployment size it
was last scaled for; a ReplicaSet whose annotation disagrees with the
Deployment is how a scaling event is recognised.

History: ReplicaSets of old templates that have no pods left are deleted
beyond `revisionHistoryLimit` (default 10), oldest revision first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kybernetes.controllers.deployment_decisions import resolve_fenceposts, revision_of

__all__ = [
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "history_to_delete",
    "is_scaling_event",
    "proportional_plan",
    "replicas_annotations",
]

Obj = dict[str, Any]
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEFAULT_HISTORY_LIMIT = 10


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def _annotation(rs: Obj, name: str) -> int | None:
    value = ((rs.get("metadata") or {}).get("annotations") or {}).get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _wanted(deployment: Obj) -> int:
    return int((deployment.get("spec") or {}).get("replicas", 1))


def replicas_annotations(deployment: Obj) -> dict[str, str]:
    """What every ReplicaSet the Deployment scales is annotated with."""
    surge, _ = resolve_fenceposts(deployment)
    wanted = _wanted(deployment)
    return {DESIRED_REPLICAS: str(wanted), MAX_REPLICAS: str(wanted + surge)}


def is_scaling_event(deployment: Obj, sets: Sequence[Obj]) -> bool:
    """An active ReplicaSet was last sized for another `replicas`: the user scaled."""
    wanted = _wanted(deployment)
    for rs in sets:
        desired = _annotation(rs, DESIRED_REPLICAS)
        if _replicas(rs) > 0 and desired is not None and desired != wanted:
            return True
    return False


def _created(rs: Obj) -> tuple[str, str]:
    meta = rs.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name", "")))


def _fraction(rs: Obj, deployment: Obj) -> int:
    """How much of the change `rs` takes: its share of the new maximum size."""
    wanted = _wanted(deployment)
    if wanted == 0:
        return -_replicas(rs)
    surge, _ = resolve_fenceposts(deployment)
    annotated = _annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = int((deployment.get("status") or {}).get("replicas") or 0)
    if annotated == 0:
        return 0
    share = _replicas(rs) * (wanted + surge) / annotated
    return int(share + 0.5) - _replicas(rs)  # round half away from zero, as Go's math.Round


def proportional_plan(deployment: Obj, new: Obj | None, old: Sequence[Obj]) -> dict[str, int]:
    """ReplicaSet name -> size after a scaling event (only sets that change size or not)."""
    everything = [rs for rs in ([new] if new else []) + list(old)]
    active = [rs for rs in everything if _replicas(rs) > 0]
    wanted = _wanted(deployment)
    if len(active) <= 1:
        # One active set (or none: then the newest) simply takes the whole size.
        newest = sorted(old, key=_created, reverse=True)
        target = active[0] if active else (new or (newest[0] if newest else None))
        return {target["metadata"]["name"]: wanted} if target else {}
    if new is not None and _saturated(deployment, new):
        return {rs["metadata"]["name"]: 0 for rs in old if _replicas(rs)}
    surge, _ = resolve_fenceposts(deployment)
    allowed = wanted + surge if wanted > 0 else 0
    to_add = allowed - sum(_replicas(rs) for rs in active)
    if to_add == 0:
        return {}
    # Larger first; ties: newer first when growing, older first when shrinking.
    by_age = sorted(active, key=_created, reverse=to_add > 0)
    ordered = sorted(by_age, key=_replicas, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        share = _fraction(rs, deployment)
        left = to_add - added
        share = min(share, left) if to_add > 0 else max(share, left)
        sizes[rs["metadata"]["name"]] = _replicas(rs) + share
        added += share
    first = ordered[0]["metadata"]["name"]
    sizes[first] = max(0, sizes[first] + to_add - added)  # leftovers go to the largest
    return sizes


def _saturated(deployment: Obj, rs: Obj) -> bool:
    wanted = _wanted(deployment)
    return (
        _replicas(rs) == wanted
        and _annotation(rs, DESIRED_REPLICAS) == wanted
        and int((rs.get("status") or {}).get("availableReplicas") or 0) == wanted
    )


def history_to_delete(deployment: Obj, old: Sequence[Obj]) -> list[Obj]:
    """Old ReplicaSets beyond revisionHistoryLimit that have no pods, oldest revision first."""
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit", DEFAULT_HISTORY_LIMIT)
    if limit is None:
        return []
    alive = [rs for rs in old if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return []
    # As kube: only the `excess` oldest are candidates; one still busy is skipped, not replaced.
    oldest = sorted(alive, key=lambda rs: (revision_of(rs), _created(rs)))[:excess]
    return [
        rs for rs in oldest
        if _replicas(rs) == 0
        and int((rs.get("status") or {}).get("replicas") or 0) == 0
        and (rs.get("status") or {}).get("observedGeneration", 0)
        >= (rs.get("metadata") or {}).get("generation", 0)
    ]  # fmt: skip
