"""Store benchmark: our backends against the raw things they are built on.

    bench/run store [--quick]

Every figure is printed next to a baseline measured in the same run on the
same machine, because only the ratio travels between machines:

* raw SQLite (WAL, synchronous=FULL) in the same directory is the disk's
  ceiling for our SQLite backend;
* "raw etcd" is the same load generator posting the same transactions and
  watches to etcd's v3 JSON gateway with plain aiohttp, so `ours / raw`
  is the cost of our etcd backend alone (request building, base64,
  KeyValue objects, and what it asks of etcd beyond the minimum: a failure
  branch that reads the key, prev_kv on update), not of the gateway, the
  disk or Python's HTTP client;
* a second, identical raw client shows how far two runs of the very same
  thing differ on this machine, which is how far any ratio can be trusted.

One load generator drives every target through `Driver`, so each target pays
the same generator overhead. Each cell is bounded by an operation count and by
time. Nothing here asserts a timing: targets are printed, never enforced.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import base64
import contextlib
import gc
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiohttp
import orjson

from bench.common import Budget, Figure, machine_facts, own_cpu_seconds, paced, percentile
from kybernetes.store.registry import open_store
from kybernetes.store.types import Store, StoreError, Watch
from kybernetes.util.tasks import cancel_and_wait
from tests.support.etcd import EtcdServer, running_etcd

__all__ = ["main"]

VALUE = bytes(range(256))  # 256 bytes, as in etcd's own write benchmark
INDEX_DIGITS = 8  # keys end in a fixed-width index the watch sink parses back
WATCH_OPEN_TIMEOUT = 60.0
WATCH_DRAIN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_ops: int  # per write cell; the disk baseline batches max_ops // 10 commits
    max_seconds: float  # per write cell and per disk baseline
    rounds: int  # each write cell is split into this many interleaved rounds
    watch_seconds: float  # how long each driver's paced writer writes in a watch cell
    watch_rates: tuple[tuple[int, float], ...]  # (watchers, writes per second)


# With 1000 watchers every write is 1000 deliveries to parse in this one
# Python process; 20 writes/s keeps that at 20,000 deliveries/s, which the
# 2-core box absorbs, so the figure is delivery latency, not a backlog.
FULL = Limits(20_000, 5.0, 6, 2.0, ((1, 200.0), (1000, 20.0)))
QUICK = Limits(2_000, 1.0, 2, 0.5, ((1, 200.0), (1000, 20.0)))

ERRORS = (StoreError, aiohttp.ClientError, TimeoutError)


# -- drivers: one interface over our stores and raw etcd --------------------

Sink = Callable[[int, Sequence[str | bytes]], None]


class WatchHandle(abc.ABC):
    @abc.abstractmethod
    async def close(self) -> BaseException | None:
        """Stop watching; the error that ended the watch early, if any."""


class Driver(abc.ABC):
    name: str

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> int: ...

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, expected: int) -> int: ...

    @abc.abstractmethod
    async def current_revision(self) -> int: ...

    @abc.abstractmethod
    async def open_watch(self, prefix: str, after: int, sink: Sink) -> WatchHandle:
        """A watch that is live: every write from now on will reach `sink`."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class StoreDriver(Driver):
    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self._store = store

    async def create(self, key: str, value: bytes) -> int:
        return (await self._store.create(key, value)).mod_revision

    async def update(self, key: str, value: bytes, expected: int) -> int:
        return (await self._store.update(key, value, expected_revision=expected)).mod_revision

    async def current_revision(self) -> int:
        return await self._store.current_revision()

    async def open_watch(self, prefix: str, after: int, sink: Sink) -> WatchHandle:
        watch = self._store.watch(prefix, after=after)
        live = asyncio.Event()
        task = asyncio.create_task(_consume_store_watch(watch, live, sink), name="bench-watch")
        # The Store contract does not expose etcd's "created" reply, but a
        # progress notification can only come back on an established stream.
        # A request sent before the stream exists may be lost, so ask again.
        await asyncio.sleep(0)
        deadline = time.perf_counter() + WATCH_OPEN_TIMEOUT
        while not live.is_set():
            if task.done() or time.perf_counter() > deadline:
                await watch.close()
                await cancel_and_wait(task)
                raise RuntimeError(f"{self.name}: watch on {prefix!r} never became live")
            await watch.request_progress()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.wait(), 1.0)
        return _StoreWatchHandle(watch, task)

    async def close(self) -> None:
        await self._store.close()


async def _consume_store_watch(watch: Watch, live: asyncio.Event, sink: Sink) -> None:
    async for batch in watch:
        if batch.events:
            keys = [event.kv.key for event in batch.events]
            sink(time.perf_counter_ns(), keys)
        else:
            live.set()


class _StoreWatchHandle(WatchHandle):
    def __init__(self, watch: Watch, task: asyncio.Task[None]) -> None:
        self._watch = watch
        self._task = task

    async def close(self) -> BaseException | None:
        ended = self._task.done()
        await self._watch.close()
        await cancel_and_wait(self._task)
        if ended and not self._task.cancelled():
            return self._task.exception()
        return None


class RawEtcdError(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _prefix_end(prefix: bytes) -> bytes:
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix[:i] + bytes([prefix[i] + 1])
    return b"\x00"


class RawEtcd(Driver):
    """What a careful hand-written client does: one session, one POST per op."""

    def __init__(self, url: str, name: str = "etcd-raw") -> None:
        self.name = name
        self._txn_url = url + "/v3/kv/txn"
        self._range_url = url + "/v3/kv/range"
        self._watch_url = url + "/v3/watch"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(total=30, connect=5),
        )
        # One connection per watch stream; limit=0 so 1000 can be open at once.
        self._watch_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_read=None),
        )

    async def _post(self, url: str, body: bytes) -> dict[str, object]:
        async with self._session.post(url, data=body) as resp:
            raw = await resp.read()
            status = resp.status
        reply: dict[str, object] = orjson.loads(raw)
        if status != 200:
            raise RawEtcdError(f"etcd replied {status}: {raw[:200]!r}")
        return reply

    async def _txn(self, key: str, compare: dict[str, object], value: bytes) -> int:
        wire = _b64(key.encode())
        body = orjson.dumps(
            {
                "compare": [{"key": wire, **compare}],
                "success": [{"request_put": {"key": wire, "value": _b64(value)}}],
            }
        )
        reply = await self._post(self._txn_url, body)
        if not reply.get("succeeded"):
            raise RawEtcdError(f"transaction on {key!r} failed its compare")
        header = reply["header"]
        assert isinstance(header, dict)
        return int(header["revision"])

    async def create(self, key: str, value: bytes) -> int:
        return await self._txn(
            key, {"target": "CREATE", "result": "EQUAL", "create_revision": 0}, value
        )

    async def update(self, key: str, value: bytes, expected: int) -> int:
        return await self._txn(
            key, {"target": "MOD", "result": "EQUAL", "mod_revision": expected}, value
        )

    async def current_revision(self) -> int:
        reply = await self._post(self._range_url, b'{"key":"AA==","count_only":true}')
        header = reply["header"]
        assert isinstance(header, dict)
        return int(header["revision"])

    async def open_watch(self, prefix: str, after: int, sink: Sink) -> WatchHandle:
        raw = prefix.encode()
        request = orjson.dumps(
            {
                "create_request": {
                    "key": _b64(raw),
                    "range_end": _b64(_prefix_end(raw)),
                    "start_revision": after + 1,
                }
            }
        )
        stop = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield request
            await stop.wait()  # the stream lives as long as its request body

        # etcd 3.4's Go server sends no response headers on a streaming POST
        # until the body ends, unless the client asks for 100-continue.
        resp = await self._watch_session.post(self._watch_url, data=body(), expect100=True)
        if resp.status != 200:
            text = await resp.read()
            resp.close()
            raise RawEtcdError(f"watch refused with {resp.status}: {text[:200]!r}")
        created = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(_consume_raw_watch(resp, created, sink), name="bench-raw-watch")
        try:
            await asyncio.wait_for(asyncio.shield(created), WATCH_OPEN_TIMEOUT)
        except BaseException:
            stop.set()
            resp.close()
            await cancel_and_wait(task)
            raise
        return _RawWatchHandle(resp, stop, task)

    async def close(self) -> None:
        await self._session.close()
        await self._watch_session.close()


async def _consume_raw_watch(
    resp: aiohttp.ClientResponse, created: asyncio.Future[None], sink: Sink
) -> None:
    try:
        async for line in resp.content:
            if len(line) < 3:
                continue
            result = orjson.loads(line).get("result") or {}
            events = result.get("events")
            if events:
                keys = [base64.b64decode(event["kv"]["key"]) for event in events]
                sink(time.perf_counter_ns(), keys)
            elif result.get("created"):
                created.set_result(None)
            elif result.get("canceled"):
                raise RawEtcdError(f"etcd cancelled the watch: {result}")
        raise RawEtcdError("etcd ended the watch stream")
    except BaseException as err:
        if not created.done():
            created.set_exception(err)
        raise


class _RawWatchHandle(WatchHandle):
    def __init__(
        self, resp: aiohttp.ClientResponse, stop: asyncio.Event, task: asyncio.Task[None]
    ) -> None:
        self._resp = resp
        self._stop = stop
        self._task = task

    async def close(self) -> BaseException | None:
        ended = self._task.done()
        self._stop.set()
        self._resp.close()
        await cancel_and_wait(self._task)
        if ended and not self._task.cancelled():
            return self._task.exception()
        return None


# -- measurements -------------------------------------------------------------


class CpuClock:
    """CPU seconds used so far by this process, by etcd, and by the whole machine.

    The machine's share tells whether something else (another test run, a
    noisy VM neighbour: "steal") competed with the benchmark for the cores.
    """

    def __init__(self, etcd_pid: int) -> None:
        self._etcd_stat = f"/proc/{etcd_pid}/stat"
        self._tick = os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float, float]:
        with open(self._etcd_stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        etcd = int(fields[11]) + int(fields[12])  # utime + stime
        with open("/proc/stat") as f:
            # user nice system idle iowait irq softirq steal: all but idle and iowait
            cpu = [int(n) for n in f.readline().split()[1:9]]
        busy = sum(cpu) - cpu[3] - cpu[4]
        # This process and its SQLite writer process.
        return own_cpu_seconds(), etcd / self._tick, busy / self._tick

    def used(self, since: tuple[float, float, float]) -> list[float]:
        return [now - then for now, then in zip(self.read(), since, strict=True)]


def cpu_note(used: Sequence[float], wall: float) -> str:
    """CPU seconds used (ours, etcd's, the machine's) as percentages of one core."""
    ours, etcd, machine = (100 * seconds / max(wall, 1e-9) for seconds in used)
    other = max(0.0, machine - ours - etcd)
    return f"cpu py {ours:3.0f}% etcd {etcd:3.0f}% other {other:3.0f}%"


class Tally:
    """One driver's results in one write cell, summed over its rounds."""

    __slots__ = ("cpu", "elapsed", "errors", "first_error", "issued", "latencies", "revisions")

    def __init__(self) -> None:
        self.issued = 0  # numbers the keys of creates, unique across rounds
        self.latencies: list[int] = []
        self.elapsed = 0.0
        self.cpu = [0.0, 0.0, 0.0]
        self.errors = 0
        self.first_error = ""
        self.revisions: list[int] = []  # each update writer's last revision; 0 once it failed

    def fail(self, err: BaseException) -> None:
        self.errors += 1
        self.first_error = self.first_error or repr(err)[:200]

    def figure(self) -> Figure:
        latencies = sorted(self.latencies)
        wall = max(self.elapsed, 1e-9)
        note = cpu_note(self.cpu, wall)
        if self.errors:
            note += f"  first error: {self.first_error}"
        return Figure(
            len(latencies) / wall,
            percentile(latencies, 0.50),
            percentile(latencies, 0.99),
            len(latencies),
            self.errors,
            note,
        )


async def _create_writer(driver: Driver, prefix: str, budget: Budget[Tally]) -> None:
    create = driver.create
    tally = budget.tally
    latencies = tally.latencies
    clock = time.perf_counter_ns
    while (i := budget.take()) >= 0:
        key = f"{prefix}{i:0{INDEX_DIGITS}d}"
        start = clock()
        try:
            await create(key, VALUE)
        except ERRORS as err:
            tally.fail(err)
            continue
        latencies.append(clock() - start)


async def _update_writer(driver: Driver, key: str, revision: int, budget: Budget[Tally]) -> int:
    update = driver.update
    tally = budget.tally
    latencies = tally.latencies
    clock = time.perf_counter_ns
    while revision and budget.take() >= 0:
        start = clock()
        try:
            revision = await update(key, VALUE, revision)
        except ERRORS as err:
            tally.fail(err)
            return 0  # the revision this writer holds is no longer known
        latencies.append(clock() - start)
    return revision


async def write_cells(
    drivers: Sequence[Driver], *, op: str, writers: int, limits: Limits, cpu: CpuClock
) -> dict[str, Figure]:
    """One (op, writers) cell for every driver, run in interleaved rounds.

    The disk and the two cores are shared, and their speed drifts (fsync
    latency on this virtual disk swings by 2x within seconds). Alternating
    short rounds, in a reversed order every other round, spreads that drift
    over all drivers alike, so the ratios are steadier than the figures.
    """
    tallies = {d.name: Tally() for d in drivers}
    prefixes = {d.name: f"/{d.name}/{op}-{writers}/" for d in drivers}
    keys = {name: [f"{prefix}{w:04d}" for w in range(writers)] for name, prefix in prefixes.items()}
    # Before any clock starts: one op per writer, which also opens the
    # connections a pooled HTTP client keeps.
    for d in drivers:
        if op == "create":
            warm = [d.create(f"{prefixes[d.name]}warm{w}", VALUE) for w in range(writers)]
            await asyncio.gather(*warm)
        else:
            revisions = await asyncio.gather(*(d.create(k, VALUE) for k in keys[d.name]))
            tallies[d.name].revisions = list(revisions)
    for n in range(limits.rounds):
        for d in drivers if n % 2 == 0 else drivers[::-1]:
            tally = tallies[d.name]
            budget = Budget(
                tally, limits.max_ops // limits.rounds, limits.max_seconds / limits.rounds
            )
            before = cpu.read()
            start = time.perf_counter()
            if op == "create":
                prefix = prefixes[d.name]
                await asyncio.gather(*(_create_writer(d, prefix, budget) for _ in range(writers)))
            else:
                pairs = zip(keys[d.name], tally.revisions, strict=True)
                tally.revisions = list(
                    await asyncio.gather(*(_update_writer(d, k, r, budget) for k, r in pairs))
                )
            tally.elapsed += time.perf_counter() - start
            tally.cpu = [a + b for a, b in zip(tally.cpu, cpu.used(before), strict=True)]
    return {name: tally.figure() for name, tally in tallies.items()}


class _WatchGroup:
    """One driver's watchers and paced writer in a watch cell."""

    def __init__(self, driver: Driver, *, watchers: int, writes: int) -> None:
        self.driver = driver
        self.watchers = watchers
        self.prefix = f"/{driver.name}/watch-{watchers}/"
        self.sent = [0] * writes  # perf_counter_ns just before each write call
        self.written = 0
        self.latencies: list[int] = []
        self.expected = 0
        self.caught_up = asyncio.Event()
        self.handles: list[WatchHandle] = []
        self.elapsed = 0.0
        self.cpu = [0.0, 0.0, 0.0]

    def sink(self, now: int, keys: Sequence[str | bytes]) -> None:
        sent = self.sent
        for key in keys:
            self.latencies.append(now - sent[int(key[-INDEX_DIGITS:])])
        if len(self.latencies) >= self.expected:
            self.caught_up.set()

    async def open(self) -> None:
        after = await self.driver.current_revision()
        opened = await asyncio.gather(
            *(self.driver.open_watch(self.prefix, after, self.sink) for _ in range(self.watchers)),
            return_exceptions=True,
        )
        self.handles = [h for h in opened if isinstance(h, WatchHandle)]
        failed = [h for h in opened if not isinstance(h, WatchHandle)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {self.watchers} watches failed: {failed[0]!r}")

    async def write(self, count: int, rate: float, cpu: CpuClock) -> None:
        """Write `count` keys at `rate` per second; wait until every watcher has them."""
        self.expected += count * self.watchers
        self.caught_up.clear()
        before = cpu.read()
        start = time.perf_counter()
        async for _ in paced(count, rate, start):
            i = self.written
            self.written += 1
            key = f"{self.prefix}{i:0{INDEX_DIGITS}d}"
            self.sent[i] = time.perf_counter_ns()
            await self.driver.create(key, VALUE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.caught_up.wait(), WATCH_DRAIN_TIMEOUT)
        self.elapsed += time.perf_counter() - start
        self.cpu = [a + b for a, b in zip(self.cpu, cpu.used(before), strict=True)]

    async def close(self) -> list[BaseException]:
        ended = await asyncio.gather(*(h.close() for h in self.handles))
        return [err for err in ended if err is not None]

    def figure(self, broken: list[BaseException], rate: float) -> Figure:
        latencies = sorted(self.latencies)
        note = f"{len(latencies)}/{self.expected} delivered, {self.written} writes at {rate:g}/s"
        note += f"; {cpu_note(self.cpu, self.elapsed)}"
        if broken:
            note += f"; {len(broken)} watches broke: {broken[0]!r}"[:200]
        return Figure(
            0.0,
            percentile(latencies, 0.50),
            percentile(latencies, 0.99),
            len(latencies),
            self.expected - len(latencies),
            note,
        )


async def watch_cells(
    drivers: Sequence[Driver], *, watchers: int, rate: float, limits: Limits, cpu: CpuClock
) -> tuple[dict[str, Figure], float]:
    """Delivery latency from just before the write call to each watcher's receipt.

    Every driver's watchers are opened first and stay open (on different
    prefixes, so a write reaches only its own driver's watchers); then the
    drivers take turns writing, in interleaved rounds as the write cells do.
    Only one driver writes at a time, so no driver's deliveries queue behind
    another's in this one event loop.

    The watches' long-lived objects are frozen out of the garbage collector
    during the rounds: otherwise each full collection rescans every driver's
    watches (over 100 ms with 3000 open here), and one driver's p99 would
    show another's pauses. What such a collection costs is reported on its
    own, as `gc_ms`.
    """
    writes = max(limits.rounds, round(rate * limits.watch_seconds))
    groups = [_WatchGroup(d, watchers=watchers, writes=writes) for d in drivers]
    broken: dict[str, list[BaseException]] = {}
    try:
        for group in groups:
            await group.open()
        gc.freeze()
        for n in range(limits.rounds):
            count = writes // limits.rounds + (n < writes % limits.rounds)
            for group in groups if n % 2 == 0 else groups[::-1]:
                await group.write(count, rate, cpu)
        gc.unfreeze()
        start = time.perf_counter()
        gc.collect()
        gc_ms = (time.perf_counter() - start) * 1000
    finally:
        gc.unfreeze()
        for group in groups:
            broken[group.driver.name] = await group.close()
    return {g.driver.name: g.figure(broken[g.driver.name], rate) for g in groups}, gc_ms


def disk_baseline(directory: str, limits: Limits) -> tuple[Figure, Figure]:
    """Raw SQLite commits/s (1 row each) and rows/s (100 per commit), WAL + FULL."""
    conn = sqlite3.connect(os.path.join(directory, "raw.db"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value BLOB)")
        single = _commit_loop(conn, rows=1, commits=limits.max_ops, seconds=limits.max_seconds)
        batched = _commit_loop(
            conn, rows=100, commits=limits.max_ops // 10, seconds=limits.max_seconds
        )
    finally:
        conn.close()
    return single, batched


def _commit_loop(conn: sqlite3.Connection, *, rows: int, commits: int, seconds: float) -> Figure:
    latencies: list[int] = []
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while len(latencies) < commits and time.perf_counter() < deadline:
        batch = [(f"/raw/{n + j:09d}", VALUE) for j in range(rows)]
        n += rows
        t0 = time.perf_counter_ns()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (name, value) VALUES (?, ?)", batch)
        conn.execute("COMMIT")
        latencies.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return Figure(n / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99), n)


# -- report ---------------------------------------------------------------------

# RAW2 is a second, identical raw client: raw2/raw shows how far two runs of
# the very same thing differ here, which is how far a ratio can be trusted.
SQLITE, OURS, RAW, RAW2 = "sqlite", "etcd-ours", "etcd-raw", "etcd-raw2"


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and a == a and b == b else "-"


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for one column of a summary row: "sqlite", "sqlite/raw" or "ours/raw"."""

    column: str
    limit: float
    at_least: bool
    source: str = ""

    def judge(self, row: Row) -> tuple[bool, str]:
        value = {
            "sqlite": row.sqlite,
            "sqlite/raw": row.sqlite / row.raw,
            "ours/raw": row.ours / row.raw,
        }[self.column]
        met = value >= self.limit if self.at_least else value <= self.limit
        limit = f"{self.limit:,.0f}/s" if self.column == "sqlite" else f"{self.limit:.2f}x"
        sign = ">=" if self.at_least else "<="
        return met, f"{self.column}{sign}{limit}{self.source} {'met' if met else 'MISSED'}"


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    unit: str
    sqlite: float
    ours: float
    raw: float
    raw2: float = float("nan")


# The brief's goals, and perf.md section 4's suggested goals for SQLite
# against a local etcd. "etcd backend >= 80% of raw" is a throughput goal;
# a watch has no throughput, so for it the same goal reads as latency
# within 1/0.8 = 1.25x of raw.
OURS_80 = Target("ours/raw", 0.80, True)
TARGETS: dict[str, tuple[Target, ...]] = {
    "create x1 ops/s": (OURS_80, Target("sqlite/raw", 0.5, True, " perf.md")),
    "create x100 ops/s": (OURS_80, Target("sqlite", 10_000, True)),
    "p99 ms": (Target("sqlite/raw", 2.0, False, " perf.md"),),
    "ops/s": (OURS_80,),
    "watch": (Target("ours/raw", 1.25, False, " (=80%)"),),
}


def _targets(figure: str) -> tuple[Target, ...]:
    """Goals for a figure named like "create x100 ops/s" or "watch x1 p99 ms"."""
    if figure.startswith("watch"):
        return TARGETS["watch"]
    return TARGETS.get(figure) or TARGETS.get(figure.split(" ", 2)[2], ())


def summary(
    disk: tuple[Figure, Figure],
    writes: dict[tuple[str, int, str], Figure],
    watches: dict[tuple[int, str], Figure],
) -> list[str]:
    rows: list[Row] = []
    for op, writers in sorted({(op, w) for op, w, _ in writes}):
        s, o, r, r2 = (writes[op, writers, t] for t in (SQLITE, OURS, RAW, RAW2))
        name = f"{op} x{writers}"
        rows.append(Row(f"{name} ops/s", "/s", s.rate, o.rate, r.rate, r2.rate))
        rows.append(Row(f"{name} p50 ms", "ms", s.p50, o.p50, r.p50, r2.p50))
        rows.append(Row(f"{name} p99 ms", "ms", s.p99, o.p99, r.p99, r2.p99))
    for watchers in sorted({w for w, _ in watches}):
        s, o, r = (watches[watchers, t] for t in (SQLITE, OURS, RAW))
        name = f"watch x{watchers}"
        rows.append(Row(f"{name} p50 ms", "ms", s.p50, o.p50, r.p50))
        rows.append(Row(f"{name} p99 ms", "ms", s.p99, o.p99, r.p99))

    header = f"{'figure':<20}{'sqlite':>9}{'etcd-ours':>11}{'etcd-raw':>10}"
    header += f"{'sqlite/raw':>12}{'ours/raw':>10}{'raw2/raw':>10}   target"
    lines = [header, "-" * len(header)]
    missed: list[str] = []
    for row in rows:
        verdicts = [t.judge(row) for t in _targets(row.figure)]
        missed += [f"{row.figure}: {text}" for met, text in verdicts if not met]
        lines.append(
            f"{row.figure:<20}{_fmt(row.sqlite, row.unit):>9}{_fmt(row.ours, row.unit):>11}"
            f"{_fmt(row.raw, row.unit):>10}{_ratio(row.sqlite, row.raw):>12}"
            f"{_ratio(row.ours, row.raw):>10}{_ratio(row.raw2, row.raw):>10}"
            f"   {'; '.join(text for _, text in verdicts)}".rstrip()
        )
    single, batched = disk
    lines.append("")
    lines.append("our SQLite store against raw SQLite in the same directory:")
    for op, writers, base, what in (
        ("create", 1, single, "1-row commits/s"),
        ("create", 100, batched, "rows/s in 100-row commits"),
    ):
        rate = writes[op, writers, SQLITE].rate
        lines.append(
            f"  {op} x{writers}: {rate:,.0f}/s vs raw {what} {base.rate:,.0f}"
            f" = {rate / base.rate:.2f}x"
        )
    lines.append("")
    lines.append(f"targets missed (shown, never enforced): {len(missed) or 'none'}")
    lines += [f"  {text}" for text in missed]
    return lines


def _print(line: str = "") -> None:
    print(line, flush=True)


def _print_figure(label: str, fig: Figure, *, rate_unit: str = "ops/s") -> None:
    rate = f"{fig.rate:>9,.0f} {rate_unit}" if fig.rate else " " * (10 + len(rate_unit))
    _print(
        f"  {label:<28}{rate}  p50 {fig.p50:7.2f} ms  p99 {fig.p99:7.2f} ms"
        f"  n={fig.count:<7,} {'errors=' + str(fig.errors) + '  ' if fig.errors else ''}{fig.note}"
    )


async def run(limits: Limits, tmp: str, etcd: EtcdServer, disk: tuple[Figure, Figure]) -> None:
    port = etcd.client_port
    sqlite_driver = StoreDriver(
        SQLITE, await open_store(f"sqlite://{tmp}/state.db?compact_interval=0")
    )
    ours = StoreDriver(OURS, await open_store(f"etcd://127.0.0.1:{port}/bench"))
    raw = RawEtcd(etcd.url)
    raw2 = RawEtcd(etcd.url, RAW2)
    assert etcd.process is not None
    cpu = CpuClock(etcd.process.pid)
    writes: dict[tuple[str, int, str], Figure] = {}
    watches: dict[tuple[int, str], Figure] = {}
    try:
        _print()
        _print(
            f"== writes: 256-byte values, at most {limits.max_ops:,} ops "
            f"or {limits.max_seconds:g} s per cell"
        )
        cells = [("create", 1), ("create", 10), ("create", 100), ("update", 10), ("update", 100)]
        drivers = [sqlite_driver, ours, raw, raw2]
        for op, writers in cells:
            figures = await write_cells(drivers, op=op, writers=writers, limits=limits, cpu=cpu)
            for name, fig in figures.items():
                writes[op, writers, name] = fig
                _print_figure(f"{op} x{writers:<3} {name}", fig)

        _print()
        _print("== watch delivery latency: write call -> each watcher has the event")
        for watchers, rate in limits.watch_rates:
            figures, gc_ms = await watch_cells(
                [sqlite_driver, ours, raw], watchers=watchers, rate=rate, limits=limits, cpu=cpu
            )
            for name, fig in figures.items():
                watches[watchers, name] = fig
                _print_figure(f"watch x{watchers:<4} {name}", fig)
            _print(
                f"  one full garbage collection with these {3 * watchers} watches open: "
                f"{gc_ms:.1f} ms (a pause of every watcher in the process)"
            )
    finally:
        for driver in (sqlite_driver, ours, raw, raw2):
            await driver.close()
    _print()
    _print("== summary")
    for line in summary(disk, writes, watches):
        _print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run store", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    args = parser.parse_args(argv)
    limits = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="kyb-bench-") as tmp:
        _print("== machine")
        for line in machine_facts(tmp):
            _print(f"  {line}")
        _print()
        _print("== disk baseline: raw SQLite, WAL, synchronous=FULL, same directory")
        disk = disk_baseline(tmp, limits)
        _print_figure("1 row per commit", disk[0], rate_unit="commits/s")
        _print_figure("100 rows per commit", disk[1], rate_unit="rows/s")
        with running_etcd() as etcd:
            asyncio.run(run(limits, tmp, etcd, disk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
