"""What the Deployment controller decides, as pure functions.

One ReplicaSet per pod-template revision: its name ends in the
`pod-template-hash` of the template, which also joins its selector and its
pods' labels, so ReplicaSets of one Deployment never select each other's
pods. The revision annotation counts templates as kubectl rollout expects.

Both strategies: RollingUpdate (never more than replicas + maxSurge pods,
never fewer than replicas - maxUnavailable available, as deployment/
rolling.go) and Recreate (old pods gone before new ones start). Scaling in
the middle of a rollout and history clean-up live in `deployment_scaling`,
status and conditions in `deployment_status`.

Two different templates could hash alike: then `status.collisionCount` is
raised and joins the hash, as in Kubernetes, so the next name differs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "REVISION",
    "REVISION_HISTORY",
    "TEMPLATE_HASH",
    "copied_annotations",
    "current_annotations",
    "find_current",
    "new_replicaset",
    "next_revision",
    "recreate_plan",
    "revision_of",
    "revision_to_raise",
    "resolve_fenceposts",
    "rolling_plan",
    "scale_plan",
    "template_hash",
]

Obj = dict[str, Any]
TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
# The Deployment's annotations its ReplicaSets do not take (kube's
# annotationsToSkip): the controller's own, and kubectl's last applied config.
_NOT_COPIED = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})  # fmt: skip
MAX_HISTORY_CHARS = 2000  # the longest revision-history kube keeps
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet


def _strip_nulls(value: Any) -> Any:
    """Clients send `creationTimestamp: null` in templates (kubectl-wire G8)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A short stable name for a pod template (FNV-1a over its canonical JSON).

    Encoded as Kubernetes encodes it: the sum's decimal digits, each through
    SafeEncodeString, so hashes look like `7c5ddbdf54` (only `456789bcdf`).
    """
    data = orjson.dumps(_strip_nulls(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHABET[ord(digit) % len(_ALPHABET)] for digit in str(value))


def _template_without_hash(rs: Obj) -> Obj:
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    (template.get("metadata") or {}).get("labels", {}).pop(TEMPLATE_HASH, None)
    return template


def find_current(deployment: Obj, replicasets: Sequence[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's template."""
    wanted = _strip_nulls((deployment.get("spec") or {}).get("template") or {})
    for rs in replicasets:
        if _strip_nulls(_template_without_hash(rs)) == wanted:
            return rs
    return None


def next_revision(replicasets: Sequence[Obj]) -> int:
    return max((revision_of(rs) for rs in replicasets), default=0) + 1


def revision_of(rs: Obj) -> int:
    return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0") or 0)


def copied_annotations(deployment: Obj) -> dict[str, str]:
    """The Deployment's annotations its current ReplicaSet carries too, as kube
    copies them (so `kubernetes.io/change-cause` shows in kubectl rollout history)."""
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in _NOT_COPIED}


def current_annotations(deployment: Obj, rs: Obj, revision: int | None) -> dict[str, str] | None:
    """The current ReplicaSet's annotations after a sync, or None if unchanged: the
    Deployment's copied over, and a raised `revision` (a template that came back)
    with the revision it had appended to its revision-history, as kube keeps it."""
    before = (rs.get("metadata") or {}).get("annotations") or {}
    after = {**before, **copied_annotations(deployment)}
    old = before.get(REVISION)
    if revision is not None and revision > revision_of(rs):
        after[REVISION] = str(revision)
        if old:
            history = [r for r in (before.get(REVISION_HISTORY) or "").split(",") if r]
            history.append(old)
            while len(",".join(history)) > MAX_HISTORY_CHARS:
                history.pop(0)
            after[REVISION_HISTORY] = ",".join(history)
    return after if after != before else None


def revision_to_raise(current: Obj, old: Sequence[Obj]) -> int | None:
    """The revision the current ReplicaSet must take when an older template returned."""
    newest_old = max((revision_of(rs) for rs in old), default=0)
    return newest_old + 1 if revision_of(current) < newest_old else None


def new_replicaset(
    deployment: Obj, revision: int, *, replicas: int, annotations: dict[str, str] | None = None
) -> Obj:
    """The ReplicaSet for the Deployment's current template."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = copy.deepcopy(_strip_nulls(spec.get("template") or {}))
    collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
    digest = template_hash(template, collisions)
    template.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH] = digest
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[TEMPLATE_HASH] = digest
    labels = dict(template["metadata"]["labels"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{digest}",
            "namespace": meta.get("namespace", ""),
            "labels": labels,
            "annotations": {**(annotations or {}), REVISION: str(revision)},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {"replicas": replicas, "selector": selector,
                 "template": template, "minReadySeconds": int(spec.get("minReadySeconds", 0))},
    }  # fmt: skip


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def _pods(rs: Obj) -> int:
    """The set's pods that are not terminating, as its controller last counted them."""
    return int((rs.get("status") or {}).get("replicas") or 0)


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def _oldest_first(sets: Sequence[Obj]) -> list[Obj]:
    return sorted(sets, key=lambda rs: (rs["metadata"].get("creationTimestamp") or "",
                                        rs["metadata"]["name"]))  # fmt: skip


def resolve_fenceposts(deployment: Obj) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down) as pod counts.

    Both zero would deadlock a rollout, so maxUnavailable becomes 1 then, as
    in Kubernetes.
    """
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}

    def resolve(value: Any, default: str, round_up: bool) -> int:
        value = default if value is None else value
        if isinstance(value, str) and value.endswith("%"):
            scaled = int(value[:-1]) * replicas
            return -(-scaled // 100) if round_up else scaled // 100
        return int(value)

    surge = resolve(rolling.get("maxSurge"), "25%", True)
    unavailable = resolve(rolling.get("maxUnavailable"), "25%", False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rolling_plan(deployment: Obj, new: Obj, old: Sequence[Obj]) -> dict[str, int]:
    """One step of a rolling update (kubernetes' deployment/rolling.go).

    The new ReplicaSet grows while all pods stay within replicas + maxSurge;
    old ones shrink, unhealthy pods first, while available pods stay at or
    above replicas - maxUnavailable.
    """
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    surge, unavailable = resolve_fenceposts(deployment)
    plan = {rs["metadata"]["name"]: _replicas(rs) for rs in [new, *old]}
    name = new["metadata"]["name"]
    if plan[name] > replicas:
        plan[name] = replicas
    elif plan[name] < replicas:
        # An old set counts its pods until they are gone, not from when it is told
        # to shrink: its controller deletes a moment later, and a new pod made
        # meanwhile would put one more than replicas + maxSurge on the nodes.
        counted = plan[name] + sum(max(_replicas(rs), _pods(rs)) for rs in old)
        room = replicas + surge - counted
        plan[name] += max(0, min(room, replicas - plan[name]))
    min_available = replicas - unavailable
    new_unavailable = plan[name] - _available(new)
    can_drop = sum(plan.values()) - min_available - new_unavailable
    for rs in _oldest_first(old):  # unhealthy old pods go first: they serve nobody
        unhealthy = _replicas(rs) - _available(rs)
        drop = max(0, min(unhealthy, can_drop, plan[rs["metadata"]["name"]]))
        plan[rs["metadata"]["name"]] -= drop
        can_drop -= drop
    spare = sum(_available(rs) for rs in [new, *old]) - min_available
    for rs in _oldest_first(old):
        drop = max(0, min(spare, plan[rs["metadata"]["name"]], can_drop))
        plan[rs["metadata"]["name"]] -= drop
        spare -= drop
        can_drop -= drop
    return plan


def recreate_plan(deployment: Obj, new: Obj, old: Sequence[Obj]) -> dict[str, int]:
    """Old pods all gone first, then the new ReplicaSet scales up."""
    plan = {rs["metadata"]["name"]: 0 for rs in old}
    old_pods = sum(int((rs.get("status") or {}).get("replicas") or 0) for rs in old)
    waiting = old_pods > 0 or any(_replicas(rs) > 0 for rs in old)
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    plan[new["metadata"]["name"]] = 0 if waiting else replicas
    return plan


def scale_plan(deployment: Obj, new: Obj, old: Sequence[Obj]) -> dict[str, int]:
    """ReplicaSet name -> the replicas it should have now, by the strategy."""
    kind = ((deployment.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
    if kind == "Recreate":
        return recreate_plan(deployment, new, old)
    return rolling_plan(deployment, new, old)
