"""Watch: store events turned into Kubernetes watch events.

From resourceVersion "" or "0" the watch starts with a synthetic ADDED per
existing object, read from one list snapshot, then follows the store from
that snapshot's revision: nothing is missed between the two. With a
selector, an object that starts matching is ADDED and one that stops
matching is DELETED (with its last matching content), as kube-apiserver's
watch does. A revision that was compacted ends the stream with an ERROR
event carrying 410 Expired.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from kybernetes.apiserver import errors
from kybernetes.apiserver.conversion import from_storage, needs_conversion
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.rest import ListOptions, Rest, object_filter
from kybernetes.apiserver.storage import parse_resource_version
from kybernetes.store import CompactedError, Event, EventKind, KeyValue, StoreError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["WatchEvent", "watch_events"]

BOOKMARK_INTERVAL = 30.0


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
    object: Obj


def _decode(kv: KeyValue, revision: int) -> Obj:
    obj: Obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def _same(obj: Obj) -> Obj:
    return obj


def classify(
    event: Event, accept: Callable[[Obj], bool], view: Callable[[Obj], Obj] = _same
) -> WatchEvent | None:
    """The watch event a store event means for a watcher with this filter
    (`view`: the stored object as the watched resource serves it)."""
    new = view(_decode(event.kv, event.revision))
    if event.kind is EventKind.DELETED:
        return WatchEvent("DELETED", new) if accept(new) else None
    now_matches = accept(new)
    old = view(_decode(event.prev, event.revision)) if event.prev else None
    before = old is not None and accept(old)
    if now_matches and before:
        return WatchEvent("MODIFIED", new)
    if now_matches:
        return WatchEvent("ADDED", new)
    if old is not None and before:
        # As kube-apiserver's watch cache: the object as the watcher last saw
        # it (it matched), at the revision of the change that made it leave.
        return WatchEvent("DELETED", old)
    return None


def _bookmark(rt: ResourceType, revision: int) -> WatchEvent:
    return WatchEvent(
        "BOOKMARK",
        {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(revision)},
        },
    )


def _error(err: errors.ApiError) -> WatchEvent:
    return WatchEvent("ERROR", err.status())


async def watch_events(
    rest: Rest,
    rt: ResourceType,
    namespace: str,
    options: ListOptions,
    *,
    bookmarks: bool,
    bookmark_interval: float = BOOKMARK_INTERVAL,
) -> AsyncIterator[WatchEvent]:
    """The events of one watch request, until the store ends it or the caller stops."""
    accept = object_filter(rt, options)
    revision = parse_resource_version(options.resource_version)
    if revision == 0:
        initial = ListOptions(
            label_selector=options.label_selector, field_selector=options.field_selector
        )
        page = await rest.list(rt, namespace, initial)
        for obj in page.items:
            yield WatchEvent("ADDED", obj)
        revision = page.resource_version
    else:
        await rest.storage.wait_for_revision(revision)
    view = functools.partial(from_storage, rt) if needs_conversion(rt) else _same
    store = rest.storage.store
    store_watch = store.watch(rt.collection_prefix(namespace), after=revision)
    # Bookmarks are optional; one that could run ahead of an event is worse than none.
    bookmarks = bookmarks and store.reliable_progress
    ticker: asyncio.Task[None] | None = None
    if bookmarks:
        ticker = asyncio.create_task(_request_progress(store_watch.request_progress,
                                                       bookmark_interval))  # fmt: skip
    try:
        async for batch in store_watch:
            if batch.is_progress:
                if bookmarks:
                    yield _bookmark(rt, batch.revision)
                continue
            for event in batch.events:
                out = classify(event, accept, view)
                if out is not None:
                    yield out
    except CompactedError:
        yield _error(errors.expired(
            f"too old resource version: {revision} ({await rest.storage.store.current_revision()})"
        ))  # fmt: skip
    except StoreError as err:
        yield _error(errors.internal(f"watch ended: {err}"))
    finally:
        await cancel_and_wait(ticker)
        await store_watch.close()


async def _request_progress(request: Callable[[], object], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        result = request()
        if asyncio.iscoroutine(result):
            await result
