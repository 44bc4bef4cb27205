"""Kubernetes-shaped traffic against a `Store`, with every operation written down.

The traffic copies etcd's `tests/robustness/traffic/kubernetes.go` in spirit:
clients list a prefix, get keys, create with a fresh value, update with
compare-and-swap on the mod_revision they last saw (and read the key again
when the swap loses), and delete, sometimes conditionally. Watchers follow
the prefix from a list revision and re-watch from the last revision they saw
when the stream breaks.

Two choices make the record checkable without a linearizability search
(see checker.py): every write carries a value no other operation uses, so a
watch event names the one operation that made it; and a write whose
connection failed is recorded as UNKNOWN rather than guessed at, so the
checker resolves it from the watch history instead.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from kybernetes.store.types import (
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    Event,
    InvalidInputError,
    KeyValue,
    NotFoundError,
    Store,
    StoreError,
    Watch,
)

__all__ = [
    "PREFIX",
    "Fault",
    "History",
    "OpKind",
    "OpRecord",
    "Outcome",
    "Traffic",
    "WatchSegment",
]

T = TypeVar("T")

PREFIX = "/registry/pods/"
OpKind = Literal["create", "update", "delete", "get", "list"]
WRITE_KINDS: frozenset[str] = frozenset({"create", "update", "delete"})

# Errors that prove the store refused the request. Anything else (the server
# went away, a timeout, a reset connection) leaves a write's outcome unknown.
DEFINITE_ERRORS = (NotFoundError, AlreadyExistsError, ConflictError, InvalidInputError)
DEFINITE_NAMES = frozenset(e.__name__ for e in DEFINITE_ERRORS)


class Outcome(enum.Enum):
    OK = "ok"
    ERROR = "error"  # the store answered with a named error: nothing was written
    UNKNOWN = "unknown"  # no answer: a write may or may not have happened


@dataclass(slots=True)
class OpRecord:
    """One client call: the request, when it ran, and what came back."""

    id: int
    client: int
    kind: OpKind
    key: str  # the prefix, for a list
    value: bytes = b""
    expected_revision: int = 0
    invoke_ns: int = 0
    return_ns: int = 0
    outcome: Outcome = Outcome.UNKNOWN
    error: str = ""  # the error's class name
    detail: str = ""
    kv: KeyValue | None = None  # create/update/delete/get result
    kvs: tuple[KeyValue, ...] = ()  # list result
    revision: int = 0  # what it observed: a write's or get's mod_revision, a list's snapshot

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def __str__(self) -> str:
        request = f"{self.kind} {self.key}"
        if self.value:
            request += f" value={self.value.decode(errors='replace')}"
        if self.expected_revision:
            request += f" expected={self.expected_revision}"
        result = self.outcome.value
        if self.ok and self.kind == "list":
            result += f" rev={self.revision} keys={len(self.kvs)}"
        elif self.ok and self.kv is not None:
            result += f" mod={self.kv.mod_revision} create={self.kv.create_revision}"
        if self.error:
            result += f" {self.error}"
        return f"op#{self.id} client={self.client} {request} -> {result}"


@dataclass(slots=True)
class WatchSegment:
    """One watch call of one watcher: the events it delivered, in order.

    Every event under the prefix with `after < revision <= through` should be
    in `events`. A segment started from a fresh list (the first one, and the
    one after a CompactedError) carries that list as `snapshot`: the state
    at revision `after`.
    """

    watcher: int
    after: int
    snapshot: tuple[KeyValue, ...] | None = None
    events: list[Event] = field(default_factory=list)
    through: int = 0
    start_ns: int = 0
    end_ns: int = 0
    end: str = ""  # why it ended: an error's name, "closed" when stopped at the end


@dataclass(frozen=True, slots=True)
class Fault:
    """A server crash: gone by `down_ns`, its replacement ready by `up_ns`."""

    kind: str
    down_ns: int
    up_ns: int


@dataclass(slots=True)
class History:
    ops: list[OpRecord]
    segments: list[WatchSegment]
    final: OpRecord  # a list of the prefix read after the last restart
    faults: list[Fault] = field(default_factory=list)

    def summary(self) -> str:
        counts = {o: sum(1 for op in self.ops if op.outcome is o) for o in Outcome}
        writes = [op for op in self.ops if op.is_write]
        unknown = sum(1 for op in writes if op.outcome is Outcome.UNKNOWN)
        ends = Counter(s.end for s in self.segments)
        return (
            f"ops={len(self.ops)} ok={counts[Outcome.OK]} error={counts[Outcome.ERROR]} "
            f"unknown={counts[Outcome.UNKNOWN]} (writes={len(writes)}, unknown writes={unknown}) "
            f"faults={len(self.faults)} final_revision={self.final.revision} "
            f"final_keys={len(self.final.kvs)} watch_segments={len(self.segments)} "
            f"(ended by: {', '.join(f'{end} {n}' for end, n in ends.most_common())})"
        )

    def dump(self, path: Path) -> None:
        """Write the history as JSON, for reading after a failure."""

        def kv(k: KeyValue | None) -> object:
            if k is None:
                return None
            return [k.key, k.value.decode(errors="replace"), k.create_revision, k.mod_revision]

        def op(o: OpRecord) -> object:
            return {
                "id": o.id,
                "client": o.client,
                "kind": o.kind,
                "key": o.key,
                "value": o.value.decode(errors="replace"),
                "expected": o.expected_revision,
                "invoke_ns": o.invoke_ns,
                "return_ns": o.return_ns,
                "outcome": o.outcome.value,
                "error": o.error,
                "kv": kv(o.kv),
                "kvs": [kv(k) for k in o.kvs],
                "revision": o.revision,
            }

        def segment(s: WatchSegment) -> object:
            return {
                "watcher": s.watcher,
                "after": s.after,
                "through": s.through,
                "end": s.end,
                "snapshot": None if s.snapshot is None else [kv(k) for k in s.snapshot],
                "events": [[e.kind.value, kv(e.kv), kv(e.prev)] for e in s.events],
            }

        data = {
            "ops": [op(o) for o in self.ops],
            "final": op(self.final),
            "faults": [[f.kind, f.down_ns, f.up_ns] for f in self.faults],
            "segments": [segment(s) for s in self.segments],
        }
        path.write_text(json.dumps(data, indent=1))


class Traffic:
    """Clients and watchers against one store; `ops` and `segments` fill as they run."""

    def __init__(
        self,
        store: Store,
        *,
        seed: int,
        clients: int = 8,
        watchers: int = 3,
        keys: int = 10,
        prefix: str = PREFIX,
        op_timeout: float = 3.0,
        retry_delay: float = 0.05,
        compact_every: float = 0.0,
        compact_lag: float = 3.0,
        watch_delay: float = 0.0,
    ) -> None:
        self.store = store
        self.ops: list[OpRecord] = []
        self.segments: list[WatchSegment] = []
        self.compactions = 0
        self._seed = seed
        self._clients = clients
        self._watchers = watchers
        self._keys = [f"{prefix}pod-{i}" for i in range(keys)]
        self._prefix = prefix
        self._op_timeout = op_timeout
        self._retry_delay = retry_delay
        self._compact_every = compact_every
        self._compact_lag = compact_lag
        self._watch_delay = watch_delay  # a slow consumer, to get watches dropped
        self._ids = itertools.count(1)
        self._deadline = 0.0
        self._watch_tasks: list[asyncio.Task[None]] = []
        self._watches: dict[int, Watch] = {}
        self._current: dict[int, WatchSegment] = {}
        self._started: dict[int, asyncio.Event] = {}
        self._target: int | None = None

    # -- recording -------------------------------------------------------------

    def _record(
        self, client: int, kind: OpKind, key: str, value: bytes = b"", expected: int = 0
    ) -> OpRecord:
        rec = OpRecord(next(self._ids), client, kind, key, value, expected)
        self.ops.append(rec)
        return rec

    async def _call(
        self, rec: OpRecord, call: Callable[[], Awaitable[T]]
    ) -> tuple[T | None, BaseException | None]:
        rec.invoke_ns = time.monotonic_ns()
        try:
            async with asyncio.timeout(self._op_timeout):
                result = await call()
        except DEFINITE_ERRORS as err:
            rec.return_ns = time.monotonic_ns()
            rec.outcome, rec.error = Outcome.ERROR, type(err).__name__
            return None, err
        except Exception as err:  # noqa: BLE001 - every failure is part of the record
            rec.return_ns = time.monotonic_ns()
            # A read that failed observed nothing; only a write's fate is open.
            rec.outcome = Outcome.UNKNOWN if rec.is_write else Outcome.ERROR
            rec.error, rec.detail = type(err).__name__, str(err)[:120]
            return None, err
        rec.return_ns = time.monotonic_ns()
        rec.outcome = Outcome.OK
        return result, None

    # -- clients ---------------------------------------------------------------

    async def run(self, duration: float) -> None:
        """Run the clients (and the compactor, if asked) for `duration` seconds or until `stop`."""
        self._deadline = time.monotonic() + duration
        async with asyncio.TaskGroup() as group:
            for cid in range(self._clients):
                group.create_task(self._client(cid), name=f"history-client-{cid}")
            if self._compact_every > 0:
                group.create_task(self._compactor(), name="history-compactor")

    def stop(self) -> None:
        """Let every client finish the operation it is in, then end `run`."""
        self._deadline = time.monotonic()

    def _running(self) -> bool:
        return time.monotonic() < self._deadline

    async def _client(self, cid: int) -> None:
        rng = random.Random(f"{self._seed}/{cid}")
        seen: dict[str, KeyValue | None] = {}  # last version seen; None: absent
        values = itertools.count()
        while self._running():
            key = rng.choice(self._keys)
            roll = rng.random()
            if roll < 0.15:
                rec = await self._list(cid, limit=3 if rng.random() < 0.3 else 0)
                if rec.ok:
                    seen = dict.fromkeys(self._keys)
                    seen.update({kv.key: kv for kv in rec.kvs})
            elif roll < 0.25 or key not in seen:
                rec = await self._get(cid, key, seen)
            else:
                value = f"c{cid}-{next(values)}".encode()
                rec = await self._write(cid, rng, key, value, seen)
            if rec.error and rec.error not in DEFINITE_NAMES:
                await asyncio.sleep(self._retry_delay)  # the server is down: back off a little

    async def _list(self, cid: int, *, limit: int = 0) -> OpRecord:
        rec = self._record(cid, "list", self._prefix)

        async def pages() -> tuple[int, tuple[KeyValue, ...]]:
            page = await self.store.list(self._prefix, limit=limit)
            kvs = list(page.kvs)
            while page.continue_key is not None:
                # Later pages read the first page's snapshot.
                page = await self.store.list(
                    self._prefix, limit=limit, continue_key=page.continue_key
                )
                kvs.extend(page.kvs)
            return page.revision, tuple(kvs)

        result, _ = await self._call(rec, pages)
        if result is not None:
            rec.revision, rec.kvs = result
        return rec

    async def _get(self, cid: int, key: str, seen: dict[str, KeyValue | None]) -> OpRecord:
        rec = self._record(cid, "get", key)
        kv, err = await self._call(rec, lambda: self.store.get(key))
        if kv is not None:
            rec.kv, rec.revision = kv, kv.mod_revision
            seen[key] = kv
        elif isinstance(err, NotFoundError):
            seen[key] = None
        return rec

    async def _write(
        self,
        cid: int,
        rng: random.Random,
        key: str,
        value: bytes,
        seen: dict[str, KeyValue | None],
    ) -> OpRecord:
        current = seen[key]
        call: Callable[[], Awaitable[KeyValue]]
        if current is None:
            rec = self._record(cid, "create", key, value)
            call = lambda: self.store.create(key, value)  # noqa: E731
        elif rng.random() < 0.75:
            expected = current.mod_revision
            rec = self._record(cid, "update", key, value, expected)
            call = lambda: self.store.update(key, value, expected_revision=expected)  # noqa: E731
        else:
            expected = current.mod_revision if rng.random() < 0.5 else 0
            rec = self._record(cid, "delete", key, expected=expected)
            call = lambda: self.store.delete(key, expected_revision=expected)  # noqa: E731
        kv, err = await self._call(rec, call)
        if kv is not None:
            rec.kv, rec.revision = kv, kv.mod_revision
            seen[key] = None if rec.kind == "delete" else kv
        elif isinstance(err, ConflictError):
            await self._get(cid, key, seen)  # lost the swap: read it again, as Kubernetes does
        elif isinstance(err, NotFoundError):
            seen[key] = None
        elif isinstance(err, AlreadyExistsError) and err.current is not None:
            seen[key] = err.current
        else:
            seen.pop(key, None)  # unknown outcome: read before writing again
        return rec

    async def _compactor(self) -> None:
        """Compact to the revision seen `compact_lag` seconds ago, like kube-apiserver."""
        marks: deque[tuple[float, int]] = deque()
        while self._running():
            await asyncio.sleep(self._compact_every)
            try:
                marks.append((time.monotonic(), await self.store.current_revision()))
                while len(marks) > 1 and marks[1][0] < time.monotonic() - self._compact_lag:
                    marks.popleft()
                if marks[0][0] < time.monotonic() - self._compact_lag and marks[0][1] > 0:
                    await self.store.compact(marks[0][1])
                    self.compactions += 1
            except (StoreError, OSError, TimeoutError):
                continue  # compacted already, or the server is down

    # -- watchers --------------------------------------------------------------

    async def start_watchers(self, timeout: float = 10.0) -> None:
        """Start the watchers; return once each has listed and opened its watch."""
        for wid in range(self._watchers):
            self._started[wid] = asyncio.Event()
            task = asyncio.create_task(self._watcher(wid), name=f"history-watcher-{wid}")
            self._watch_tasks.append(task)
        async with asyncio.timeout(timeout):
            for started in self._started.values():
                await started.wait()

    async def stop_watchers(self, *, through: int, timeout: float = 10.0) -> None:
        """Let every watcher reach revision `through`, then stop them all."""
        self._target = through
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(t.done() for t in self._watch_tasks):
            for wid, watch in list(self._watches.items()):
                segment = self._current.get(wid)
                try:
                    if segment is not None and segment.through >= through:
                        await watch.close()
                    else:
                        await watch.request_progress()
                except (StoreError, OSError):
                    pass  # the watcher sees the same failure and re-watches
            await asyncio.sleep(0.05)
        for task in self._watch_tasks:
            task.cancel()
        results = await asyncio.gather(*self._watch_tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result  # a bug in the watcher itself, not a store failure

    def _reached_target(self, segment: WatchSegment) -> bool:
        return self._target is not None and segment.through >= self._target

    async def _fresh_list(self) -> tuple[int, tuple[KeyValue, ...]]:
        while True:
            try:
                page = await self.store.list(self._prefix)
            except (StoreError, OSError, TimeoutError):
                await asyncio.sleep(self._retry_delay)
                continue
            return page.revision, page.kvs

    async def _watcher(self, wid: int) -> None:
        snapshot: tuple[KeyValue, ...] | None
        after, snapshot = await self._fresh_list()
        restart_from_list = False
        while True:
            if restart_from_list:
                after, snapshot = await self._fresh_list()
            segment = WatchSegment(wid, after, snapshot, through=after)
            segment.start_ns = time.monotonic_ns()
            self.segments.append(segment)
            self._current[wid] = segment
            snapshot, restart_from_list = None, False
            try:
                async with self.store.watch(self._prefix, after=after) as watch:
                    self._watches[wid] = watch
                    self._started[wid].set()
                    async for batch in watch:
                        segment.events.extend(batch.events)
                        segment.through = max(segment.through, batch.revision)
                        after = segment.through
                        if self._reached_target(segment):
                            break
                        if self._watch_delay:
                            await asyncio.sleep(self._watch_delay)
                segment.end = "closed"
            except CompactedError:
                # History we need is gone: start over from a list, as an informer does.
                segment.end = "CompactedError"
                restart_from_list = True
            except asyncio.CancelledError:
                segment.end = "cancelled"
                raise
            except Exception as err:  # noqa: BLE001 - any broken stream is re-watched
                segment.end = type(err).__name__
                await asyncio.sleep(self._retry_delay)
            finally:
                segment.end_ns = time.monotonic_ns()
                self._watches.pop(wid, None)
            if self._reached_target(segment):
                return

    # -- the end ---------------------------------------------------------------

    async def final_list(self, timeout: float = 20.0) -> OpRecord:
        """List the prefix until it works: the state the checker replays to."""
        async with asyncio.timeout(timeout):
            while True:
                rec = OpRecord(0, -1, "list", self._prefix)
                result, _ = await self._call(rec, lambda: self.store.list(self._prefix))
                if result is not None:
                    rec.revision, rec.kvs = result.revision, result.kvs
                    return rec
                await asyncio.sleep(self._retry_delay)

    def history(self, final: OpRecord, faults: list[Fault] | None = None) -> History:
        return History(list(self.ops), list(self.segments), final, list(faults or []))
