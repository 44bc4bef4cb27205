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
from kybernetes.store.sqlite.writer_child import decode_commit, encode_commit, frame, split_frames
from kybernetes.store.types import (
    AlreadyExistsError,
    ConflictError,
    Event,
    EventKind,
    KeyValue,
    NotFoundError,
    StoreClosedError,
    StoreUnavailableError,
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


async def test_writes_fail_clearly_once_the_writer_process_is_gone(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        await store.create("/before", b"1")
        proc = store._writer._proc
        assert proc is not None
        writes = [asyncio.create_task(store.create(f"/k/{i}", b"v")) for i in range(200)]
        await asyncio.sleep(0)
        proc.send_signal(signal.SIGKILL)
        outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 10)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert failed, "a write was left to the killed writer"
        assert all(isinstance(o, StoreUnavailableError | KeyValue) for o in outcomes)
        with pytest.raises(StoreUnavailableError, match=r"writer process for .*state\.db exited"):
            await store.create("/after", b"1")
        assert (await store.get("/before")).value == b"1"  # reads go on
    finally:
        await store.close()


_PARENT = """
import asyncio, sys, time
from kybernetes.store.sqlite.backend import SqliteStore

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


async def test_a_store_that_cannot_be_opened_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "a-directory.db"
    path.mkdir()
    with pytest.raises(StoreUnavailableError, match=f"cannot open the SQLite store {path}"):
        await SqliteStore.open(str(path), compact_interval=0)
