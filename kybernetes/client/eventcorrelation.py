"""What becomes of an Event before it is written: client-go's correlator.

Two of its rules decide what `kubectl describe` shows under Events, so we
keep them as Kubernetes has them:

- **Aggregation.** Events about one object with the same source, type and
  reason but different messages (a controller failing to create pods with
  a new generated name each time) are written one by one until ten
  different messages have been seen within ten minutes; from then on they
  become one Event, "(combined from similar events): <latest message>",
  whose count grows.
- **Spam filter.** Each source may write about one object 25 Events in a
  burst, then one every five minutes (a token bucket per source and
  object); the rest are dropped.

Both are pure and take the time as an argument; `EventRecorder` holds one
of each per component.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AGGREGATE_PREFIX",
    "EventAggregator",
    "SpamFilter",
]

Obj = dict[str, Any]

AGGREGATE_PREFIX = "(combined from similar events): "
MAX_SIMILAR = 10
AGGREGATE_WINDOW = 600.0  # seconds
SPAM_BURST = 25
SPAM_REFILL = 300.0  # seconds per token
CACHE_SIZE = 4096


def _object_key(event: Obj) -> tuple[str, ...]:
    source = event.get("source") or {}
    ref = event.get("involvedObject") or {}
    return (
        source.get("component", ""),
        source.get("host", ""),
        ref.get("kind", ""),
        ref.get("namespace", ""),
        ref.get("name", ""),
        ref.get("uid", ""),
        ref.get("apiVersion", ""),
    )


class _Lru(OrderedDict[tuple[str, ...], Any]):
    def remember(self, key: tuple[str, ...], value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


@dataclass
class _Similar:
    messages: set[str] = field(default_factory=set)
    last: float = 0.0


class EventAggregator:
    """Combines similar Events about one object (see the module's docstring)."""

    def __init__(self) -> None:
        self._seen = _Lru()

    def aggregate(self, event: Obj, now: float) -> tuple[Obj, tuple[str, ...] | None]:
        """The Event to write and, for a combined one, the key that names it
        (every later combined Event updates the same one); None for an Event
        written as it came."""
        key = (
            *_object_key(event),
            event.get("type", ""),
            event.get("reason", ""),
            event.get("reportingComponent", ""),
            event.get("reportingInstance", ""),
        )
        similar = self._seen.get(key)
        if similar is None or now - similar.last > AGGREGATE_WINDOW:
            similar = _Similar()
        similar.messages.add(str(event.get("message", "")))
        similar.last = now
        self._seen.remember(key, similar)
        if len(similar.messages) < MAX_SIMILAR:
            return event, None
        similar.messages.pop()  # the set stays at its bound, as client-go's
        combined = {**event, "message": AGGREGATE_PREFIX + str(event.get("message", ""))}
        return combined, ("aggregate", *key)


@dataclass
class _Bucket:
    tokens: float
    at: float


class SpamFilter:
    """A token bucket per source and object (see the module's docstring)."""

    def __init__(self) -> None:
        self._buckets = _Lru()

    def allow(self, event: Obj, now: float) -> bool:
        key = _object_key(event)
        bucket = self._buckets.get(key) or _Bucket(float(SPAM_BURST), now)
        bucket.tokens = min(float(SPAM_BURST), bucket.tokens + (now - bucket.at) / SPAM_REFILL)
        bucket.at = now
        self._buckets.remember(key, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
