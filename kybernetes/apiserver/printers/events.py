"""Event columns, the same for core/v1 and events.k8s.io/v1 Events.

kube-apiserver serves both groups from one storage and prints the internal
(core-shaped) event, so `kubectl get events.v1.events.k8s.io` shows the same
columns as `kubectl get events`. Here an events.k8s.io object is first viewed
in the core shape (regarding → involvedObject, note → message,
reportingController → reportingComponent, the deprecated* fields → their
old names), then printed by the same cells.

A series or an `eventTime` (what newer clients write) stands in for the
legacy count and timestamps, so new-style events do not show `<unknown>`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kybernetes.apiserver.conversion import core_event
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import Column, Since, get, since

__all__ = ["COLUMNS", "as_core_event", "event_columns"]


def as_core_event(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event in the core/v1 shape (fields not renamed keep their names)."""
    return core_event(event)


def _first_seen(event: Obj) -> Since:
    first = event.get("firstTimestamp")
    return since(first if first else event.get("eventTime"))


def _last_seen(event: Obj) -> Since:
    if isinstance(event.get("series"), dict):
        return since(get(event, "series", "lastObservedTime"))
    if event.get("lastTimestamp"):
        return since(event["lastTimestamp"])
    return _first_seen(event)


def _count(event: Obj) -> int:
    if isinstance(event.get("series"), dict):
        return int(get(event, "series", "count", default=0))
    # Singleton events written through the new API carry no count: they happened once.
    return int(event.get("count") or 0) or 1


def _object(event: Obj) -> str:
    kind = str(get(event, "involvedObject", "kind", default="")).lower()
    name = get(event, "involvedObject", "name", default="")
    return f"{kind}/{name}" if name else kind


def _source(event: Obj) -> str:
    component = get(event, "source", "component") or event.get("reportingComponent") or ""
    host = get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else str(component)


def event_columns(view: Callable[[Obj], Obj]) -> Sequence[Column]:
    """The event columns, reading each object through `view` (the core shape)."""

    def through(cell: Callable[[Obj], Any]) -> Callable[[Obj], Any]:
        return lambda obj: cell(view(obj))

    return [
        Column("Last Seen", through(_last_seen), description="When the event last happened."),
        Column("Type", through(lambda e: str(e.get("type") or "")),
               description="Normal or Warning."),
        Column("Reason", through(lambda e: str(e.get("reason") or "")),
               description="Why the event happened, in one word."),
        Column("Object", through(_object), description="The object the event is about."),
        Column("Subobject", through(lambda e: str(get(e, "involvedObject", "fieldPath",
                                                         default=""))),
               priority=1, description="The part of the object, such as a container."),
        Column("Source", through(_source), priority=1,
               description="The component that reported the event."),
        Column("Message", through(lambda e: str(e.get("message") or "").strip()),
               description="What happened."),
        Column("First Seen", through(_first_seen), priority=1,
               description="When the event first happened."),
        Column("Count", through(_count), priority=1, description="How often it happened."),
        Column("Name", through(lambda e: str(get(e, "metadata", "name", default=""))),
               priority=1, format="name", description="The event's name."),
    ]  # fmt: skip


COLUMNS = {
    ("", "Event"): event_columns(lambda event: event),
    ("events.k8s.io", "Event"): event_columns(as_core_event),
}
