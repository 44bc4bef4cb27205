"""The store conformance suite: every backend, the same behaviour.

Named after what they check, in the spirit of apiserver's
storage/testing/store_tests.go. Revisions are compared only to revisions the
test itself saw, because the etcd server is shared by the whole session.
"""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.store import (
    MAX_VALUE_BYTES,
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    EventKind,
    FutureRevisionError,
    InvalidInputError,
    NotFoundError,
    Store,
    StoreClosedError,
)
from tests.store.watching import WatchReader

# -- create / get ---------------------------------------------------------------


async def test_create_then_get(store: Store) -> None:
    before = await store.current_revision()
    kv = await store.create("/registry/pods/default/a", b"one")
    assert kv.key == "/registry/pods/default/a"
    assert kv.value == b"one"
    assert kv.mod_revision == kv.create_revision > before
    assert await store.get("/registry/pods/default/a") == kv
    assert await store.current_revision() == kv.mod_revision


async def test_create_existing_key_fails_and_changes_nothing(store: Store) -> None:
    kv = await store.create("/k", b"one")
    with pytest.raises(AlreadyExistsError) as err:
        await store.create("/k", b"two")
    assert err.value.key == "/k"
    assert await store.get("/k") == kv
    assert await store.current_revision() == kv.mod_revision


async def test_get_missing_key_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError) as err:
        await store.get("/nope")
    assert err.value.key == "/nope"


async def test_every_write_gets_a_new_increasing_revision(store: Store) -> None:
    revisions = []
    for i in range(5):
        revisions.append((await store.create(f"/r/{i}", b"x")).mod_revision)
    kv = await store.get("/r/0")
    revisions.append(
        (await store.update("/r/0", b"y", expected_revision=kv.mod_revision)).mod_revision
    )
    revisions.append((await store.delete("/r/1")).mod_revision)
    assert revisions == sorted(revisions)
    assert len(set(revisions)) == len(revisions)
    assert revisions[-1] - revisions[0] == len(revisions) - 1


async def test_concurrent_creates_get_unique_revisions(store: Store) -> None:
    kvs = await asyncio.gather(*(store.create(f"/c/{i}", b"v") for i in range(50)))
    revisions = [kv.mod_revision for kv in kvs]
    assert len(set(revisions)) == 50
    assert max(revisions) - min(revisions) == 49


# -- update (compare-and-swap) ---------------------------------------------------


async def test_update_with_current_revision_succeeds(store: Store) -> None:
    created = await store.create("/u", b"one")
    updated = await store.update("/u", b"two", expected_revision=created.mod_revision)
    assert updated.value == b"two"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision
    assert await store.get("/u") == updated


async def test_update_with_stale_revision_conflicts_and_carries_current(store: Store) -> None:
    created = await store.create("/u", b"one")
    updated = await store.update("/u", b"two", expected_revision=created.mod_revision)
    with pytest.raises(ConflictError) as err:
        await store.update("/u", b"three", expected_revision=created.mod_revision)
    assert err.value.expected == created.mod_revision
    assert err.value.current == updated
    assert await store.get("/u") == updated


async def test_update_missing_key_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.update("/missing", b"x", expected_revision=1)


async def test_update_needs_an_expected_revision(store: Store) -> None:
    await store.create("/u", b"one")
    with pytest.raises(InvalidInputError):
        await store.update("/u", b"two", expected_revision=0)


async def test_racing_compare_and_swap_has_exactly_one_winner(store: Store) -> None:
    created = await store.create("/race", b"start")
    results = await asyncio.gather(
        *(
            store.update("/race", f"writer-{i}".encode(), expected_revision=created.mod_revision)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 19
    assert all(isinstance(r, ConflictError) for r in losers)
    assert await store.get("/race") == winners[0]


# -- delete ------------------------------------------------------------------------


async def test_delete_returns_last_value_at_delete_revision(store: Store) -> None:
    created = await store.create("/d", b"last")
    deleted = await store.delete("/d")
    assert deleted.value == b"last"
    assert deleted.create_revision == created.create_revision
    assert deleted.mod_revision > created.mod_revision
    with pytest.raises(NotFoundError):
        await store.get("/d")


async def test_delete_missing_key_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.delete("/missing")
    with pytest.raises(NotFoundError):
        await store.delete("/missing", expected_revision=5)


async def test_conditional_delete(store: Store) -> None:
    created = await store.create("/d", b"one")
    updated = await store.update("/d", b"two", expected_revision=created.mod_revision)
    with pytest.raises(ConflictError) as err:
        await store.delete("/d", expected_revision=created.mod_revision)
    assert err.value.current == updated
    deleted = await store.delete("/d", expected_revision=updated.mod_revision)
    assert deleted.value == b"two"


async def test_key_can_be_recreated_after_delete(store: Store) -> None:
    first = await store.create("/again", b"1")
    await store.delete("/again")
    second = await store.create("/again", b"2")
    assert second.create_revision > first.create_revision
    assert second.create_revision == second.mod_revision


# -- reads at a revision -----------------------------------------------------------


async def test_get_at_revision_sees_history(store: Store) -> None:
    before = await store.create("/h-before", b"x")
    one = await store.create("/h", b"one")
    two = await store.update("/h", b"two", expected_revision=one.mod_revision)
    gone = await store.delete("/h")
    assert await store.get("/h", revision=one.mod_revision) == one
    assert await store.get("/h", revision=two.mod_revision) == two
    with pytest.raises(NotFoundError):
        await store.get("/h", revision=gone.mod_revision)
    with pytest.raises(NotFoundError):
        await store.get("/h", revision=before.mod_revision)


async def test_read_ahead_of_the_store_is_future_revision(store: Store) -> None:
    kv = await store.create("/f", b"x")
    with pytest.raises(FutureRevisionError):
        await store.get("/f", revision=kv.mod_revision + 1000)
    with pytest.raises(FutureRevisionError):
        await store.list("/", revision=kv.mod_revision + 1000)


# -- list ----------------------------------------------------------------------------


async def test_list_prefix_in_key_order_and_within_prefix(store: Store) -> None:
    for key in ["/a/2", "/a/1", "/ab", "/a", "/a/3/x", "/b/1"]:
        await store.create(key, key.encode())
    result = await store.list("/a/")
    assert [kv.key for kv in result.kvs] == ["/a/1", "/a/2", "/a/3/x"]
    assert result.continue_key is None
    assert result.revision == await store.current_revision()


async def test_list_empty_prefix(store: Store) -> None:
    result = await store.list("/nothing/here/")
    assert result.kvs == ()
    assert result.continue_key is None


async def test_list_at_revision(store: Store) -> None:
    a = await store.create("/l/a", b"1")
    await store.create("/l/b", b"2")
    await store.update("/l/a", b"changed", expected_revision=a.mod_revision)
    await store.delete("/l/b")
    old = await store.list("/l/", revision=a.mod_revision)
    assert [(kv.key, kv.value) for kv in old.kvs] == [("/l/a", b"1")]
    assert old.revision == a.mod_revision
    now = await store.list("/l/")
    assert [(kv.key, kv.value) for kv in now.kvs] == [("/l/a", b"changed")]


async def test_pagination_reads_one_snapshot_while_writes_continue(store: Store) -> None:
    originals = {}
    for i in range(10):
        originals[f"/p/{i:02d}"] = await store.create(f"/p/{i:02d}", f"v{i}".encode())
    first = await store.list("/p/", limit=4)
    assert [kv.key for kv in first.kvs] == ["/p/00", "/p/01", "/p/02", "/p/03"]
    assert first.continue_key is not None
    assert first.remaining == 6
    # Writes between pages must not show in later pages of the same snapshot.
    await store.delete("/p/05")
    await store.update("/p/06", b"new", expected_revision=originals["/p/06"].mod_revision)
    await store.create("/p/045", b"inserted")
    await store.create("/p/99", b"appended")
    seen = list(first.kvs)
    token = first.continue_key
    while token:
        page = await store.list("/p/", limit=4, continue_key=token)
        assert page.revision == first.revision
        seen.extend(page.kvs)
        token = page.continue_key
    assert [kv.key for kv in seen] == sorted(originals)
    assert all(kv == originals[kv.key] for kv in seen)
    fresh = await store.list("/p/")
    assert "/p/045" in [kv.key for kv in fresh.kvs]


async def test_continue_key_from_another_prefix_is_refused(store: Store) -> None:
    for i in range(3):
        await store.create(f"/x/{i}", b"v")
    page = await store.list("/x/", limit=1)
    assert page.continue_key
    with pytest.raises(InvalidInputError):
        await store.list("/y/", continue_key=page.continue_key)
    with pytest.raises(InvalidInputError):
        await store.list("/x/", continue_key="not-a-token")


# -- compaction ----------------------------------------------------------------------


async def test_compaction_forgets_old_revisions_only(store: Store) -> None:
    one = await store.create("/cp", b"one")
    two = await store.update("/cp", b"two", expected_revision=one.mod_revision)
    three = await store.update("/cp", b"three", expected_revision=two.mod_revision)
    await store.compact(two.mod_revision)
    with pytest.raises(CompactedError):
        await store.get("/cp", revision=one.mod_revision)
    with pytest.raises(CompactedError):
        await store.list("/", revision=one.mod_revision)
    assert await store.get("/cp", revision=two.mod_revision) == two
    assert await store.get("/cp") == three


async def test_compaction_keeps_deleted_keys_deleted(store: Store) -> None:
    kv = await store.create("/gone", b"x")
    deleted = await store.delete("/gone")
    await store.create("/other", b"y")
    await store.compact(deleted.mod_revision)
    with pytest.raises(NotFoundError):
        await store.get("/gone")
    latest = await store.current_revision()
    with pytest.raises(NotFoundError):
        await store.get("/gone", revision=latest)
    assert [k.key for k in (await store.list("/")).kvs if k.key == "/gone"] == []
    assert kv.mod_revision < deleted.mod_revision


async def test_compacting_twice_or_ahead_fails(store: Store) -> None:
    kv = await store.create("/c", b"x")
    await store.update("/c", b"y", expected_revision=kv.mod_revision)
    await store.compact(kv.mod_revision + 1)
    with pytest.raises(CompactedError):
        await store.compact(kv.mod_revision)
    with pytest.raises(FutureRevisionError):
        await store.compact(kv.mod_revision + 1000)


async def test_continue_key_past_compaction_is_compacted(store: Store) -> None:
    kvs = [await store.create(f"/pc/{i}", b"v") for i in range(4)]
    page = await store.list("/pc/", limit=2)
    await store.update("/pc/3", b"w", expected_revision=kvs[3].mod_revision)
    await store.compact(await store.current_revision())
    with pytest.raises(CompactedError):
        await store.list("/pc/", limit=2, continue_key=page.continue_key)


# -- watch ---------------------------------------------------------------------------


async def test_watch_delivers_every_event_once_in_order(store: Store) -> None:
    start = await store.current_revision()
    async with store.watch("/w/", after=start) as watch:
        reader = WatchReader(watch)
        a = await store.create("/w/a", b"1")
        await store.create("/other", b"not watched")
        a2 = await store.update("/w/a", b"2", expected_revision=a.mod_revision)
        b = await store.create("/w/b", b"3")
        gone = await store.delete("/w/a")
        events = await reader.events(4)
    assert [e.kind for e in events] == [
        EventKind.CREATED,
        EventKind.UPDATED,
        EventKind.CREATED,
        EventKind.DELETED,
    ]
    assert [e.revision for e in events] == [
        a.mod_revision,
        a2.mod_revision,
        b.mod_revision,
        gone.mod_revision,
    ]
    assert events[0].kv == a and events[0].prev is None
    assert events[1].kv == a2 and events[1].prev == a
    assert events[3].kv.value == b"2" and events[3].prev == a2
    assert events[3].kv.create_revision == a.create_revision


async def test_watch_from_a_past_revision_replays_then_follows(store: Store) -> None:
    first = await store.create("/wr/1", b"1")
    second = await store.create("/wr/2", b"2")
    third = await store.create("/wr/3", b"3")
    async with store.watch("/wr/", after=first.mod_revision) as watch:
        reader = WatchReader(watch)
        fourth = await store.create("/wr/4", b"4")
        events = await reader.events(3)
    assert [e.revision for e in events] == [
        second.mod_revision,
        third.mod_revision,
        fourth.mod_revision,
    ]


async def test_watch_resumes_without_gap_or_duplicate(store: Store) -> None:
    start = await store.current_revision()
    writes = [await store.create(f"/res/{i}", b"v") for i in range(3)]
    async with store.watch("/res/", after=start) as watch:
        seen = (await WatchReader(watch).events(2, exact=False))[:2]
    more = [await store.create(f"/res/{i}", b"v") for i in range(3, 6)]
    async with store.watch("/res/", after=seen[-1].revision) as watch:
        rest = await WatchReader(watch).events(4)
    revisions = [e.revision for e in seen + rest]
    assert revisions == [kv.mod_revision for kv in writes + more]


async def test_watch_while_writes_race_the_catch_up(store: Store) -> None:
    start = await store.current_revision()
    for i in range(50):
        await store.create(f"/race/{i}", b"v")

    async def keep_writing() -> list[int]:
        return [(await store.create(f"/race/late-{i}", b"v")).mod_revision for i in range(50)]

    async with store.watch("/race/", after=start) as watch:
        reader = WatchReader(watch)
        writer = asyncio.create_task(keep_writing())
        events = await reader.events(100)
        late = await writer
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions))
    assert revisions[-50:] == late


async def test_watch_from_compacted_revision_fails_at_once(store: Store) -> None:
    one = await store.create("/wc", b"1")
    two = await store.update("/wc", b"2", expected_revision=one.mod_revision)
    three = await store.update("/wc", b"3", expected_revision=two.mod_revision)
    await store.compact(three.mod_revision)
    async with store.watch("/wc", after=one.mod_revision - 1) as watch:
        with pytest.raises(CompactedError) as err:
            await WatchReader(watch).next_batch()
    assert err.value.compacted == three.mod_revision
    # At the compacted revision itself, nothing is missing.
    async with store.watch("/wc", after=three.mod_revision) as watch:
        reader = WatchReader(watch)
        four = await store.update("/wc", b"4", expected_revision=three.mod_revision)
        assert [e.kv for e in await reader.events(1)] == [four]


async def test_watch_progress_on_request(store: Store) -> None:
    start = await store.current_revision()
    async with store.watch("/pg/", after=start) as watch:
        reader = WatchReader(watch)
        kv = await store.create("/pg/a", b"1")
        await reader.events(1)
        other = await store.create("/elsewhere", b"2")
        await watch.request_progress()
        progress = await reader.progress()
    assert progress.events == ()
    assert progress.revision >= kv.mod_revision
    assert progress.revision <= other.mod_revision


async def test_progress_requested_before_the_first_event(store: Store) -> None:
    kv = await store.create("/early/a", b"1")
    async with store.watch("/early/", after=kv.mod_revision) as watch:
        await watch.request_progress()
        progress = await WatchReader(watch).progress()
    assert progress.revision >= kv.mod_revision


async def test_watch_close_ends_iteration_quietly(store: Store) -> None:
    watch = store.watch("/q/", after=await store.current_revision())
    reader = WatchReader(watch)
    task = asyncio.create_task(reader.next_batch())
    await asyncio.sleep(0.05)
    await watch.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(task, 5)


async def test_closing_the_store_ends_watches(store: Store) -> None:
    reader = WatchReader(store.watch("/", after=await store.current_revision()))
    task = asyncio.create_task(reader.next_batch())
    await asyncio.sleep(0.05)
    await store.close()
    with pytest.raises(StoreClosedError):
        await asyncio.wait_for(task, 5)
    with pytest.raises(StoreClosedError):
        await store.get("/k")


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"/bytes-key", b"v"),
        (42, b"v"),
        ("", b"v"),
        ("/nul\x00key", b"v"),
        ("/" + "k" * 4000, b"v"),
        ("/str-value", "text"),
        ("/none-value", None),
        ("/too-big", b"x" * (MAX_VALUE_BYTES + 1)),
    ],
    ids=[
        "bytes-key",
        "int-key",
        "empty-key",
        "nul-key",
        "long-key",
        "str-value",
        "none-value",
        "value-over-1.5MiB",
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    store: Store, key: object, value: object
) -> None:
    await store.create("/bad/existing", b"v")
    before = await store.current_revision()
    with pytest.raises(InvalidInputError):
        await store.create(key, value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await store.update(key, value, expected_revision=before)  # type: ignore[arg-type]
    assert await store.current_revision() == before
    assert [kv.key for kv in (await store.list("/bad/")).kvs] == ["/bad/existing"]


async def test_value_at_the_size_limit_is_accepted(store: Store) -> None:
    kv = await store.create("/big", b"x" * MAX_VALUE_BYTES)
    assert len((await store.get("/big")).value) == MAX_VALUE_BYTES
    assert kv.mod_revision == await store.current_revision()


@pytest.mark.parametrize("revision", [-1, "3", 1.5, None])
async def test_bad_revisions_are_refused(store: Store, revision: object) -> None:
    with pytest.raises(InvalidInputError):
        await store.get("/k", revision=revision)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await store.delete("/k", expected_revision=revision)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.watch("/", after=revision)  # type: ignore[arg-type]
