"""What deleting a namespace's content takes, as pure functions.

kube-controller-manager's namespace controller (pkg/controller/namespace/
deletion/namespaced_resources_deleter.go and status_condition_utils.go):
every namespaced resource that can be deleted is emptied (pods first, and
nothing else until the pods are gone: ordered namespace deletion, so a
running pod never outlives the Secrets and policies it uses); what is left
is counted per resource and per finalizer; pods still within their grace
period give an estimate of how long to wait. The namespace's five
deletion conditions say how it goes, in Kubernetes' own words, and only
when nothing is left does the `kubernetes` finalizer come off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.times import parse_time
from kybernetes.controllers.garbagecollector_decisions import Resource

__all__ = [
    "CONDITION_TYPES",
    "FINALIZER",
    "Remaining",
    "content_conditions",
    "deletable_namespaced_resources",
    "grace_estimate",
    "is_finalized",
    "remaining",
    "unexpected_items_error",
    "with_conditions",
    "without_finalizer",
]

Obj = dict[str, Any]
FINALIZER = "kubernetes"
# How long to assume a finalizer takes before looking again (kube: 15 s).
FINALIZER_ESTIMATE_SECONDS = 15

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GV_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (DISCOVERY_FAILURE, GV_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING,
                   FINALIZERS_REMAINING)  # fmt: skip
# The condition each type has while nothing is wrong: (reason, message).
_OK = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GV_PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted",
                      "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}  # fmt: skip


def deletable_namespaced_resources(lists: Iterable[tuple[str, list[Obj]]]) -> list[Resource]:
    """The namespaced resources to empty, from discovery: pods first."""
    found = []
    for group_version, entries in lists:
        group, _, version = group_version.rpartition("/")
        for entry in entries:
            name = str(entry.get("name") or "")
            verbs = set(entry.get("verbs") or ())
            if not name or "/" in name or not entry.get("namespaced"):
                continue
            if not {"delete", "list"} <= verbs:
                continue
            if (group, name) == ("events.k8s.io", "events"):
                continue  # the same objects as core events: emptied once, through v1
            found.append(Resource(group, version, name, str(entry.get("kind") or ""), True))
    return sorted(found, key=lambda r: (r.group, r.plural) != ("", "pods"))


@dataclass
class Remaining:
    """What is left in the namespace after a round of deletes."""

    by_resource: dict[Resource, int] = field(default_factory=dict)
    by_finalizer: dict[str, int] = field(default_factory=dict)

    def add(self, resource: Resource, items: list[Obj]) -> None:
        if not items:
            return
        self.by_resource[resource] = self.by_resource.get(resource, 0) + len(items)
        for finalizer, count in remaining(items).items():
            self.by_finalizer[finalizer] = self.by_finalizer.get(finalizer, 0) + count

    @property
    def empty(self) -> bool:
        return not self.by_resource


def remaining(items: Iterable[Obj]) -> dict[str, int]:
    """How many of `items` each finalizer holds."""
    counts: dict[str, int] = {}
    for item in items:
        for finalizer in (item.get("metadata") or {}).get("finalizers") or ():
            counts[finalizer] = counts.get(finalizer, 0) + 1
    return counts


def grace_estimate(pods: Iterable[Obj], *, deleted_at: str, now: str) -> int:
    """Seconds the namespace's pods may still take to terminate (0: should be gone).

    The longest grace period of a pod not yet finished, counted from the
    namespace's deletion; once that much time has passed, nothing is excused.
    """
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        meta = pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        estimate = max(estimate, int(grace or 0))
    start, moment = parse_time(deleted_at), parse_time(now)
    if start is not None and moment is not None and (moment - start).total_seconds() >= estimate:
        return 0
    return estimate


def unexpected_items_error(namespace: str, resource: Resource) -> str:
    """kube's words when items without finalizers outlive their deletion."""
    gv = f"{resource.group}/{resource.version}"
    return (f"unexpected items still remain in namespace: {namespace} for gvr: "
            f"{gv}, Resource={resource.plural}")  # fmt: skip


def content_conditions(
    *, discovery_error: str, delete_errors: list[str], left: Remaining, now: str
) -> list[Obj]:
    """The failing conditions of this round (the others are their OK variant)."""
    conditions = []

    def failing(kind: str, reason: str, message: str) -> None:
        conditions.append({"type": kind, "status": "True", "lastTransitionTime": now,
                           "reason": reason, "message": message})  # fmt: skip

    if discovery_error:
        failing(DISCOVERY_FAILURE, "DiscoveryFailed", discovery_error)
    if delete_errors:
        failing(CONTENT_FAILURE, "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(delete_errors)} remaining: "
                + ", ".join(delete_errors))  # fmt: skip
    if left.by_resource:
        parts = sorted(f"{r.plural}.{r.group} has {n} resource instances"
                       for r, n in left.by_resource.items() if n)  # fmt: skip
        failing(CONTENT_REMAINING, "SomeResourcesRemain",
                "Some resources are remaining: " + ", ".join(parts))  # fmt: skip
    if left.by_finalizer:
        parts = sorted(f"{f} in {n} resource instances" for f, n in left.by_finalizer.items() if n)
        why = "Some content in the namespace has finalizers remaining: " + ", ".join(parts)
        failing(FINALIZERS_REMAINING, "SomeFinalizersRemain", why)
    return conditions


def with_conditions(old: list[Obj], failing: list[Obj], *, now: str) -> list[Obj]:
    """The namespace's conditions after this round: each of the five types
    present, failing or OK; an unchanged one keeps its transition time."""
    by_type: Mapping[str, Obj] = {c["type"]: c for c in failing}
    result = [dict(c) for c in old]
    for kind in CONDITION_TYPES:
        new = by_type.get(kind)
        if new is None:
            reason, message = _OK[kind]
            new = {"type": kind, "status": "False", "lastTransitionTime": now,
                   "reason": reason, "message": message}  # fmt: skip
        index = next((i for i, c in enumerate(result) if c.get("type") == kind), None)
        if index is None:
            result.append(new)
            continue
        current = result[index]
        if all(current.get(k) == new[k] for k in ("status", "reason", "message")):
            continue
        result[index] = new
    return result


def is_finalized(namespace: Obj) -> bool:
    return FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or ())


def without_finalizer(namespace: Obj) -> Obj:
    """The body of the finalize call: the namespace without our finalizer."""
    spec = dict(namespace.get("spec") or {})
    spec["finalizers"] = [f for f in spec.get("finalizers") or () if f != FINALIZER]
    return {**namespace, "spec": spec}
