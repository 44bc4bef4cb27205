"""Adopting orphans and releasing strays: who controls an object, decided purely.

Kubernetes' ControllerRefManager, as pure functions: a controller claims
the objects its selector matches that have no controller yet (adopt), keeps
those it already controls while they still match, and lets go of those
that no longer match (release) — unless it is itself being deleted, when
it adopts nothing. The patches carry the object's uid, so an object that
was deleted and re-created under the same name meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.selectors import LabelSelector

__all__ = ["Claim", "adopt_patch", "claim", "controller_ref", "release_patch"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    keep: tuple[Obj, ...]  # controlled and still matching
    adopt: tuple[Obj, ...]  # orphans that match: take them
    release: tuple[Obj, ...]  # controlled but no longer matching: let go


def controller_ref(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def _controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return None


def claim(owner: Obj, selector: LabelSelector, candidates: Sequence[Obj]) -> Claim:
    """Sort `candidates` (objects in the owner's namespace) into keep/adopt/release."""
    uid = owner["metadata"]["uid"]
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    keep: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for obj in candidates:
        meta = obj.get("metadata") or {}
        matches = selector.matches(meta.get("labels") or {})
        controller = _controller_uid(obj)
        if controller == uid:
            (keep if matches or deleting else release).append(obj)
        elif controller is None and matches and not deleting and not meta.get("deletionTimestamp"):
            adopt.append(obj)
    return Claim(tuple(keep), tuple(adopt), tuple(release))


def adopt_patch(owner: Obj, obj: Obj) -> Obj:
    """A strategic merge patch adding the controller reference (ownerReferences merge by uid)."""
    return {"metadata": {"ownerReferences": [controller_ref(owner)],
                         "uid": obj["metadata"]["uid"]}}  # fmt: skip


def release_patch(owner: Obj, obj: Obj) -> Obj:
    """A strategic merge patch removing the owner's reference."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete",
                                              "uid": owner["metadata"]["uid"]}],
                         "uid": obj["metadata"]["uid"]}}  # fmt: skip
