"""Informers: a list + watch cache of one resource, with indexes and handlers.

client-go's reflector and shared informer in one small class: list, then
watch from the list's resourceVersion (bookmarks on); a stream the server
ends is watched again from the last resourceVersion seen; a 410 (the
revision is gone) means list again, and the difference between the old and
the new list is delivered as adds, updates and deletes, so handlers never
miss a change. `synced` is set after the first list: components start their
workers only then (STYLE.md habit 2).

Handlers are plain callables that should only turn an event into a key on
a work queue; they run on the event loop and must not block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["Informer", "key_of", "namespace_index"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[..., None]
Indexer = Callable[[Obj], Iterable[str]]
RETRY_DELAY = 1.0


def key_of(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def namespace_index(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace", ""))]


class Informer:
    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        label_selector: str = "",
        field_selector: str = "",
        watch_timeout: int = 300,
    ) -> None:
        self._client = client
        self._path = path
        self._selectors = {k: v for k, v in (("labelSelector", label_selector),
                                             ("fieldSelector", field_selector)) if v}  # fmt: skip
        self._watch_timeout = watch_timeout
        self.items: dict[str, Obj] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self._indexers: dict[str, Indexer] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        # key -> (index name, value) pairs it is filed under, so unfiling is O(own entries).
        self._filed: dict[str, list[tuple[str, str]]] = {}
        self._on_add: list[Handler] = []
        self._on_update: list[Handler] = []
        self._on_delete: list[Handler] = []
        self._task: asyncio.Task[None] | None = None

    # -- handlers and indexes ----------------------------------------------------

    def on_add(self, handler: Callable[[Obj], None]) -> None:
        self._on_add.append(handler)

    def on_update(self, handler: Callable[[Obj, Obj], None]) -> None:
        self._on_update.append(handler)

    def on_delete(self, handler: Callable[[Obj], None]) -> None:
        self._on_delete.append(handler)

    def add_index(self, name: str, indexer: Indexer) -> None:
        """Index by `indexer`; a shared informer accepts the same index twice."""
        known = self._indexers.get(name)
        if known is not None:
            if known is not indexer:
                raise ValueError(f"informer {self._path}: index {name!r} is another function")
            return
        self._indexers[name] = indexer
        self._indexes[name] = {}
        for key, obj in self.items.items():
            self._file(key, name, indexer(obj))

    def by_index(self, name: str, value: str) -> list[Obj]:
        return [self.items[k] for k in sorted(self._indexes[name].get(value, ()))]

    def get(self, key: str) -> Obj | None:
        return self.items.get(key)

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return  # shared: already running
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"kyb-informer {self._path}"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._list()
                while await self._watch():
                    pass  # the stream ended normally: watch again from where it stopped
            except asyncio.CancelledError:
                raise
            except ApiStatusError as err:
                if err.code != 410:
                    log.warning("informer %s: %s; listing again", self._path, err)
                    await asyncio.sleep(RETRY_DELAY)
            except Exception as err:  # noqa: BLE001 - connection trouble: list again later
                log.warning("informer %s failed (%r); listing again", self._path, err)
                await asyncio.sleep(RETRY_DELAY)

    async def _list(self) -> None:
        fresh: dict[str, Obj] = {}
        params = {**self._selectors, "limit": "500"}
        while True:
            page = await self._client.get(self._path, **params)
            for obj in page.get("items") or []:
                fresh[key_of(obj)] = obj
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params["continue"] = token
        self.resource_version = str((page.get("metadata") or {}).get("resourceVersion", ""))
        self._replace(fresh)
        self.synced.set()

    def _replace(self, fresh: dict[str, Obj]) -> None:
        """Deliver the difference between what we had and a new list."""
        for key in [k for k in self.items if k not in fresh]:
            self._delete(self.items[key])
        for obj in fresh.values():
            self._upsert(obj)

    async def _watch(self) -> bool:
        """Follow one watch stream; False when the revision is gone (410: list again)."""
        events = self._client.watch(
            self._path, resourceVersion=self.resource_version, allowWatchBookmarks="true",
            timeoutSeconds=str(self._watch_timeout), **self._selectors,
        )  # fmt: skip
        async for event in events:
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    return False
                raise ApiStatusError(obj)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            if kind in ("ADDED", "MODIFIED"):
                self._upsert(obj)
            elif kind == "DELETED":
                self._delete(obj)
        return True

    def _upsert(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self.items.get(key)
        if old is not None and old["metadata"].get("resourceVersion") == obj["metadata"].get(
            "resourceVersion"
        ):
            return  # the same version again (a relist): nothing changed
        self._unindex(key)
        self.items[key] = obj
        self._index(key, obj)
        if old is None:
            for add in self._on_add:
                add(obj)
        else:
            for update in self._on_update:
                update(old, obj)

    def _delete(self, obj: Obj) -> None:
        key = key_of(obj)
        last = self.items.pop(key, None)
        self._unindex(key)
        for delete in self._on_delete:
            delete(last if last is not None else obj)

    def _index(self, key: str, obj: Obj) -> None:
        for name, indexer in self._indexers.items():
            self._file(key, name, indexer(obj))

    def _file(self, key: str, name: str, values: Iterable[str]) -> None:
        filed = self._filed.setdefault(key, [])
        for value in values:
            self._indexes[name].setdefault(value, set()).add(key)
            filed.append((name, value))

    def _unindex(self, key: str) -> None:
        for name, value in self._filed.pop(key, ()):
            keys = self._indexes[name].get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._indexes[name][value]
