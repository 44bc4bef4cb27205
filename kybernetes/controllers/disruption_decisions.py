"""What the disruption controller decides, as pure functions.

A budget's status from the pods its selector matches:
- `expectedPods` is the number of matched pods for an integer
  `minAvailable`; otherwise (a percentage, or `maxUnavailable`) it is the
  total scale of the pods' controllers, each counted once;
- `desiredHealthy` is `minAvailable` (a percentage rounded up), or
  `expectedPods - maxUnavailable` (a percentage rounded up), never below 0;
- `currentHealthy` counts Ready pods that are not being deleted and that no
  eviction has just disrupted (`status.disruptedPods`, kept for two minutes
  or until the pod is seen going);
- `disruptionsAllowed` is their difference, and 0 while nothing is expected.
Times are parameters (`now`), never read here.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from kybernetes.api.disruption import scaled_value, with_condition
from kybernetes.api.times import format_time, parse_time

__all__ = ["DELETION_TIMEOUT", "budget_status", "controllers_scale", "needs_scale", "next_expiry"]

Obj = dict[str, Any]
DELETION_TIMEOUT = datetime.timedelta(minutes=2)  # how long an eviction waits to be seen


def needs_scale(pdb: Obj) -> bool:
    """Whether the budget is relative to its pods' controllers' scale."""
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        return True
    minimum = spec.get("minAvailable")
    return isinstance(minimum, str) and minimum.endswith("%")


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _disrupted(pdb: Obj, pods: Sequence[Obj], now: datetime.datetime) -> dict[str, str]:
    """Evictions not yet seen through: the pod still exists, not yet deleting, not expired."""
    live = {
        p["metadata"]["name"]
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
    }
    kept = {}
    for name, when in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
        moment = parse_time(when)
        if name in live and moment is not None and moment + DELETION_TIMEOUT > now:
            kept[name] = when
    return kept


def next_expiry(pdb: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the first disrupted pod's entry expires (look again then)."""
    waits = []
    for when in ((pdb.get("status") or {}).get("disruptedPods") or {}).values():
        moment = parse_time(when)
        if moment is not None:
            waits.append((moment + DELETION_TIMEOUT - now).total_seconds())
    return max(min(waits), 0.0) + 0.1 if waits else None


def budget_status(
    pdb: Obj,
    pods: Sequence[Obj],
    *,
    expected_scale: int | None,
    now: datetime.datetime,
    error: str = "",
) -> Obj:
    """The budget's new status. `expected_scale` is the controllers' total
    scale (None when `needs_scale` is False); `error` fails safe: nothing allowed."""
    spec = pdb.get("spec") or {}
    generation = int((pdb.get("metadata") or {}).get("generation") or 0)
    old = pdb.get("status") or {}
    stamp = format_time(now)
    if error:
        failed = {**old, "disruptionsAllowed": 0, "observedGeneration": generation}
        return with_condition(failed, generation=generation, now=stamp, sync_error=error)
    disrupted = _disrupted(pdb, pods, now)
    if spec.get("maxUnavailable") is not None:
        expected = expected_scale or 0
        unavailable = scaled_value(spec["maxUnavailable"], expected, round_up=True)
        desired = max(expected - unavailable, 0)
    elif needs_scale(pdb):
        expected = expected_scale or 0
        desired = scaled_value(spec.get("minAvailable"), expected, round_up=True)
    else:
        expected = len(pods)
        desired = int(spec.get("minAvailable") or 0)
    healthy = sum(
        1
        for p in pods
        if _ready(p)
        and not p["metadata"].get("deletionTimestamp")
        and p["metadata"]["name"] not in disrupted
    )
    allowed = max(healthy - desired, 0) if expected > 0 else 0
    status: Obj = {
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "observedGeneration": generation,
        "conditions": old.get("conditions") or [],
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return with_condition(status, generation=generation, now=stamp)


def controllers_scale(
    pods: Sequence[Obj], scale_of: Mapping[str, tuple[str, int]]
) -> tuple[int, str]:
    """The total scale of the pods' controllers (each once), or an error naming a
    pod whose controller is unknown. `scale_of` maps a pod's controller uid to
    the controller that scales it and its replicas: a Deployment's ReplicaSets
    all map to the Deployment, so it counts once."""
    seen: dict[str, int] = {}
    for pod in pods:
        refs = [
            r
            for r in (pod.get("metadata") or {}).get("ownerReferences") or []
            if r.get("controller")
        ]
        if not refs:
            return 0, f'found no controller ref for pod "{pod["metadata"]["name"]}"'
        found = scale_of.get(refs[0].get("uid", ""))
        if found is None:
            return 0, f'found no controllers for pod "{pod["metadata"]["name"]}"'
        seen[found[0]] = found[1]
    return sum(seen.values()), ""
