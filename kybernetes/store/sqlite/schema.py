"""The SQLite layout: one log row per revision, plus an index of live keys.

`log` is the history, in the spirit of kine: its rowid *is* the revision,
and AUTOINCREMENT makes SQLite remember the highest one ever used, so a
revision is never reused, even after compaction deleted every row or the
process crashed. A delete is a tombstone row. `live` maps each existing key
to the log row holding its current value, so that reads at the latest
revision never scan history. `meta` keeps the compacted revision.

Every function here takes a connection and runs on a worker thread, never on
the event loop.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from kybernetes.store.types import (
    CompactedError,
    Event,
    EventKind,
    FutureRevisionError,
    KeyValue,
)

__all__ = [
    "Snapshot",
    "connect",
    "current_revision",
    "read_events",
    "read_get",
    "read_list",
    "snapshot",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS live (
    name TEXT PRIMARY KEY,
    id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""

BUSY_TIMEOUT_MS = 30_000


def connect(path: str, *, writer: bool) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are always explicit."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: in WAL mode, every COMMIT fsyncs the WAL before returning, so
        # an acknowledged write survives a crash of the process or the machine.
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(SCHEMA)
    else:
        conn.execute("PRAGMA query_only = 1")
    conn.execute("PRAGMA cache_size = -16000")
    return conn


def current_revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
    return int(row[0]) if row else 0


def meta_value(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def compacted_revision(conn: sqlite3.Connection) -> int:
    return meta_value(conn, "compacted")


@dataclass(frozen=True, slots=True)
class Snapshot:
    current: int
    compacted: int


def snapshot(conn: sqlite3.Connection, revision: int) -> Snapshot:
    """Check `revision` against the open read transaction's snapshot."""
    snap = Snapshot(current_revision(conn), compacted_revision(conn))
    if revision and revision > snap.current:
        raise FutureRevisionError(revision, snap.current)
    if revision and revision < snap.compacted:
        raise CompactedError(revision, snap.compacted)
    return snap


def read_get(conn: sqlite3.Connection, key: str, revision: int) -> tuple[KeyValue | None, int]:
    """The key at `revision` (0: latest) and the snapshot revision read."""
    conn.execute("BEGIN")
    try:
        snap = snapshot(conn, revision)
        if revision == 0:
            row = conn.execute(
                "SELECT l.id, l.create_revision, l.value FROM live AS v "
                "JOIN log AS l ON l.id = v.id WHERE v.name = ?",
                (key,),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT id, create_revision, value, deleted FROM log "
                "WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1",
                (key, revision),
            ).fetchone()
            if row is not None and row[3]:
                row = None
    finally:
        conn.execute("COMMIT")
    if row is None:
        return None, snap.current
    return KeyValue(key, row[2], row[1], row[0]), snap.current


def _range_clause(column: str, end: str) -> str:
    return f"{column} >= ? AND {column} < ?" if end else f"{column} >= ?"


def _range_args(start: str, end: str) -> tuple[str, ...]:
    return (start, end) if end else (start,)


def read_list(
    conn: sqlite3.Connection,
    *,
    start: str,
    end: str,
    revision: int,
    limit: int,
) -> tuple[list[KeyValue], int, int]:
    """Live keys in [start, end) at `revision` (0: latest), at most `limit` + 1.

    Returns the rows, the snapshot revision and how many keys the range
    holds in all at that revision (so callers can say how many remain).
    """
    fetch = limit + 1 if limit else -1
    conn.execute("BEGIN")
    try:
        snap = snapshot(conn, revision)
        rng = _range_args(start, end)
        if revision == 0:
            rows = conn.execute(
                "SELECT v.name, l.id, l.create_revision, l.value FROM live AS v "
                f"JOIN log AS l ON l.id = v.id WHERE {_range_clause('v.name', end)} "
                "ORDER BY v.name LIMIT ?",
                (*rng, fetch),
            ).fetchall()
            total = len(rows)
            if limit and total > limit:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM live WHERE {_range_clause('name', end)}", rng
                ).fetchone()[0]
        else:
            latest = (
                "SELECT name, MAX(id) AS id FROM log "
                f"WHERE {_range_clause('name', end)} AND id <= ? GROUP BY name"
            )
            rows = conn.execute(
                f"SELECT m.name, l.id, l.create_revision, l.value FROM ({latest}) AS m "
                "JOIN log AS l ON l.id = m.id WHERE l.deleted = 0 ORDER BY m.name LIMIT ?",
                (*rng, revision, fetch),
            ).fetchall()
            total = len(rows)
            if limit and total > limit:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM ({latest}) AS m JOIN log AS l ON l.id = m.id "
                    "WHERE l.deleted = 0",
                    (*rng, revision),
                ).fetchone()[0]
    finally:
        conn.execute("COMMIT")
    kvs = [KeyValue(name, value, create, rev) for name, rev, create, value in rows]
    return kvs, snap.current, total


def read_events(
    conn: sqlite3.Connection,
    *,
    start: str,
    end: str,
    after: int,
    through: int,
) -> list[Event]:
    """Every event under [start, end) with after < revision <= through.

    Raises CompactedError when events after `after` may already be gone.
    Runs in one read transaction, so a compaction running meanwhile cannot
    tear a hole in what it returns.
    """
    conn.execute("BEGIN")
    try:
        compacted = compacted_revision(conn)
        if after < compacted:
            raise CompactedError(after, compacted)
        rows = conn.execute(
            "SELECT l.id, l.name, l.deleted, l.create_revision, l.value, "
            "l.prev_revision, p.create_revision, p.value FROM log AS l "
            "LEFT JOIN log AS p ON p.id = l.prev_revision "
            f"WHERE l.id > ? AND l.id <= ? AND {_range_clause('l.name', end)} ORDER BY l.id",
            (after, through, *_range_args(start, end)),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return [event_from_row(row) for row in rows]


def event_from_row(row: tuple[object, ...]) -> Event:
    rev, name, deleted, create, value, prev_rev, prev_create, prev_value = row
    assert isinstance(rev, int) and isinstance(name, str) and isinstance(create, int)
    prev = None
    # The row a change replaced is never compacted while the change itself is
    # kept (compaction keeps each key's latest row at or below its revision).
    if prev_rev:
        assert isinstance(prev_rev, int) and isinstance(prev_create, int)
        assert isinstance(prev_value, bytes)
        prev = KeyValue(name, prev_value, prev_create, prev_rev)
    if deleted:
        last = prev.value if prev is not None else b""
        return Event(EventKind.DELETED, KeyValue(name, last, create, rev), prev)
    assert isinstance(value, bytes)
    kind = EventKind.UPDATED if prev_rev else EventKind.CREATED
    return Event(kind, KeyValue(name, value, create, rev), prev)
