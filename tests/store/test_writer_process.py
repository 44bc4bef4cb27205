"""The SQLite writer's own process: its wire form, and how it lives and dies."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
import time
from pathlib import Path

import pytest

from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.sqlite.writer import Op, Writer
from kybernetes.store.sqlite.writer_child import decode_commit, encode_commit, frame, split_frames
from kybernetes.store.sqlite.writer_process import MAX_RESTART_DELAY, RESTART_DELAY, restart_delay
from kybernetes.store.types import (
    AlreadyExistsError,
    ConflictError,
    Event,
    EventKind,
    KeyValue,
    NotFoundError,
    StoreClosedError,
    StoreUnavailableError,
    Watch,
)


def _described(result: object) -> object:
    """What a caller can see of a result: a KeyValue, or an error's type, text and fields."""
    if isinstance(result, BaseException):
        return (type(result), str(result), sorted(vars(result).items()))
    return result


def test_a_commit_round_trips_every_result_and_event() -> None:
    old = KeyValue("/a", b"one", 3, 5)
    new = KeyValue("/a", b"two", 3, 9)
    results: list[tuple[object, object]] = [
        (1, new),
        (2, AlreadyExistsError("/b", KeyValue("/b", b"x", 4, 4))),
        (3, AlreadyExistsError("/c")),
        (4, ConflictError("/a", 4, old)),
        (5, ConflictError("/gone", 4, None)),
        (6, NotFoundError("/d")),
        (7, StoreClosedError()),
        (8, StoreUnavailableError("the disk is full")),
        (9, None),
    ]
    events = [
        Event(EventKind.CREATED, KeyValue("/e", b"e", 8, 8), None),
        Event(EventKind.UPDATED, new, old),
        Event(EventKind.DELETED, KeyValue("/a", b"two", 3, 10), new),
    ]
    wire = pickle.loads(pickle.dumps(encode_commit(results, events)))  # type: ignore[arg-type]
    decoded, decoded_events = decode_commit(*wire)
    assert [(t, _described(r)) for t, r in decoded] == [(t, _described(r)) for t, r in results]
    assert decoded_events == events


def test_frames_are_split_however_the_bytes_arrive() -> None:
    messages = [("ops", [(1, "create", "/k", b"v" * 5000, 0)]), ("stop",), ("ready", 7, 2)]
    stream = b"".join(frame(m) for m in messages)
    for step in (1, 3, 4, 1000, len(stream)):
        buffer = bytearray()
        got = []
        for start in range(0, len(stream), step):
            buffer += stream[start : start + step]
            got.extend(split_frames(buffer))
        assert got == messages
        assert not buffer


async def _kill_writer(store: SqliteStore) -> None:
    """SIGKILL the store's writer process; return once the store noticed."""
    writer = store._writer
    proc = writer._proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    while writer._restarting is None and writer.restarts == 0:
        await asyncio.sleep(0.001)


async def _events_until(watch: Watch, last_key: str) -> list[Event]:
    seen: list[Event] = []
    async for batch in watch:
        seen += batch.events
        if any(e.kv.key == last_key for e in batch.events):
            return seen
    raise AssertionError("the watch ended")


async def test_a_killed_writer_process_is_started_again_and_watchers_miss_nothing(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        watch = store.watch("/k/", after=(await store.create("/before", b"1")).mod_revision)
        writes = [asyncio.create_task(store.create(f"/k/{i}", b"v")) for i in range(300)]
        while not store._writer._writes_out:  # killed with writes in its hands
            await asyncio.sleep(0)
        await _kill_writer(store)
        outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 20)
        assert all(isinstance(o, StoreUnavailableError | KeyValue) for o in outcomes), outcomes
        lost = [o for o in outcomes if isinstance(o, StoreUnavailableError)]
        assert lost, "no write was left to the killed writer"
        assert "may or may not have been written" in str(lost[0])
        # Writes go on with the new writer process; the watcher saw every
        # object that exists, each once, in revision order.
        after = await asyncio.wait_for(store.create("/k/after", b"1"), 20)
        seen = await asyncio.wait_for(_events_until(watch, "/k/after"), 20)
        listed = await store.list("/k/")
        assert [e.kv.key for e in seen] == [
            kv.key for kv in sorted(listed.kvs, key=lambda kv: kv.mod_revision)
        ]
        assert seen[-1].kv.mod_revision == after.mod_revision
        assert store._writer.restarts == 1
        await watch.close()
    finally:
        await store.close()


async def test_what_a_dead_writer_committed_unannounced_reaches_the_watchers(
    tmp_path: Path,
) -> None:
    """The writer process can die between its COMMIT and its answer: the new
    one finds revisions the server never published, and they are published."""
    path = str(tmp_path / "state.db")
    store = await SqliteStore.open(path, compact_interval=0)
    try:
        first = await store.create("/k/a", b"1")
        watch = store.watch("/k/", after=first.mod_revision)
        # A commit the server's writer process never told it about.
        answered: list[object] = []
        other = Writer(path, lambda results, events, revision: answered.extend(results))
        await asyncio.to_thread(other.start)
        other.submit(Op("create", "/k/unannounced", b"2", token="t"))
        await asyncio.to_thread(other.stop)
        assert [type(r) for _, r in answered] == [KeyValue]  # type: ignore[misc]
        await _kill_writer(store)
        await asyncio.wait_for(store.create("/k/after", b"3"), 20)
        seen = await asyncio.wait_for(_events_until(watch, "/k/after"), 20)
        assert [e.kv.key for e in seen] == ["/k/unannounced", "/k/after"]
        assert (await store.get("/k/unannounced")).value == b"2"
        await watch.close()
    finally:
        await store.close()


_PARENT = """
import asyncio, sys, time
from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.sqlite.writer import Op, Writer

async def main():
    store = await SqliteStore.open(sys.argv[1], compact_interval=0)
    await store.create("/k", b"v")
    print(store._writer._proc.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_the_writer_process_dies_with_a_killed_server(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PARENT, str(tmp_path / "state.db"), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    child = int(await asyncio.wait_for(parent.stdout.readline(), 20))
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not _alive(child), "the writer process outlived its server"
    # And the file is whole: a new server opens it and finds the write.
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        assert (await store.get("/k")).value == b"v"
    finally:
        await store.close()


async def test_a_writer_that_fails_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer thread that stops on an error (a bug) takes its process down,
    and the server starts another: it used to keep refusing every write until
    the server itself was restarted."""
    monkeypatch.setenv("KYB_STORE_FAILPOINT", "error:before-commit")
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    monkeypatch.delenv("KYB_STORE_FAILPOINT")  # the next child is sound
    try:
        with pytest.raises(StoreUnavailableError, match="may or may not have been written"):
            await asyncio.wait_for(store.create("/lost", b"1"), 10)
        await asyncio.wait_for(store.create("/after", b"2"), 10)
        assert (await store.get("/after")).value == b"2"
        with pytest.raises(NotFoundError):  # it failed before its commit
            await store.get("/lost")
        assert store._writer.restarts == 1
    finally:
        await store.close()


def test_writers_that_keep_dying_young_are_started_again_ever_more_slowly() -> None:
    assert restart_delay(0.0, lived=3600) == 0  # one that served a while: at once
    pauses = [restart_delay(0.0, lived=0.2)]
    while pauses[-1] < MAX_RESTART_DELAY:
        pauses.append(restart_delay(pauses[-1], lived=0.2))
    assert pauses[:3] == [RESTART_DELAY, 2 * RESTART_DELAY, 4 * RESTART_DELAY]
    assert pauses[-1] == MAX_RESTART_DELAY
    assert restart_delay(MAX_RESTART_DELAY, lived=0.2) == MAX_RESTART_DELAY
    assert restart_delay(MAX_RESTART_DELAY, lived=60) == 0  # served again: reset


async def test_a_store_that_cannot_be_opened_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "a-directory.db"
    path.mkdir()
    with pytest.raises(StoreUnavailableError, match=f"cannot open the SQLite store {path}"):
        await SqliteStore.open(str(path), compact_interval=0)


async def test_the_writer_process_leaves_interrupts_to_its_server(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) and SIGTERM go to a whole process group; the writer
    process waits for its server to stop it, writes in flight included."""
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        proc = store._writer._proc
        assert proc is not None
        writes = [asyncio.create_task(store.create(f"/k/{i}", b"v")) for i in range(100)]
        await asyncio.sleep(0)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*writes)
        await store.create("/after", b"1")
        assert proc.returncode is None
        assert store._writer.restarts == 0
    finally:
        await store.close()
    assert proc.returncode == 0
