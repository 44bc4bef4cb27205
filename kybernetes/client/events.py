"""Kubernetes Events from components: what `kubectl describe` shows under Events.

client-go's recorder, cut to what matters here: `record()` never blocks
and never fails the caller (a controller must not stall or retry because
an Event could not be written); a sender task writes core/v1 Events in the
background. The same event again (same object, type, reason, message and
source) within ten minutes bumps `count` and `lastTimestamp` of the Event
already written, as Kubernetes' correlator does, so a crash-looping thing
does not flood the namespace; similar Events are combined and a flood
about one object is cut short, as there too (`eventcorrelation.py`). When
the buffer is full, events are dropped and counted, never queued without
bound.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any, NamedTuple

from kybernetes.api.times import now_rfc3339
from kybernetes.client.eventcorrelation import EventAggregator, SpamFilter
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path

__all__ = ["EventRecorder", "event_for", "involved_object"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
BUFFER = 5000
WRITERS = 4  # Events in flight at once: a burst (10,000 pods scheduled) keeps up
REMEMBERED = 4096
DEDUPE_WINDOW = 600.0  # seconds, as the correlator's


class _Pending(NamedTuple):
    event: Obj
    key: tuple[str, ...]


def involved_object(obj: Obj) -> Obj:
    """An ObjectReference to `obj`, as Events carry it."""
    meta = obj.get("metadata") or {}
    ref = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {k: v for k, v in ref.items() if v}


def event_for(obj: Obj, *, type_: str, reason: str, message: str, component: str,
              host: str = "", now: str = "") -> Obj:  # fmt: skip
    """A new core/v1 Event about `obj` (cluster-scoped objects' Events live in `default`)."""
    ref = involved_object(obj)
    now = now or now_rfc3339()
    source = {"component": component, **({"host": host} if host else {})}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{ref.get('name', 'unknown')}.{secrets.token_hex(8)}",
            "namespace": ref.get("namespace") or "default",
        },
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": host,
    }


class EventRecorder:
    """Records Events for one component; run `run()` as one of its tasks."""

    def __init__(self, client: ApiClient, component: str, host: str = "") -> None:
        self._client = client
        self.component = component
        self.host = host
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(BUFFER)
        # Dedupe key -> (namespace, Event name, count, monotonic time first written).
        self._written: OrderedDict[tuple[str, ...], tuple[str, str, int, float]] = OrderedDict()
        self._aggregator = EventAggregator()
        self._spam = SpamFilter()
        self.dropped = 0
        self.filtered = 0  # refused by the spam filter

    def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Queue an Event about `obj` (type_ is "Normal" or "Warning")."""
        event = event_for(obj, type_=type_, reason=reason, message=message,
                          component=self.component, host=self.host)  # fmt: skip
        now = time.monotonic()
        if not self._spam.allow(event, now):
            self.filtered += 1
            return
        event, combined = self._aggregator.aggregate(event, now)
        ref = event["involvedObject"]
        key = combined or (ref.get("uid", ""), ref.get("kind", ""), ref.get("name", ""), type_,
                           reason, message)  # fmt: skip
        try:
            self._queue.put_nowait(_Pending(event, key))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("%s: event buffer full, %d events dropped", self.component,
                            self.dropped)  # fmt: skip

    async def run(self) -> None:
        """Write queued Events until cancelled, a few at a time."""
        async with asyncio.TaskGroup() as group:
            for n in range(WRITERS):
                group.create_task(self._writer(), name=f"kyb-{self.component}-events-{n}")

    async def _writer(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - an Event is best effort, never fatal
                log.info("%s: event %s not written: %s", self.component,
                         pending.event["reason"], err)  # fmt: skip

    async def flush(self) -> None:
        """Write everything queued now (tests and shutdown)."""
        while not self._queue.empty():
            await self._write(self._queue.get_nowait())

    async def _write(self, pending: _Pending) -> None:
        seen = self._written.get(pending.key)
        if seen is not None and time.monotonic() - seen[3] < DEDUPE_WINDOW:
            namespace, name, count, since = seen
            path = resource_path("", "v1", "events", namespace, name)
            try:
                # The message too: a combined Event shows the latest of its messages.
                latest = {key: pending.event[key] for key in ("lastTimestamp", "message")}
                await self._client.patch(path, {"count": count + 1, **latest})
            except ApiStatusError as err:
                if err.code != 404:
                    raise
            else:
                self._remember(pending.key, (namespace, name, count + 1, since))
                return
        event = pending.event
        namespace = event["metadata"]["namespace"]
        await self._client.create(resource_path("", "v1", "events", namespace), event)
        self._remember(pending.key, (namespace, event["metadata"]["name"], 1, time.monotonic()))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int, float]) -> None:
        self._written[key] = value
        self._written.move_to_end(key)
        while len(self._written) > REMEMBERED:
            self._written.popitem(last=False)
