"""API objects on the store: keys, JSON, resourceVersion and the read rules.

Objects are stored as JSON without `metadata.resourceVersion`; the store's
modification revision *is* the resourceVersion and is put back on every
read, so the two can never disagree. Store errors become Kubernetes Status
errors here, with the resource and name a user will recognise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.apiserver import errors
from kybernetes.apiserver.conversion import from_storage, needs_conversion, stored_type, to_storage
from kybernetes.apiserver.objects import Obj, drop_empty_metadata
from kybernetes.apiserver.resources import ResourceType
from kybernetes.store import (
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    NotFoundError,
    Store,
    StoreError,
)
from kybernetes.store.cache import CachingStore
from kybernetes.util.memo import VersionMemo

__all__ = ["ListPage", "ObjectStorage", "Written", "decode", "gc_paused", "object_json",
           "parse_resource_version"]  # fmt: skip

# How long a read of a resourceVersion ahead of the store waits for it to
# arrive before answering 504, as kube-apiserver does.
FUTURE_RV_WAIT = 3.0
MAX_OBJECT_BYTES = 3 * 1024 * 1024
LISTED_MEMO = 4096  # decoded objects admission reads, kept (then all dropped at once)
SERVED_MEMO = 1024  # GET answers kept (then all dropped at once), each at most:
SERVED_MEMO_BYTES = 32 * 1024
HEAD_KEYS = ("kind", "apiVersion", "metadata")


def parse_resource_version(text: str | None, what: str = "resourceVersion") -> int:
    if text in (None, ""):
        return 0
    assert text is not None
    if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise errors.bad_request(f'invalid {what}: "{text}" is not a valid resource version')
    return int(text)


def decode(kv: KeyValue) -> Obj:
    obj: Obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


# How `encode` begins every object: the resourceVersion goes in right after it.
_STORED_HEAD = re.compile(rb'\{"kind":"[^"\\]*","apiVersion":"[^"\\]*","metadata":\{')


def object_json(kv: KeyValue) -> bytes:
    """The JSON of `orjson.dumps(decode(kv))`, without parsing it: the stored bytes
    with the resourceVersion spliced into the metadata (a big LIST spent most of its
    time decoding objects only to encode them again). Objects stored in another
    order (by an older version) take the long way."""
    value = kv.value
    head = _STORED_HEAD.match(value)
    if head is None:
        return orjson.dumps(decode(kv))
    end = head.end()
    rv = b'"resourceVersion":"%d"' % kv.mod_revision
    return b"".join((value[:end], rv, b"" if value[end : end + 1] == b"}" else b",", value[end:]))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block.

    Decoding a big LIST allocates about a hundred containers per object, and
    each 700 allocations start a collection that walks every young object,
    so the collector, not the parsing, took most of a 10,000-pod LIST (5x
    the decoding itself). JSON trees hold no cycles: what they free,
    reference counting frees. A block that awaits lets other requests run
    with the collector off: their cycles wait for the next collection, they
    do not leak. Blocks may overlap: the collector comes back on when the
    block that turned it off ends (never, if it was off before).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def in_stored_order(obj: Obj) -> Obj:
    """`obj` with kind, apiVersion and metadata first, as Kubernetes writes them
    (and what `object_json` relies on); the values are shared, not copied."""
    ordered = {key: obj[key] for key in HEAD_KEYS if key in obj}
    ordered.update(obj)
    return ordered


def _as_stored(obj: Obj, kv: KeyValue) -> Obj:
    """What `decode(kv)` gives for `obj` just written as `kv`, without parsing the
    bytes encoded from it (~20 us for a pod in a busy server); shares its values."""
    written = in_stored_order(obj)
    written["metadata"] = {**obj["metadata"], "resourceVersion": str(kv.mod_revision)}
    return written


def encode(obj: Obj) -> bytes:
    """The stored form: `in_stored_order`, without the resourceVersion."""
    meta = obj.get("metadata", {})
    rv = meta.pop("resourceVersion", None)
    try:
        return orjson.dumps(in_stored_order(obj))
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv


@dataclass(frozen=True, slots=True)
class Written:
    """An object as a write stored it, and the JSON a plain GET of it answers (the
    stored bytes with the resourceVersion spliced in; None where the stored form
    is another version's). A write's response sends `json` instead of encoding
    `obj` again after the store's commit, when `obj` has gone cold in the CPU's
    caches: 50 writers at once, that encoding took ~20 us against 2.6 us warm."""

    obj: Obj
    json: bytes | None


@dataclass(frozen=True)
class ListPage:
    items: list[Obj]
    resource_version: int
    continue_token: str | None
    remaining: int
    encoded: list[bytes] | None = None  # list_encoded's items, as JSON (`items` is empty)


class ObjectStorage:
    """CRUD of API objects of any resource type on one `Store`.

    An object of a kind stored at another version than `rt`'s is converted
    on its way in and out (conversion.py); the fast paths that splice stored
    bytes are for the others."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Objects admission reads from the watch cache, decoded once per version
        # (a namespace is read by every create in it); read-only, shared.
        self._listed: VersionMemo[tuple[str, str, str], Obj] = VersionMemo(LISTED_MEMO)
        # The JSON a plain GET answers, per version: the same object is read
        # again and again (a third of a GET's own work was splicing it anew).
        self._served: VersionMemo[tuple[str, str, str], bytes] = VersionMemo(SERVED_MEMO)

    def _decoded(self, rt: ResourceType, kv: KeyValue) -> Obj:
        return from_storage(rt, decode(kv))

    def _shared(self, rt: ResourceType, kv: KeyValue) -> Obj:
        """`kv` decoded as `rt` serves it, the same object for every reader of this
        version: callers must not change it."""
        memo_key = (rt.group, rt.version, kv.key)
        obj = self._listed.get(memo_key, kv.mod_revision)
        if obj is None:
            obj = self._decoded(rt, kv)
            self._listed.put(memo_key, kv.mod_revision, obj)
        return obj

    def _served_json(self, rt: ResourceType, kv: KeyValue) -> bytes:
        """`object_json` of `kv` as `rt` serves it, made once per version."""
        memo_key = (rt.group, rt.version, kv.key)
        body = self._served.get(memo_key, kv.mod_revision)
        if body is None:
            body = object_json(self._served_kv(rt, kv))
            if len(body) <= SERVED_MEMO_BYTES:
                self._served.put(memo_key, kv.mod_revision, body)
        return body

    def _served_kv(self, rt: ResourceType, kv: KeyValue) -> KeyValue:
        """`kv` with its value as `rt`'s version serves it."""
        if not needs_conversion(rt):
            return kv
        served = from_storage(rt, orjson.loads(kv.value))
        return KeyValue(kv.key, encode(served), kv.create_revision, kv.mod_revision)

    def _translate(self, err: StoreError, rt: ResourceType, name: str) -> errors.ApiError:
        if isinstance(err, NotFoundError):
            return errors.not_found(rt.plural, name, rt.group)
        if isinstance(err, AlreadyExistsError):
            return errors.already_exists(rt.plural, name, rt.group)
        if isinstance(err, ConflictError):
            return errors.conflict(
                rt.plural,
                name,
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
                rt.group,
            )
        if isinstance(err, CompactedError):
            return errors.expired(f"too old resource version: {err.requested} ({err.compacted})")
        if isinstance(err, FutureRevisionError):
            return errors.too_large_resource_version(err.requested, err.current)
        if isinstance(err, InvalidInputError):
            return errors.too_large(f"{rt.kind} {name!r}: {err}")
        return errors.internal(str(err))

    async def _call(self, rt: ResourceType, name: str, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except StoreError as err:
            raise self._translate(err, rt, name) from err

    # -- what admission reads ----------------------------------------------------

    def _peek(self, prefix: str) -> list[KeyValue] | None:
        return self.store.peek(prefix) if isinstance(self.store, CachingStore) else None

    async def cached_list(self, rt: ResourceType, namespace: str) -> list[Obj]:
        """Every object of `rt` in `namespace` as an informer's lister has them:
        the watch cache as it is, a moment behind the store at most, without the
        wait for it to catch up that a client's read has. kube-apiserver's
        admission plugins (LimitRanger, ResourceQuota) read listers too."""
        kvs = self._peek(rt.collection_prefix(namespace))
        if kvs is None:
            page = await self.list(rt, namespace, accept=lambda _: True, limit=0,
                                   continue_token=None, revision=0)  # fmt: skip
            return page.items
        return [self._decoded(rt, kv) for kv in kvs]

    async def lister_get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """One object as an informer's lister has it (read-only: see `_shared`),
        None when it has none: no wait for the cache to catch up, no store read
        while a watch cache holds the kind (a miss costs nothing). Before the
        cache loads, the store answers."""
        key = rt.key(namespace, name)
        if isinstance(self.store, CachingStore) and self.store.holds(key):
            kv = self.store.peek_key(key)
            return None if kv is None else self._shared(rt, kv)
        return await errors.or_none_if_missing(self.get(rt, namespace, name))

    async def cached_get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        """One object as `cached_list` reads, read-only (see `_shared`); one the
        cache does not have yet (it may be that new) is read from the store, as
        NamespaceLifecycle does."""
        key = rt.key(namespace, name)
        kv = self.store.peek_key(key) if isinstance(self.store, CachingStore) else None
        return self._shared(rt, kv) if kv is not None else await self.get(rt, namespace, name)

    async def wait_for_revision(self, revision: int) -> None:
        """Wait (briefly) until the store has reached `revision`, else 504."""
        if revision <= 0:
            return
        deadline = asyncio.get_running_loop().time() + FUTURE_RV_WAIT
        while True:
            current = await self.store.current_revision()
            if current >= revision:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise errors.too_large_resource_version(revision, current)
            await asyncio.sleep(0.05)

    async def create(self, rt: ResourceType, obj: Obj) -> Written:
        if needs_conversion(rt):
            stored = await self.create(stored_type(rt), to_storage(rt, obj))
            return Written(from_storage(rt, stored.obj), None)
        meta = obj["metadata"]
        name = meta["name"]
        drop_empty_metadata(meta)
        data = encode(obj)
        if len(data) > MAX_OBJECT_BYTES:
            raise errors.too_large(f"{rt.kind} {name!r} is {len(data)} bytes; limit is 3 MiB")
        kv = await self._call(
            rt, name, self.store.create(rt.key(meta.get("namespace", ""), name), data)
        )
        return Written(_as_stored(obj, kv), object_json(kv))

    async def get(
        self, rt: ResourceType, namespace: str, name: str, resource_version: int = 0
    ) -> Obj:
        await self.wait_for_revision(resource_version)
        return self._decoded(rt, await self.get_kv(rt, namespace, name))

    async def get_encoded(
        self, rt: ResourceType, namespace: str, name: str, resource_version: int = 0
    ) -> bytes:
        """`get` as JSON (`object_json`): what a plain GET answers, never parsed."""
        await self.wait_for_revision(resource_version)
        return self._served_json(rt, await self.get_kv(rt, namespace, name))

    def get_encoded_now(self, rt: ResourceType, namespace: str, name: str) -> bytes | None:
        """`get_encoded` of the latest version when memory answers it at once
        (`CachingStore.get_now`); None when that would mean a wait or a store read."""
        if not isinstance(self.store, CachingStore):
            return None
        try:
            kv = self.store.get_now(rt.key(namespace, name))
        except StoreError as err:
            raise self._translate(err, rt, name) from err
        return None if kv is None else self._served_json(rt, kv)

    async def get_kv(self, rt: ResourceType, namespace: str, name: str) -> KeyValue:
        kv: KeyValue = await self._call(rt, name, self.store.get(rt.key(namespace, name)))
        return kv

    async def update(self, rt: ResourceType, obj: Obj, expected_revision: int) -> Obj:
        if needs_conversion(rt):
            stored = to_storage(rt, obj)
            return from_storage(rt, await self.update(stored_type(rt), stored, expected_revision))
        meta = obj["metadata"]
        name = meta["name"]
        drop_empty_metadata(meta)
        data = encode(obj)
        if len(data) > MAX_OBJECT_BYTES:
            raise errors.too_large(f"{rt.kind} {name!r} is {len(data)} bytes; limit is 3 MiB")
        key = rt.key(meta.get("namespace", ""), name)
        kv = await self._call(
            rt, name, self.store.update(key, data, expected_revision=expected_revision)
        )
        return _as_stored(obj, kv)

    async def delete(
        self, rt: ResourceType, namespace: str, name: str, expected_revision: int
    ) -> Obj:
        kv = await self._call(
            rt,
            name,
            self.store.delete(rt.key(namespace, name), expected_revision=expected_revision),
        )
        return self._decoded(rt, kv)

    async def list(
        self,
        rt: ResourceType,
        namespace: str,
        *,
        accept: Callable[[Obj], bool],
        limit: int,
        continue_token: str | None,
        revision: int,
    ) -> ListPage:
        """Matching objects, at most `limit` (0: all), from one snapshot.

        Filtering happens after reading, so a page may take several store
        pages; the continue token always points into the same snapshot.
        """
        items: list[Obj] = []

        def take(kvs: Iterable[KeyValue]) -> int:
            with gc_paused():
                for kv in kvs:
                    obj = self._decoded(rt, kv)
                    if accept(obj):
                        items.append(obj)
            return len(items)

        snapshot, token, remaining = await self._read_pages(
            rt, namespace, take, limit=limit, continue_token=continue_token, revision=revision
        )
        return ListPage(items, snapshot, token, remaining)

    async def list_encoded(
        self, rt: ResourceType, namespace: str, *, limit: int, continue_token: str | None,
        revision: int, encode: Callable[[KeyValue], bytes] = object_json,
    ) -> ListPage:  # fmt: skip
        """Every object, as `list` with nothing filtered, each already JSON (`encode`:
        the object's, or another form such as its Table row)."""
        encoded: list[bytes] = []

        def take(kvs: Iterable[KeyValue]) -> int:
            if needs_conversion(rt):
                kvs = [self._served_kv(rt, kv) for kv in kvs]
            encoded.extend(map(encode, kvs))
            return len(encoded)

        snapshot, token, remaining = await self._read_pages(
            rt, namespace, take, limit=limit, continue_token=continue_token, revision=revision
        )
        return ListPage([], snapshot, token, remaining, encoded)

    async def _read_pages(
        self, rt: ResourceType, namespace: str, take: Callable[[Iterable[KeyValue]], int], *,
        limit: int, continue_token: str | None, revision: int,
    ) -> tuple[int, str | None, int]:  # fmt: skip
        """Store pages to `take` (which says how many it kept in all) until `limit` are
        kept or the prefix ends: (snapshot revision, continue token, remaining count)."""
        prefix = rt.collection_prefix(namespace)
        token = continue_token
        snapshot = revision
        kept = 0
        while True:
            want = max(limit - kept, 0) if limit else 0
            try:
                page = await self.store.list(
                    prefix, revision=snapshot, limit=want, continue_key=token
                )
            except InvalidInputError as err:
                raise errors.bad_request(f"invalid continue token: {err}") from err
            except StoreError as err:
                raise self._translate(err, rt, "") from err
            snapshot = page.revision
            kept = take(page.kvs)
            token = page.continue_key
            if token is None or (limit and kept >= limit):
                return snapshot, token, page.remaining
