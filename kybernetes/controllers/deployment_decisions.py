"""What the Deployment controller decides, as pure functions.

One ReplicaSet per pod-template revision: its name ends in the
`pod-template-hash` of the template, which also joins its selector and its
pods' labels, so ReplicaSets of one Deployment never select each other's
pods. The revision annotation counts templates as kubectl rollout expects.

This first version scales like the Recreate strategy (the new ReplicaSet
to `replicas`, every old one to 0); RollingUpdate with maxSurge and
maxUnavailable, proportional scaling, pause and rollback come next.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "REVISION",
    "TEMPLATE_HASH",
    "deployment_status",
    "new_replicaset",
    "next_revision",
    "scale_plan",
    "template_hash",
]

Obj = dict[str, Any]
TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet


def _strip_nulls(value: Any) -> Any:
    """Clients send `creationTimestamp: null` in templates (kubectl-wire G8)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def template_hash(template: Obj) -> str:
    """A short stable name for a pod template (FNV-1a over its canonical JSON)."""
    data = orjson.dumps(_strip_nulls(template), option=orjson.OPT_SORT_KEYS)
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    text = []
    while value:
        value, digit = divmod(value, len(_ALPHABET))
        text.append(_ALPHABET[digit])
    return "".join(text) or _ALPHABET[0]


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
    revisions = [
        int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0") or 0)
        for rs in replicasets
    ]
    return max(revisions, default=0) + 1


def new_replicaset(deployment: Obj, revision: int) -> Obj:
    """The ReplicaSet for the Deployment's current template."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = copy.deepcopy(_strip_nulls(spec.get("template") or {}))
    digest = template_hash(template)
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
            "annotations": {REVISION: str(revision)},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {"replicas": int(spec.get("replicas", 1)), "selector": selector,
                 "template": template, "minReadySeconds": int(spec.get("minReadySeconds", 0))},
    }  # fmt: skip


def scale_plan(deployment: Obj, current: Obj, old: Sequence[Obj]) -> dict[str, int]:
    """ReplicaSet name -> the replicas it should have (Recreate-style for now)."""
    plan = {current["metadata"]["name"]: int((deployment.get("spec") or {}).get("replicas", 1))}
    for rs in old:
        plan[rs["metadata"]["name"]] = 0
    return plan


def deployment_status(deployment: Obj, current: Obj | None, all_sets: Sequence[Obj]) -> Obj:
    def total(field: str, sets: Sequence[Obj]) -> int:
        return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    replicas = total("replicas", all_sets)
    available = total("availableReplicas", all_sets)
    status: Obj = {
        "observedGeneration": deployment["metadata"].get("generation", 0),
        "replicas": replicas,
        "updatedReplicas": total("replicas", [current]) if current else 0,
        "readyReplicas": total("readyReplicas", all_sets),
        "availableReplicas": available,
        "unavailableReplicas": max(wanted - available, 0),
    }
    return {k: v for k, v in status.items() if v or k == "observedGeneration"}
