"""What the garbage collector does with one object, as pure functions.

Kubernetes' rules (pkg/controller/garbagecollector/garbagecollector.go,
`attemptToDeleteItem`, `processDeletingDependentsItem`, `orphanDependents`):

- Each owner of a dependent is *absent* (no object of that name with that
  uid, in the dependent's namespace if the owner's kind is namespaced:
  verified by a live read), *waiting* (being deleted in the
  foreground, so waiting for its dependents to go) or *solid*.
- A dependent with a solid owner stays; references to absent and waiting
  owners are patched out of it. Without a solid owner it is deleted: in
  the foreground when a waiting owner is to wait for it and it has
  dependents of its own (unless one of those is itself deleting its
  dependents: a cycle, broken by unblocking the references instead), else
  with the policy its own GC finalizer names, else in the background.
- An owner deleted in the foreground keeps its `foregroundDeletion`
  finalizer while a dependent with `blockOwnerDeletion: true` exists.
- An owner deleted with the orphan policy first has its reference removed
  from every dependent, then loses its `orphan` finalizer.

Writes are JSON patches that `test` the uid and the exact list they
replace, so they apply only to the object the decision was made about.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FOREGROUND_FINALIZER",
    "IGNORED_RESOURCES",
    "Action",
    "ForegroundOwner",
    "ORPHAN_FINALIZER",
    "Delete",
    "Nothing",
    "ObjectRef",
    "OwnerState",
    "PatchOwnerRefs",
    "Resource",
    "blocking_dependents",
    "collectable_resources",
    "decide_dependent",
    "decide_foreground_owner",
    "finalizer_patch",
    "is_deleting_dependents",
    "is_orphaning",
    "owner_refs_patch",
    "owner_state",
    "without_owner",
]

Obj = dict[str, Any]
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
# Never collected (kube-controller-manager's default --gc-ignored-resources).
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
_NEEDED_VERBS = frozenset({"list", "watch", "delete"})


@dataclass(frozen=True)
class Resource:
    """A resource the collector watches, as discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool


@dataclass(frozen=True)
class ObjectRef:
    """One object, by resource, place and uid (a work-queue key)."""

    resource: Resource
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        """The informer cache key."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class OwnerState(enum.Enum):
    ABSENT = "absent"
    WAITING = "waiting"  # being deleted in the foreground: waits for its dependents
    SOLID = "solid"


@dataclass(frozen=True)
class Nothing:
    pass


@dataclass(frozen=True)
class PatchOwnerRefs:
    """Replace the dependent's ownerReferences by `refs` (from `old`)."""

    old: list[Obj]
    refs: list[Obj]


@dataclass(frozen=True)
class Delete:
    propagation: str  # Background, Foreground or Orphan
    unblock_first: PatchOwnerRefs | None = None  # breaks a foreground cycle


@dataclass(frozen=True)
class ForegroundOwner:
    """For an owner deleting its dependents: remove the finalizer, or wait."""

    remove_finalizer: bool
    wake: list[Obj] = field(default_factory=list)  # dependents to look at again


Action = Nothing | PatchOwnerRefs | Delete


def collectable_resources(group_version: str, resources: Iterable[Obj]) -> list[Resource]:
    """The resources of one APIResourceList the collector watches: every
    top-level resource that can be listed, watched and deleted, except events."""
    group, _, version = group_version.rpartition("/")
    found = []
    for entry in resources:
        name = str(entry.get("name") or "")
        if not name or "/" in name or (group, name) in IGNORED_RESOURCES:
            continue
        if not set(entry.get("verbs") or ()) >= _NEEDED_VERBS:
            continue
        found.append(Resource(group, version, name, str(entry.get("kind") or ""),
                              bool(entry.get("namespaced"))))  # fmt: skip
    return found


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _refs(obj: Obj) -> list[Obj]:
    refs: list[Obj] = _meta(obj).get("ownerReferences") or []
    return refs


def is_deleting_dependents(obj: Obj) -> bool:
    meta = _meta(obj)
    return bool(meta.get("deletionTimestamp")) and FOREGROUND_FINALIZER in (
        meta.get("finalizers") or ()
    )


def is_orphaning(obj: Obj) -> bool:
    meta = _meta(obj)
    return bool(meta.get("deletionTimestamp")) and ORPHAN_FINALIZER in (
        meta.get("finalizers") or ()
    )


def owner_state(owner: Obj | None, uid: str) -> OwnerState:
    """An owner as read (None: not found): absent unless it is the same object."""
    if owner is None or _meta(owner).get("uid") != uid:
        return OwnerState.ABSENT
    return OwnerState.WAITING if is_deleting_dependents(owner) else OwnerState.SOLID


def _deletion_policy(item: Obj) -> str:
    """The item's own GC finalizer says how its dependents go; else background."""
    finalizers = _meta(item).get("finalizers") or ()
    if ORPHAN_FINALIZER in finalizers:
        return "Orphan"
    if FOREGROUND_FINALIZER in finalizers:
        return "Foreground"
    return "Background"


def decide_dependent(
    item: Obj, states: Mapping[str, OwnerState], dependents: Iterable[Obj]
) -> Action:
    """What to do with `item`, given the state of each owner (by uid) and its
    own dependents (as the caches have them)."""
    meta = _meta(item)
    if meta.get("deletionTimestamp"):
        return Nothing()  # already going; its own foreground wait is decided elsewhere
    refs = _refs(item)
    if not refs:
        return Nothing()
    solid = [r for r in refs if states.get(str(r.get("uid"))) is OwnerState.SOLID]
    gone = [r for r in refs if states.get(str(r.get("uid"))) is OwnerState.ABSENT]
    waiting = [r for r in refs if states.get(str(r.get("uid"))) is OwnerState.WAITING]
    if len(solid) + len(gone) + len(waiting) < len(refs):
        return Nothing()  # an owner of unknown state: decide when all are known
    if solid:
        if not gone and not waiting:
            return Nothing()
        # Still owned: only let go of the owners that are gone or going.
        dropped = {str(r.get("uid")) for r in gone + waiting}
        return PatchOwnerRefs(refs, [r for r in refs if str(r.get("uid")) not in dropped])
    deps = list(dependents)
    if waiting and deps:
        unblock = None
        if any(is_deleting_dependents(d) for d in deps):
            # Maybe a cycle (a dependent waits for it as it waits for its
            # owners): stop blocking its owners rather than wait forever.
            new = [{**r, "blockOwnerDeletion": False} if r.get("blockOwnerDeletion") else r
                   for r in refs]  # fmt: skip
            unblock = PatchOwnerRefs(refs, new) if new != refs else None
        # Foreground, so that the waiting owner waits for its dependents too.
        return Delete("Foreground", unblock)
    return Delete(_deletion_policy(item))


def blocking_dependents(owner_uid: str, dependents: Iterable[Obj]) -> list[Obj]:
    """The dependents whose reference to the owner has `blockOwnerDeletion: true`."""
    return [
        d for d in dependents
        if any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") for r in _refs(d))
    ]  # fmt: skip


def decide_foreground_owner(owner: Obj, dependents: Iterable[Obj]) -> ForegroundOwner:
    """An owner deleting its dependents keeps its finalizer while a blocking
    dependent is left; those not themselves deleting dependents are looked at again."""
    blocking = blocking_dependents(str(_meta(owner).get("uid")), dependents)
    if not blocking:
        return ForegroundOwner(remove_finalizer=True)
    return ForegroundOwner(False, [d for d in blocking if not is_deleting_dependents(d)])


def without_owner(refs: list[Obj], owner_uid: str) -> list[Obj]:
    return [r for r in refs if r.get("uid") != owner_uid]


def _guarded(obj: Obj, path: str, old: Any, new: list[Any]) -> list[Obj]:
    """JSON patch ops: the uid and the old value must still be there, then the new value."""
    uid = _meta(obj).get("uid")
    ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": uid},
                      {"op": "test", "path": path, "value": old}]  # fmt: skip
    if new:
        ops.append({"op": "replace" if old is not None else "add", "path": path, "value": new})
    elif old is not None:
        ops.append({"op": "remove", "path": path})
    return ops


def owner_refs_patch(obj: Obj, new_refs: list[Obj]) -> list[Obj]:
    """A JSON patch replacing the ownerReferences `obj` has (guarded by uid and value)."""
    return _guarded(obj, "/metadata/ownerReferences", _meta(obj).get("ownerReferences"), new_refs)


def finalizer_patch(obj: Obj, finalizer: str) -> list[Obj]:
    """A JSON patch removing one finalizer from `obj` (guarded by uid and value)."""
    old = _meta(obj).get("finalizers")
    return _guarded(obj, "/metadata/finalizers", old, [f for f in old or () if f != finalizer])
