"""Fan-out to watchers: filtering, order, progress and dropping slow ones."""

from __future__ import annotations

import pytest

from kybernetes.store import Event, EventKind, KeyValue, StoreClosedError, WatchDroppedError
from kybernetes.store.fanout import Fanout


def created(key: str, revision: int) -> Event:
    return Event(EventKind.CREATED, KeyValue(key, b"v", revision, revision), None)


async def test_each_subscriber_gets_only_its_prefix_in_order() -> None:
    fanout = Fanout(10)
    pods = fanout.subscribe("/pods/")
    everything = fanout.subscribe("")
    fanout.publish([created("/pods/a", 11), created("/svc/b", 12)], 12)
    fanout.publish([created("/pods/c", 13)], 13)
    first = await pods.next_batch()
    assert [e.kv.key for e in first.events] == ["/pods/a"]
    assert [e.kv.key for e in (await pods.next_batch()).events] == ["/pods/c"]
    assert [e.revision for e in (await everything.next_batch()).events] == [11, 12]
    assert pods.complete_through == 13


async def test_progress_is_queued_behind_events() -> None:
    fanout = Fanout(0)
    sub = fanout.subscribe("/a/")
    fanout.publish([created("/a/1", 1)], 1)
    fanout.publish([created("/b/1", 2)], 2)
    sub.push_progress()
    assert (await sub.next_batch()).revision == 1
    progress = await sub.next_batch()
    assert progress.is_progress and progress.revision == 2


async def test_overflowing_subscriber_is_dropped_after_its_buffer() -> None:
    fanout = Fanout(0, max_buffered=2)
    slow = fanout.subscribe("")
    fast = fanout.subscribe("")
    fanout.publish([created("/1", 1), created("/2", 2)], 2)
    await fast.next_batch()
    fanout.publish([created("/3", 3)], 3)
    assert fanout.subscriber_count == 1
    assert [e.revision for e in (await slow.next_batch()).events] == [1, 2]
    with pytest.raises(WatchDroppedError) as err:
        await slow.next_batch()
    assert err.value.last_revision == 2
    assert (await fast.next_batch()).revision == 3


async def test_close_fails_every_subscriber() -> None:
    fanout = Fanout(0)
    sub = fanout.subscribe("/")
    fanout.close()
    with pytest.raises(StoreClosedError):
        await sub.next_batch()
    with pytest.raises(StoreClosedError):
        await fanout.subscribe("/").next_batch()
