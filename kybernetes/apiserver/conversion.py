"""Kinds served at more than one version (or group), stored as one.

kube-apiserver keeps each kind in one storage version and converts on the
way in and out, so an object written through one version reads back
through every other: `kubectl autoscale` writes an autoscaling/v1
HorizontalPodAutoscaler that `kubectl get hpa` reads as autoscaling/v2, and
an events.k8s.io/v1 Event is a core/v1 Event under other field names. Here
each served form that is not the stored one is a `View`: the group and
version it is stored as, and a function each way. `ObjectStorage` and the
watch convert every object of a view that crosses the store. A view shares
its stored form's storage prefix (`ResourceType.storage_prefix` has no
version in it, and `stored_in` names another group), so the watch cache too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from kybernetes.apiserver import hpa_conversion
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceType

__all__ = [
    "View",
    "core_event",
    "events_event",
    "from_storage",
    "needs_conversion",
    "stored_type",
    "to_storage",
]

Convert = Callable[[Obj], Obj]

# events.k8s.io/v1 names -> core/v1 names (kube's pkg/apis/events/v1 conversion).
EVENT_RENAMES = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "reportingController": "reportingComponent",
}
_EVENT_NAMES = {core: new for new, core in EVENT_RENAMES.items()}


def core_event(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event as the core/v1 Event it is."""
    out = {EVENT_RENAMES.get(key, key): value for key, value in event.items()}
    out["apiVersion"] = "v1"
    return out


def events_event(event: Obj) -> Obj:
    """A core/v1 Event as events.k8s.io/v1 serves it."""
    out = {_EVENT_NAMES.get(key, key): value for key, value in event.items()}
    out["apiVersion"] = "events.k8s.io/v1"
    return out


@dataclass(frozen=True)
class View:
    group: str  # the group and version the objects are stored as
    version: str
    to_storage: Convert
    from_storage: Convert


VIEWS: dict[tuple[str, str, str], View] = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): View(
        "autoscaling", "v2", hpa_conversion.v1_to_v2, hpa_conversion.v2_to_v1
    ),
    ("events.k8s.io", "v1", "Event"): View("", "v1", core_event, events_event),
}


def _view(rt: ResourceType) -> View | None:
    return VIEWS.get((rt.group, rt.version, rt.kind))


def needs_conversion(rt: ResourceType) -> bool:
    return _view(rt) is not None


def stored_type(rt: ResourceType) -> ResourceType:
    """`rt` as its objects are stored (same keys, same prefix)."""
    view = _view(rt)
    if view is None:
        return rt
    return dataclasses.replace(rt, group=view.group, version=view.version, stored_in=None)


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """`obj` (as `rt` serves it) as it is stored."""
    view = _view(rt)
    return obj if view is None else view.to_storage(obj)


def from_storage(rt: ResourceType, obj: Obj) -> Obj:
    """A stored object as `rt` serves it."""
    view = _view(rt)
    return obj if view is None else view.from_storage(obj)
