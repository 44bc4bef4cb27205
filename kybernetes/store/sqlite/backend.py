"""The embedded SQLite store: kine's log table, one writer process, reader threads.

Writes go to the single writer, a process of its own (group commit, see
`writer.py`; why a process: `writer_process.py`);
reads run on a small pool of reader threads, each with its own connection,
which WAL mode lets read while the writer commits. Watches are served from
memory (`Fanout`) once caught up, and from the log table before that.
Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kybernetes.store import keys
from kybernetes.store.compactor import DEFAULT_COMPACT_INTERVAL, Compactor
from kybernetes.store.fanout import DEFAULT_MAX_BUFFERED, Fanout, Subscriber
from kybernetes.store.sqlite import schema
from kybernetes.store.sqlite.board import RevisionBoard
from kybernetes.store.sqlite.writer import WAL_TRUNCATE_BYTES, Op, Result
from kybernetes.store.sqlite.writer_process import WriterFollower, WriterProcess
from kybernetes.store.types import (
    CompactedError,
    Event,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    ListResult,
    NotFoundError,
    Store,
    StoreClosedError,
    StoreUnavailableError,
    Watch,
    WatchBatch,
)

__all__ = ["SqliteStore"]

T = TypeVar("T")
# Aliases at module level: inside the class, `list` is the Store method.
Results = list[tuple[object, Result]]
Events = list[Event]

READER_THREADS = 4
CATCH_UP_PAGE = 1000


class SqliteStore(Store):
    """A `Store` in one SQLite file. Create it with `await SqliteStore.open(path)`."""

    def __init__(
        self,
        path: str,
        *,
        compact_interval: float = DEFAULT_COMPACT_INTERVAL,
        max_watch_buffer: int = DEFAULT_MAX_BUFFERED,
        wal_limit: int = WAL_TRUNCATE_BYTES,
        link: socket.socket | None = None,
        on_lost: Callable[[StoreUnavailableError], None] = lambda _: None,
    ) -> None:
        """`link`: another process's writer (`follow`) instead of one of our own."""
        self.path = path
        self._loop = asyncio.get_running_loop()
        self._writer: WriterProcess | WriterFollower
        if link is None:
            self._writer = WriterProcess(
                path, self._on_commit, catch_up=self._publish_missed, wal_limit=wal_limit
            )
        else:
            self._writer = WriterFollower(path, link, self._on_commit, on_lost)
        # Set once another process writes too: then the store's revision is
        # the board's, not only what this process has heard of.
        self._board: RevisionBoard | None = None
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="kyb-sqlite-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._fanout = Fanout(0, max_buffered=max_watch_buffer)
        self._compactor = Compactor(self, compact_interval)
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        compact_interval: float = DEFAULT_COMPACT_INTERVAL,
        max_watch_buffer: int = DEFAULT_MAX_BUFFERED,
        wal_limit: int = WAL_TRUNCATE_BYTES,
    ) -> SqliteStore:
        """`wal_limit`: the WAL's size (bytes) past which the writer truncates it."""
        await asyncio.to_thread(_make_parent_dir, path)
        store = cls(path, compact_interval=compact_interval, max_watch_buffer=max_watch_buffer,
                    wal_limit=wal_limit)  # fmt: skip
        writer = store._writer
        assert isinstance(writer, WriterProcess)
        try:
            await writer.start()
        except BaseException:
            writer.board.close()  # made with the writer; a store never opened is not closed
            raise
        store._fanout.revision = writer.revision
        store._compactor.start()
        return store

    @classmethod
    async def follow(
        cls,
        path: str,
        *,
        link: socket.socket,
        board_fd: int,
        on_lost: Callable[[StoreUnavailableError], None],
        max_watch_buffer: int = DEFAULT_MAX_BUFFERED,
    ) -> SqliteStore:
        """The store another process of this server opened (`open`), from a
        second API process: reads from the file itself, writes through the
        server's writer process on `link` (`add_follower`), every commit's
        events from there too, the revision from the board at `board_fd`.
        No compaction here: the server compacts. `on_lost`: the link ended
        (the server or its writer died); this store then refuses writes."""
        store = cls(path, compact_interval=0, max_watch_buffer=max_watch_buffer, link=link,
                    on_lost=on_lost)  # fmt: skip
        board = RevisionBoard(board_fd)
        try:
            await store._writer.start()
        except BaseException:
            board.close()
            raise
        store._fanout.revision = store._writer.revision
        store._board = board
        return store

    def add_follower(self) -> tuple[socket.socket, int]:
        """A link and the board's descriptor for `follow` in another process."""
        if not isinstance(self._writer, WriterProcess):
            raise StoreUnavailableError("only the store's own server can add API processes")
        self._board = self._writer.board
        return self._writer.add_follower(), self._board.fd

    # -- reads ---------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = schema.connect(self.path, writer=False)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosedError()
        return await self._loop.run_in_executor(self._readers, lambda: fn(self._connection()))

    async def get(self, key: str, *, revision: int = 0) -> KeyValue:
        keys.check_key(key)
        keys.check_revision(revision)
        kv, _ = await self._read(lambda conn: schema.read_get(conn, key, revision))
        if kv is None:
            raise NotFoundError(key)
        return kv

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        continue_key: str | None = None,
    ) -> ListResult:
        revision, start = keys.list_start(prefix, revision, limit, continue_key)
        end = keys.prefix_end(prefix)
        kvs, current, total = await self._read(
            lambda conn: schema.read_list(
                conn, start=start, end=end, revision=revision, limit=limit
            )
        )
        snapshot = revision or current
        if limit and len(kvs) > limit:
            next_key = kvs[limit].key
            return ListResult(
                tuple(kvs[:limit]),
                snapshot,
                keys.encode_continue(snapshot, next_key),
                total - limit,
            )
        return ListResult(tuple(kvs), snapshot, None, 0)

    async def current_revision(self) -> int:
        return self.known_revision()

    def known_revision(self) -> int:
        if self._board is None:
            return self._fanout.revision
        # Another process may have acknowledged a write this one has not heard of.
        return max(self._fanout.revision, self._board.revision())

    def known_compacted(self) -> int:
        if self._board is None:
            return self._writer.compacted
        return max(self._writer.compacted, self._board.compacted())

    # -- writes --------------------------------------------------------------

    async def _write(self, op: Op) -> KeyValue | None:
        if self._closed:
            raise StoreClosedError()
        future: asyncio.Future[KeyValue | None] = self._loop.create_future()
        op.token = future
        self._writer.submit(op)
        return await future

    async def create(self, key: str, value: bytes) -> KeyValue:
        data = keys.check_value(keys.check_key(key), value)
        kv = await self._write(Op("create", key, data))
        assert kv is not None
        return kv

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        data = keys.check_value(keys.check_key(key), value)
        if keys.check_revision(expected_revision, "expected_revision") == 0:
            raise InvalidInputError("update needs the expected_revision it replaces")
        kv = await self._write(Op("update", key, data, expected_revision))
        assert kv is not None
        return kv

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        keys.check_key(key)
        keys.check_revision(expected_revision, "expected_revision")
        kv = await self._write(Op("delete", key, b"", expected_revision))
        assert kv is not None
        return kv

    async def compact(self, revision: int) -> None:
        keys.check_revision(revision)
        current = self._fanout.revision
        if revision > current:
            raise FutureRevisionError(revision, current)
        if revision <= self._writer.compacted:
            raise CompactedError(revision, self._writer.compacted)
        await self._write(Op("compact", expected=revision))

    def _on_commit(self, results: Results, events: Events, revision: int) -> None:
        # Publish before acknowledging: a writer that then reads its watch
        # never waits for an event it has already been told about.
        if events and revision > self._fanout.revision:
            self._fanout.publish(events, revision)
        for token, result in results:
            assert isinstance(token, asyncio.Future)
            if token.done():
                continue
            if isinstance(result, BaseException):
                token.set_exception(result)
            else:
                token.set_result(result)

    async def _publish_missed(self, after: int, through: int) -> None:
        """Publish the revisions (after, through] a writer process committed
        and died before announcing: no watcher and no cache misses them."""
        async for events, page_end in self._event_pages("", after, through):
            self._fanout.publish(events, page_end)

    # -- watches -------------------------------------------------------------

    def watch(self, prefix: str, *, after: int) -> Watch:
        keys.check_prefix(prefix)
        keys.check_revision(after, "after")
        return _SqliteWatch(self, prefix, after)

    async def _event_pages(
        self, prefix: str, after: int, through: int
    ) -> AsyncIterator[tuple[Events, int]]:
        """The log's events under `prefix` in (after, through], a page of
        revisions at a time: each page's events and the revision it ends at."""
        end = keys.prefix_end(prefix)
        while after < through:
            page_end = min(after + CATCH_UP_PAGE, through)
            events = await self._read(
                functools.partial(
                    schema.read_events, start=prefix, end=end, after=after, through=page_end
                )
            )
            yield events, page_end
            after = page_end

    # -- lifecycle -----------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._compactor.stop()
        board, self._board = self._board, None  # known_revision: this process's alone now
        await self._writer.stop()
        if isinstance(self._writer, WriterFollower) and board is not None:
            board.close()  # the server's own board closes with its writer
        self._fanout.close()
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _make_parent_dir(path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


class _SqliteWatch(Watch):
    """Catches up from the log table, then follows the in-memory fan-out.

    The subscription is taken first, at revision `H` the loop has published;
    history supplies (after, H] and the subscription everything after H, so
    the hand-over has neither gap nor duplicate.
    """

    def __init__(self, store: SqliteStore, prefix: str, after: int) -> None:
        self.prefix = prefix
        self._store = store
        self._after = after
        self._sub: Subscriber = store._fanout.subscribe(prefix)
        self._history_through = self._sub.complete_through
        self._caught_up = after >= self._history_through
        self._progress_wanted = False
        self._closed = False

    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[WatchBatch]:
        try:
            async for batch in self._history():
                yield batch
            self._caught_up = True
            if self._progress_wanted:
                self._sub.push_progress()
            while not self._closed:
                try:
                    batch = await self._sub.next_batch()
                except StoreClosedError:
                    if self._closed:
                        return
                    raise
                if batch.events and batch.events[-1].revision <= self._after:
                    continue  # watching from a revision ahead of the store
                if batch.events and batch.events[0].revision <= self._after:
                    batch = WatchBatch(
                        tuple(e for e in batch.events if e.revision > self._after),
                        batch.revision,
                    )
                yield batch
        finally:
            self._store._fanout.unsubscribe(self._sub)

    async def _history(self) -> AsyncIterator[WatchBatch]:
        pages = self._store._event_pages(self.prefix, self._after, self._history_through)
        async for events, _ in pages:
            if events:
                yield WatchBatch(tuple(events), events[-1].revision)

    async def request_progress(self) -> None:
        if self._caught_up:
            self._sub.push_progress()
        else:
            self._progress_wanted = True

    async def close(self) -> None:
        self._closed = True
        self._store._fanout.unsubscribe(self._sub)
        self._sub._fail(StoreClosedError())
