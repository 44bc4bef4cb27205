"""The etcd store: every `Store` call is one etcd request.

etcd already is a revisioned, watchable key/value log, so this backend only
translates: create is a transaction conditioned on `create_revision == 0`,
update and conditional delete are conditioned on `mod_revision`, and the
failure branch of each reads the key back so that a conflict carries the
current version (as kube-apiserver's etcd3 store does). Keys live under an
optional prefix so several clusters or test runs can share one etcd.

A watch is one etcd watch stream. If the stream breaks, it is reopened on
the next endpoint from the last revision it delivered, which etcd's watch
guarantees make gap-free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from kybernetes.store import keys
from kybernetes.store.compactor import Compactor
from kybernetes.store.etcd.gateway import JSON, Gateway, b64, kv_fields
from kybernetes.store.types import (
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    Event,
    EventKind,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    ListResult,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    Watch,
    WatchBatch,
)
from kybernetes.util.shared_read import SharedRead

__all__ = ["EtcdStore"]

log = logging.getLogger(__name__)

WATCH_RECONNECTS = 5
_PROGRESS_REQUEST = orjson.dumps({"progress_request": {}})  # compared by identity


def progress_is_reliable(version: str) -> bool:
    """etcd fixed progress notifications ahead of events in 3.4.31 and 3.5.13."""
    try:
        numbers = tuple(int(part) for part in version.split("-")[0].split(".")[:3])
    except ValueError:
        return False
    if numbers[:2] == (3, 4):
        return numbers >= (3, 4, 31)
    if numbers[:2] == (3, 5):
        return numbers >= (3, 5, 13)
    return numbers >= (3, 6, 0)


class EtcdStore(Store):
    """A `Store` on an etcd v3 cluster. Create it with `await EtcdStore.open(...)`."""

    def __init__(self, gateway: Gateway, prefix: str, compact_interval: float) -> None:
        self._gw = gateway
        self._prefix = prefix
        self._closed = False
        self._watches: set[_EtcdWatch] = set()
        self._compactor = Compactor(self, compact_interval)
        # Every cached GET and LIST asks first: concurrent ones share a read.
        self._revision = SharedRead(self._read_revision)

    @classmethod
    async def open(
        cls,
        endpoints: list[str],
        *,
        prefix: str = "",
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        compact_interval: float = 0.0,
    ) -> EtcdStore:
        store = cls(Gateway(endpoints, cacert=cacert, cert=cert, key=key), prefix, compact_interval)
        try:
            await store.current_revision()
            store.reliable_progress = progress_is_reliable(await store._gw.server_version())
        except BaseException:
            await store._gw.close()
            raise
        store._compactor.start()
        return store

    # -- key mapping ---------------------------------------------------------

    def _wire(self, key: str) -> str:
        return b64((self._prefix + key).encode("utf-8"))

    def _wire_start(self, start: str) -> str:
        # An empty key is not allowed; "\0" is the lowest key there is.
        return b64((self._prefix + start or "\x00").encode("utf-8"))

    def _wire_end(self, prefix: str) -> str:
        end = keys.prefix_end(self._prefix + prefix)
        # An empty range_end would mean "this key only"; "\0" means "to the end".
        return b64(end.encode("utf-8")) if end else b64(b"\x00")

    def _kv(self, raw: JSON) -> KeyValue:
        key, value, create, mod = kv_fields(raw)
        return KeyValue(key.decode("utf-8")[len(self._prefix) :], value, create, mod)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    # -- reads ---------------------------------------------------------------

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        self._check_open()
        keys.check_key(key)
        keys.check_revision(revision)
        reply = await self._gw.call(
            "/v3/kv/range",
            {"key": self._wire(key), "revision": revision},
            revision=revision,
            idempotent=True,
        )
        kvs = reply.get("kvs") or []
        if not kvs:
            raise NotFoundError(key)
        return self._kv(kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_key: str | None = None,
    ) -> ListResult:
        self._check_open()
        revision, start = keys.list_start(prefix, revision, limit, continue_key)
        body: JSON = {
            "key": self._wire_start(start),
            "range_end": self._wire_end(prefix),
            "revision": revision,
            "limit": limit,
        }
        reply = await self._gw.call("/v3/kv/range", body, revision=revision, idempotent=True)
        kvs = tuple(self._kv(raw) for raw in reply.get("kvs") or [])
        snapshot = revision or int(reply["header"]["revision"])
        if reply.get("more") and kvs:
            # The next page starts just after the last key of this one.
            token = keys.encode_continue(snapshot, kvs[-1].key + "\x00")
            return ListResult(kvs, snapshot, token, int(reply.get("count", 0)) - len(kvs))
        return ListResult(kvs, snapshot, None, 0)

    async def current_revision(self) -> int:
        self._check_open()
        return await self._revision()

    async def _read_revision(self) -> int:
        reply = await self._gw.call(
            "/v3/kv/range", {"key": b64(b"\x00"), "count_only": True}, idempotent=True
        )
        return int(reply["header"]["revision"])

    # -- writes --------------------------------------------------------------

    async def _txn(self, key: str, compare: JSON, success: JSON) -> tuple[bool, JSON]:
        """A compare-then-write transaction whose failure branch reads the key."""
        wire = self._wire(key)
        reply = await self._gw.call(
            "/v3/kv/txn",
            {
                "compare": [{"key": wire, **compare}],
                "success": [success],
                "failure": [{"request_range": {"key": wire}}],
            },
        )
        return bool(reply.get("succeeded")), reply

    def _current_from_failure(self, reply: JSON) -> KeyValue | None:
        kvs = reply["responses"][0]["response_range"].get("kvs") or []
        return self._kv(kvs[0]) if kvs else None

    async def create(self, key: str, value: bytes) -> KeyValue:
        self._check_open()
        data = keys.check_value(keys.check_key(key), value)
        ok, reply = await self._txn(
            key,
            {"target": "CREATE", "result": "EQUAL", "create_revision": 0},
            {"request_put": {"key": self._wire(key), "value": b64(data)}},
        )
        if not ok:
            raise AlreadyExistsError(key, self._current_from_failure(reply))
        revision = int(reply["header"]["revision"])
        return KeyValue(key, data, revision, revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        self._check_open()
        data = keys.check_value(keys.check_key(key), value)
        if keys.check_revision(expected_revision, "expected_revision") == 0:
            raise InvalidInputError("update needs the expected_revision it replaces")
        ok, reply = await self._txn(
            key,
            {"target": "MOD", "result": "EQUAL", "mod_revision": expected_revision},
            {"request_put": {"key": self._wire(key), "value": b64(data), "prev_kv": True}},
        )
        if not ok:
            self._raise_lost(key, expected_revision, reply)
        prev = reply["responses"][0]["response_put"]["prev_kv"]
        return KeyValue(key, data, int(prev["create_revision"]), int(reply["header"]["revision"]))

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        self._check_open()
        keys.check_key(key)
        keys.check_revision(expected_revision, "expected_revision")
        compare: JSON = (
            {"target": "MOD", "result": "EQUAL", "mod_revision": expected_revision}
            if expected_revision
            else {"target": "CREATE", "result": "GREATER", "create_revision": 0}
        )
        ok, reply = await self._txn(
            key,
            compare,
            {"request_delete_range": {"key": self._wire(key), "prev_kv": True}},
        )
        if not ok:
            self._raise_lost(key, expected_revision, reply)
        prev = self._kv(reply["responses"][0]["response_delete_range"]["prev_kvs"][0])
        return KeyValue(key, prev.value, prev.create_revision, int(reply["header"]["revision"]))

    def _raise_lost(self, key: str, expected: int, reply: JSON) -> None:
        current = self._current_from_failure(reply)
        if current is None:
            raise NotFoundError(key)
        raise ConflictError(key, expected, current)

    async def compact(self, revision: int) -> None:
        self._check_open()
        keys.check_revision(revision)
        await self._gw.call("/v3/kv/compaction", {"revision": revision}, revision=revision)

    # -- watches -------------------------------------------------------------

    def watch(self, prefix: str, *, after: int) -> Watch:
        self._check_open()
        keys.check_prefix(prefix)
        keys.check_revision(after, "after")
        watch = _EtcdWatch(self, prefix, after)
        self._watches.add(watch)
        return watch

    def _event(self, raw: JSON) -> Event:
        kv = self._kv(raw["kv"])
        prev = self._kv(raw["prev_kv"]) if raw.get("prev_kv") else None
        if raw.get("type") == "DELETE":
            last = prev.value if prev is not None else b""
            create = prev.create_revision if prev is not None else 0
            return Event(EventKind.DELETED, KeyValue(kv.key, last, create, kv.mod_revision), prev)
        kind = EventKind.CREATED if kv.create_revision == kv.mod_revision else EventKind.UPDATED
        return Event(kind, kv, prev)

    # -- lifecycle -----------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._compactor.stop()
        await self._revision.close()
        for watch in list(self._watches):
            await watch._shut(StoreClosedError())
        await self._gw.close()


class _EtcdWatch(Watch):
    def __init__(self, store: EtcdStore, prefix: str, after: int) -> None:
        self.prefix = prefix
        self._store = store
        self._after = after
        self._requests: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._progress_queued = False  # a progress request waits in `_requests`
        self._response: aiohttp.ClientResponse | None = None
        self._closed = False
        self._end_error: StoreError | None = None  # raised instead of a quiet end

    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        return self._batches()

    def _create_request(self) -> bytes:
        s = self._store
        return orjson.dumps(
            {
                "create_request": {
                    "key": s._wire_start(self.prefix),
                    "range_end": s._wire_end(self.prefix),
                    "start_revision": self._after + 1,
                    "prev_kv": True,
                }
            }
        )

    async def _body(self) -> AsyncIterator[bytes]:
        requests = self._requests  # this stream's queue (see _one_stream)
        yield self._create_request()
        while True:
            item = await requests.get()
            if item is None:
                return
            if item is _PROGRESS_REQUEST:
                self._progress_queued = False
            yield item

    async def _batches(self) -> AsyncIterator[WatchBatch]:
        failures = 0
        try:
            while not self._closed:
                try:
                    async for batch in self._one_stream():
                        failures = 0
                        yield batch
                    if self._closed:
                        break
                    raise StoreUnavailableError("etcd ended the watch stream")
                except (aiohttp.ClientError, StoreUnavailableError, TimeoutError) as err:
                    if self._closed:
                        break
                    failures += 1
                    if failures > WATCH_RECONNECTS:
                        raise StoreUnavailableError(
                            f"watch on {self.prefix!r} lost after revision {self._after}: {err}"
                        ) from err
                    log.info("etcd watch on %r broke (%s); resuming", self.prefix, err)
                    await asyncio.sleep(0.1 * failures)
            if self._end_error is not None:
                raise self._end_error
        finally:
            await self.close()

    async def _one_stream(self) -> AsyncIterator[WatchBatch]:
        # A fresh queue per stream, so the previous stream's body ends (None)
        # while requests made before this stream opened (an early progress
        # request) carry over instead of being lost.
        previous, self._requests = self._requests, asyncio.Queue()
        while not previous.empty():
            item = previous.get_nowait()
            if item is not None:
                self._requests.put_nowait(item)
        previous.put_nowait(None)
        resp, _endpoint = await self._store._gw.stream("/v3/watch", self._body())
        self._response = resp
        try:
            async for line in resp.content:
                if self._closed:
                    return
                if not line.strip():
                    continue
                batch = self._parse(orjson.loads(line))
                if batch is not None:
                    yield batch
        finally:
            resp.close()

    def _parse(self, message: dict[str, Any]) -> WatchBatch | None:
        if "error" in message:
            raise StoreUnavailableError(f"etcd watch error: {message['error']}")
        result = message.get("result", {})
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                raise CompactedError(self._after, compacted)
            reason = result.get("cancel_reason", "")
            if "future revision" in reason:
                raise FutureRevisionError(self._after + 1, 0)
            raise StoreUnavailableError(f"etcd cancelled the watch: {reason or 'no reason given'}")
        if result.get("created"):
            return None
        revision = int(result.get("header", {}).get("revision", 0))
        raw_events = result.get("events") or []
        if not raw_events:
            if revision < self._after:
                return None  # watching from a revision the store has not reached
            self._after = revision
            return WatchBatch((), revision)
        events = tuple(self._store._event(raw) for raw in raw_events)
        self._after = events[-1].revision
        return WatchBatch(events, self._after)

    async def request_progress(self) -> None:
        # A request not sent yet answers this caller too: its notification
        # comes after the caller asked (every cached read that lags asks).
        if not self._progress_queued:
            self._progress_queued = True
            await self._requests.put(_PROGRESS_REQUEST)

    async def close(self) -> None:
        await self._shut(None)

    async def _shut(self, error: StoreError | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._end_error = error
        self._store._watches.discard(self)
        await self._requests.put(None)
        if self._response is not None:
            self._response.close()
