"""Small pieces of new objects: uids and creation times."""

from __future__ import annotations

import datetime
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from kybernetes.api import times
from kybernetes.apiserver.objects import new_uid


def test_new_uid_is_a_version_4_uuid_written_as_uuid_writes_it() -> None:
    uids = [new_uid() for _ in range(200)]
    for text in uids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(uids)) == len(uids)


def test_now_is_the_current_second_and_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_700_000_000.2]
    monkeypatch.setattr(times.time, "time", lambda: clock[0])
    assert times.now_rfc3339() == "2023-11-14T22:13:20Z"
    clock[0] += 0.7  # the same second: the same text
    assert times.now_rfc3339() == "2023-11-14T22:13:20Z"
    clock[0] += 0.2
    assert times.now_rfc3339() == "2023-11-14T22:13:21Z"
    assert times.parse_time(times.now_rfc3339()) == datetime.datetime(
        2023, 11, 14, 22, 13, 21, tzinfo=datetime.UTC
    )


def test_threads_never_share_a_uid() -> None:
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_uid() for _ in range(600)], range(8)))
    uids = [uid for batch in batches for uid in batch]
    assert len(set(uids)) == len(uids)


def test_a_forked_child_never_repeats_its_parents_uids() -> None:
    new_uid()  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_uid().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != new_uid()
