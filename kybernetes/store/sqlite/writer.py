"""The single writer thread: group commit, revision allocation, compaction.

All writes go through one thread that owns the only write connection. It
takes every write waiting in its queue, applies them in one `BEGIN
IMMEDIATE` transaction and commits once, so many concurrent writers share one
fsync (group commit). Each write checks its own condition inside the
transaction; one that fails (already exists, conflict) gets its error and
uses no revision, without disturbing the others. Results and the committed
events go back to the event loop in one callback per batch, after COMMIT has
returned, so nothing is acknowledged or watched before it is on disk.

Compaction runs here too, in small chunks between write batches, so it never
holds the write lock for long (kine's lesson: one huge DELETE stalls every
writer).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kybernetes.store.sqlite import schema
from kybernetes.store.sqlite.batch import BatchPlan, plan_batch
from kybernetes.store.types import Event, KeyValue, StoreClosedError, StoreUnavailableError

__all__ = ["Op", "Writer"]

log = logging.getLogger(__name__)

MAX_BATCH = 2000
COMPACT_CHUNK = 1000
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024

Result = KeyValue | BaseException | None


@dataclass(slots=True)
class Op:
    """One write request; `token` is whatever the submitter needs to resolve it."""

    kind: Literal["create", "update", "delete", "compact"]
    key: str = ""
    value: bytes = b""
    expected: int = 0
    token: object = None


@dataclass(slots=True)
class _Compaction:
    target: int
    next_low: int
    tokens: list[object] = field(default_factory=list)


CommitCallback = Callable[[list[tuple[object, Result]], list[Event], int], None]
FailureCallback = Callable[[BaseException], None]

_STOP = Op("compact")  # compared by identity


class Writer:
    """Owns the write connection; `submit` is safe from any thread."""

    def __init__(
        self,
        path: str,
        on_commit: CommitCallback,
        *,
        wal_limit: int = WAL_TRUNCATE_BYTES,
        on_failure: FailureCallback | None = None,
    ) -> None:
        """`on_failure`: called (in the writer's thread, its connection closed
        and every waiting write answered) when the writer stops on an error."""
        self._path = path
        self._wal_limit = wal_limit
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._compaction: _Compaction | None = None
        self._thread = threading.Thread(target=self._run, name="kyb-sqlite-writer", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.revision = 0
        self.compacted = 0
        self.commits = 0  # write transactions committed: shows group commit at work

    def start(self) -> None:
        """Open the database and wait until the writer is ready (call in a thread)."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    def submit(self, op: Op) -> None:
        if self._failure is not None:
            raise StoreUnavailableError(f"the SQLite writer stopped: {self._failure}")
        self._queue.put(op)

    def stop(self) -> None:
        """Finish what is queued, then close the connection (call in a thread)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = schema.connect(self._path, writer=True)
            # In a write transaction: a writer process that outlived a killed
            # server finishes its commit before this one counts revisions.
            conn.execute("BEGIN IMMEDIATE")
            self.revision = schema.current_revision(conn)
            self.compacted = schema.compacted_revision(conn)
            done = schema.meta_value(conn, "compact_done")
            conn.execute("COMMIT")
            if done < self.compacted:  # a crash interrupted the last compaction
                self._compaction = _Compaction(self.compacted, done)
        except BaseException as err:  # noqa: BLE001 - reported to start()
            self._failure = err
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(conn)
            if self._compaction is not None and self._compaction.tokens:
                # Stopped mid-compaction: the floor is recorded and the rest
                # resumes at the next start; whoever waits must not hang.
                closed: list[tuple[object, Result]] = [
                    (token, StoreClosedError()) for token in self._compaction.tokens
                ]
                self._on_commit(closed, [], self.revision)
        except BaseException as err:
            log.exception("SQLite writer failed")
            self._failure = err
            self._fail_pending(err)
        finally:
            conn.close()
        if self._failure is not None and self._on_failure is not None:
            self._on_failure(self._failure)

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            writes = [op for op in batch if op.kind != "compact"]
            for op in batch:
                if op.kind == "compact":
                    self._begin_compaction(conn, op)
            if writes:
                self._commit_writes(conn, writes)
                self._truncate_wal_if_large(conn)
            if self._compaction is not None:
                self._compact_chunk(conn)

    def _take_batch(self) -> list[Op] | None:
        """Block for the first op (unless compaction is pending), then drain."""
        try:
            first = self._queue.get(block=self._compaction is None)
        except queue.Empty:
            return []
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(op)
        return batch

    def _commit_writes(self, conn: sqlite3.Connection, ops: list[Op]) -> None:
        results: list[tuple[object, Result]]
        try:
            conn.execute("BEGIN IMMEDIATE")
            plan = plan_batch(ops, _live_rows(conn, {op.key for op in ops}), self.revision)
            _write_plan(conn, plan)
            _failpoint("before-commit")
            conn.execute("COMMIT")
            self.revision = plan.revision
            self.commits += 1
            _failpoint("after-commit")
            results = [(op.token, result) for op, result in zip(ops, plan.results, strict=True)]
            events = plan.events
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failed = StoreUnavailableError(f"SQLite write failed: {err}")
            results = [(op.token, failed) for op in ops]
            events = []
        self._on_commit(results, events, self.revision)

    def _begin_compaction(self, conn: sqlite3.Connection, op: Op) -> None:
        target = min(op.expected, self.revision)
        if target <= self.compacted:
            self._on_commit([(op.token, None)], [], self.revision)
            return
        # Record the new floor first, in its own transaction: from then on
        # reads below it are refused, before any row they need is deleted.
        try:
            conn.execute("BEGIN IMMEDIATE")
            _set_meta(conn, "compacted", target)
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failed = StoreUnavailableError(f"SQLite compaction failed: {err}")
            self._on_commit([(op.token, failed)], [], self.revision)
            return
        if self._compaction is None:
            self._compaction = _Compaction(target, self.compacted)
        self._compaction.target = target
        self._compaction.tokens.append(op.token)
        self.compacted = target

    def _compact_chunk(self, conn: sqlite3.Connection) -> None:
        """Forget what the rows of one chunk of revisions made obsolete.

        Every row but a key's latest is the predecessor of exactly one newer
        row, so walking the newer rows up to the target once, in chunks,
        finds every superseded row, however old, and every tombstone.
        """
        job = self._compaction
        assert job is not None
        high = min(job.next_low + COMPACT_CHUNK, job.target)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "DELETE FROM log WHERE id IN (SELECT prev_revision FROM log "
                "WHERE id > ? AND id <= ? AND prev_revision != 0)",
                (job.next_low, high),
            )
            conn.execute(
                "DELETE FROM log WHERE id > ? AND id <= ? AND deleted = 1", (job.next_low, high)
            )
            _set_meta(conn, "compact_done", high)
            _failpoint("compact-chunk")
            conn.execute("COMMIT")
        except sqlite3.Error:
            # The floor is already recorded, so reads stay correct; the rows
            # this chunk left behind cost only space.
            log.exception("compaction chunk (%d, %d] failed", job.next_low, high)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        job.next_low = high
        if high >= job.target:
            self._compaction = None
            self._on_commit([(token, None) for token in job.tokens], [], self.revision)

    def _truncate_wal_if_large(self, conn: sqlite3.Connection) -> None:
        """Reset the WAL when constant readers kept passive checkpoints from it.

        A stat per commit is noise next to the commit's fsync.
        """
        try:
            size = os.path.getsize(self._path + "-wal")
        except OSError:
            return
        if size > self._wal_limit:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _fail_pending(self, err: BaseException) -> None:
        failed = StoreUnavailableError(f"the SQLite writer stopped: {err}")
        results: list[tuple[object, Result]] = []
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not _STOP:
                results.append((op.token, failed))
        if self._compaction is not None:
            results.extend((token, failed) for token in self._compaction.tokens)
        self._on_commit(results, [], self.revision)


def _set_meta(conn: sqlite3.Connection, name: str, value: int) -> None:
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


# Keys per SELECT: well under SQLite's limit on a statement's parameters.
_KEYS_PER_QUERY = 500


def _live_rows(conn: sqlite3.Connection, keys: set[str]) -> dict[str, KeyValue]:
    """The live version of each of `keys` that has one."""
    found: dict[str, KeyValue] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _KEYS_PER_QUERY):
        chunk = ordered[start : start + _KEYS_PER_QUERY]
        rows = conn.execute(
            "SELECT v.name, l.id, l.create_revision, l.value FROM live AS v "
            "JOIN log AS l ON l.id = v.id "
            f"WHERE v.name IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for name, rev, create, value in rows:
            found[name] = KeyValue(name, value, create, rev)
    return found


def _write_plan(conn: sqlite3.Connection, plan: BatchPlan) -> None:
    """The batch's rows, a few statements per table. One statement carries many
    rows: `executemany` steps once per row, and a step gives up the GIL and
    must win it back from the busy event loop (about 100 µs a row, measured)."""
    _insert_rows(conn, "INSERT INTO log (id, name, deleted, create_revision, "
                       "prev_revision, value) VALUES ", "(?,?,?,?,?,?)", plan.log_rows)  # fmt: skip
    kept = [(name, rev) for name, rev in plan.live.items() if rev is not None]
    gone = [name for name, rev in plan.live.items() if rev is None]
    _insert_rows(conn, "INSERT OR REPLACE INTO live (name, id) VALUES ", "(?,?)", kept)
    for start in range(0, len(gone), _ROWS_PER_STATEMENT):
        chunk = gone[start : start + _ROWS_PER_STATEMENT]
        conn.execute(f"DELETE FROM live WHERE name IN ({','.join('?' * len(chunk))})", chunk)


# Rows per statement: under SQLite's parameter limit (32,766) with six per row,
# and few enough distinct statement texts for the connection's statement cache.
_ROWS_PER_STATEMENT = 100


def _insert_rows(
    conn: sqlite3.Connection, head: str, row: str, rows: Sequence[tuple[object, ...]]
) -> None:
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        values = ",".join([row] * len(chunk))
        conn.execute(head + values, [value for r in chunk for value in r])


_FAILPOINT = os.environ.get("KYB_STORE_FAILPOINT", "")
# Processes a failpoint's crash takes down too: the server a writer process
# writes for, which would have crashed with it when they were one process.
crash_also: list[int] = []


class FailpointError(RuntimeError):
    """What an `error:` failpoint raises: a writer that fails as a bug would make it."""


def _failpoint(name: str) -> None:
    """Crash here when the environment names this point (crash tests only);
    `error:NAME` raises instead, as a bug in the writer would."""
    if not _FAILPOINT:
        return
    if name == _FAILPOINT:
        for pid in crash_also:
            os.kill(pid, signal.SIGKILL)
        os._exit(137)
    if _FAILPOINT.removeprefix("error:") == name:
        raise FailpointError(f"failpoint {name}")
