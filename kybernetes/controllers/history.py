"""ControllerRevisions: the template history of DaemonSets and StatefulSets.

As in Kubernetes (`pkg/controller/history`), a revision is an apps/v1
ControllerRevision owned by its set: `data` is a strategic merge patch that
puts the template back (`{"spec": {"template": {..., "$patch": "replace"}}}`,
exactly what `kubectl rollout undo` applies), `revision` numbers templates
in the order they were last used, and the name is `<set>-<hash>`. A
template that comes back reuses its old revision object, renumbered as the
newest, so `kubectl rollout history` reads like the Deployment's. The hash
folds in `status.collisionCount`, so a name taken by a revision with other
data is escaped by counting a collision. Pure functions; no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "HASH_LABEL",
    "controller_revision",
    "find_equal",
    "hash_object",
    "next_revision",
    "revision_number",
    "revisions_to_delete",
    "strip_nulls",
    "template_patch",
]

Obj = dict[str, Any]
HASH_LABEL = "controller-revision-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's SafeEncodeString alphabet
_MAX_PREFIX = 223  # ControllerRevisionName keeps room for the hash in 253 characters


def strip_nulls(value: Any) -> Any:
    """Clients send `creationTimestamp: null` in templates; it must not change a hash."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def hash_object(value: Any, collision_count: int | None = None) -> str:
    """FNV-1a (32 bit) of the canonical JSON, plus the collision count, safely encoded.

    Kubernetes encodes the decimal digits of the sum through SafeEncodeString,
    so hashes never spell words and never look like numbers.
    """
    data = orjson.dumps(strip_nulls(value), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += collision_count.to_bytes(4, "little", signed=False)
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in str(digest))


def template_patch(parent: Obj) -> Obj:
    """The revision data: a patch replacing the whole template (the set's getPatch)."""
    template = copy.deepcopy(strip_nulls((parent.get("spec") or {}).get("template") or {}))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def controller_revision(
    parent: Obj, *, kind: str, digest: str, revision: int, data: Obj | None = None
) -> Obj:
    """The ControllerRevision `<parent>-<digest>` of the parent's current template.

    Labels are the template's plus the hash label; annotations are the parent's
    (kubectl rollout history shows their change-cause).
    """
    meta = parent["metadata"]
    template_meta = ((parent.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), HASH_LABEL: digest}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{meta['name'][:_MAX_PREFIX]}-{digest}",
            "namespace": meta.get("namespace", ""),
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": kind, "name": meta["name"],
                "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "data": data if data is not None else template_patch(parent),
        "revision": revision,
    }  # fmt: skip


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def next_revision(revisions: Sequence[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0) + 1


def find_equal(revisions: Sequence[Obj], data: Obj) -> list[Obj]:
    """The revisions holding exactly `data`, oldest revision number first."""
    wanted = strip_nulls(data)
    same = [r for r in revisions if strip_nulls(r.get("data")) == wanted]
    return sorted(same, key=revision_number)


def revisions_to_delete(revisions: Sequence[Obj], *, live: set[str], limit: int) -> list[Obj]:
    """History beyond `revisionHistoryLimit`: the oldest revisions nothing uses.

    `live` names the revisions still in use (the current and update revision,
    and any a pod still runs); they are kept whatever the limit.
    """
    dead = [r for r in revisions if r["metadata"]["name"] not in live]
    excess = len(dead) - max(limit, 0)
    if excess <= 0:
        return []
    return sorted(dead, key=revision_number)[:excess]
