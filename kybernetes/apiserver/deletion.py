"""What a DELETE does to an object, as pure functions over its metadata.

kube-apiserver's generic store decides three things on every delete
(staging/.../registry/generic/registry/store.go and registry/rest/delete.go),
and so do we, in the same order of precedence:

1. Graceful deletion (pods on a node): the object stays, with
   `deletionTimestamp` = now + grace period, until its kubelet finishes it;
   a later delete may only shorten the period. While a graceful deletion
   is pending nothing else about it changes, not even its finalizers.
2. The garbage collector's finalizers: `orphan` (propagation Orphan, the
   deprecated `orphanDependents: true`, or the kind's default) and
   `foregroundDeletion` (propagation Foreground). The explicit option
   wins over a finalizer the object already has, which wins over the
   kind's default; a second delete with another policy swaps them.
3. An object with finalizers left is only marked (`deletionTimestamp`,
   grace 0) and goes when its last finalizer is removed; one without is
   removed at once (background propagation: the garbage collector deletes
   its dependents afterwards).

Namespaces follow their own rule (pkg/registry/core/namespace/storage):
the first delete marks them Terminating and only the namespace controller
empties `spec.finalizers`; the three immortal namespaces are refused
(NamespaceLifecycle admission).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from kybernetes.api.times import format_time, parse_time
from kybernetes.apiserver import errors

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "FOREGROUND_FINALIZER",
    "IMMORTAL_NAMESPACES",
    "ORPHAN",
    "ORPHAN_FINALIZER",
    "Policy",
    "default_gc_policy",
    "gc_finalizers",
    "grace_deadline",
    "immortal_namespace",
    "namespace_gc_finalizers",
    "shortened_deadline",
    "validate_propagation",
]

ORPHAN = "Orphan"
BACKGROUND = "Background"
FOREGROUND = "Foreground"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
GC_FINALIZERS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)

# NamespaceLifecycle's immortal namespaces. kube-node-lease is not one of
# them in Kubernetes: it may be deleted (and is recreated by the system).
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})

# rest.GarbageCollectionPolicy of each kind's strategy, as the kind's served
# version answers it; every kind not listed deletes dependents by default.
DELETE_DEPENDENTS = "DeleteDependents"
ORPHAN_DEPENDENTS = "OrphanDependents"
UNSUPPORTED = "Unsupported"
_DEFAULT_POLICIES = {
    ("", "v1", "ReplicationController"): ORPHAN_DEPENDENTS,  # v1: for back compatibility
    ("batch", "v1", "Job"): ORPHAN_DEPENDENTS,  # batch/v1: for back compatibility
    ("", "v1", "Event"): UNSUPPORTED,
    ("events.k8s.io", "v1", "Event"): UNSUPPORTED,
}


@dataclass(frozen=True)
class Policy:
    """The garbage-collection part of a DeleteOptions: each field None when unset."""

    propagation: str | None = None
    orphan_dependents: bool | None = None


def default_gc_policy(group: str, version: str, kind: str) -> str:
    return _DEFAULT_POLICIES.get((group, version, kind), DELETE_DEPENDENTS)


def validate_propagation(policy: Policy) -> None:
    """ValidateDeleteOptions: the two ways to say it are exclusive, and the policy is known."""
    causes = []
    if policy.orphan_dependents is not None and policy.propagation is not None:
        causes.append(errors.Cause("propagationPolicy", "FieldValueInvalid",
                                   f'Invalid value: "{policy.propagation}": orphanDependents and '
                                   "deletionPropagation cannot be both set"))  # fmt: skip
    if policy.propagation not in (None, FOREGROUND, BACKGROUND, ORPHAN):
        supported = '"Foreground", "Background", "Orphan", "nil"'
        causes.append(errors.Cause("propagationPolicy", "FieldValueNotSupported",
                                   f'Unsupported value: "{policy.propagation}": supported '
                                   f"values: {supported}"))  # fmt: skip
    if causes:
        raise errors.invalid("DeleteOptions", "", causes, "meta.k8s.io")


def _should_orphan(finalizers: list[str], policy: Policy, default: str) -> bool:
    if default == UNSUPPORTED:
        return False
    if policy.orphan_dependents is not None:
        return policy.orphan_dependents
    if policy.propagation == ORPHAN:
        return True
    if policy.propagation in (BACKGROUND, FOREGROUND):
        return False
    for finalizer in finalizers:
        if finalizer == ORPHAN_FINALIZER:
            return True
        if finalizer == FOREGROUND_FINALIZER:
            return False
    return default == ORPHAN_DEPENDENTS


def _should_foreground(finalizers: list[str], policy: Policy, default: str) -> bool:
    if default == UNSUPPORTED or policy.orphan_dependents is not None:
        return False
    if policy.propagation == FOREGROUND:
        return True
    if policy.propagation in (BACKGROUND, ORPHAN):
        return False
    for finalizer in finalizers:
        if finalizer == FOREGROUND_FINALIZER:
            return True
        if finalizer == ORPHAN_FINALIZER:
            return False
    return False


def gc_finalizers(finalizers: list[str], policy: Policy, default: str) -> list[str] | None:
    """The object's finalizers after this delete, or None when they stay as they are.

    Both GC finalizers are taken out, then put back (at the end) as the
    policy says; a set equal to the old one is no change.
    """
    kept = [f for f in finalizers if f not in GC_FINALIZERS]
    if _should_orphan(finalizers, policy, default):
        kept.append(ORPHAN_FINALIZER)
    if _should_foreground(finalizers, policy, default):
        kept.append(FOREGROUND_FINALIZER)
    return None if set(kept) == set(finalizers) else kept


def namespace_gc_finalizers(finalizers: list[str], policy: Policy) -> list[str] | None:
    """A namespace's metadata.finalizers after its first delete (None: unchanged).

    The namespace store's own rule: orphanDependents false asks for
    foreground, and without options the finalizers it has are kept.
    """
    orphan = ORPHAN_FINALIZER in finalizers
    foreground = FOREGROUND_FINALIZER in finalizers
    if policy.orphan_dependents is not None:
        orphan, foreground = policy.orphan_dependents, not policy.orphan_dependents
    elif policy.propagation is not None:
        orphan, foreground = policy.propagation == ORPHAN, policy.propagation == FOREGROUND
    kept = [f for f in finalizers if f not in GC_FINALIZERS]
    if orphan:
        kept.append(ORPHAN_FINALIZER)
    if foreground:
        kept.append(FOREGROUND_FINALIZER)
    return None if set(kept) == set(finalizers) else kept


def grace_deadline(now: str, seconds: int) -> str:
    """`deletionTimestamp` of a graceful delete: when the grace period ends."""
    moment = parse_time(now) or datetime.datetime.now(datetime.UTC)
    return format_time(moment + datetime.timedelta(seconds=seconds))


def shortened_deadline(deadline: str, old_seconds: int, new_seconds: int) -> str:
    """A shorter grace period moves the deadline back by the difference."""
    moment = parse_time(deadline) or datetime.datetime.now(datetime.UTC)
    return format_time(moment - datetime.timedelta(seconds=old_seconds - new_seconds))


def immortal_namespace(name: str) -> errors.ApiError:
    """403 as NamespaceLifecycle words it."""
    return errors.ApiError(403, "Forbidden",
                           f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           kind="namespaces", name=name)  # fmt: skip
