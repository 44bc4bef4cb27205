"""The remote store: a SqliteStore served in-process, used through RemoteStore.

The server runs on 127.0.0.1 with a port the OS picks; the last test runs it
as its own process and SIGKILLs it, which is what crash tests rely on.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web

from kybernetes.store import open_store
from kybernetes.store.remote import protocol
from kybernetes.store.remote.client import RemoteStore
from kybernetes.store.remote.server import listening_url, serve_store
from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.types import (
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    Event,
    EventKind,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    NotFoundError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    Watch,
    WatchBatch,
    WatchDroppedError,
)
from tests.support.etcd import free_port

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 10.0


class Served:
    """A SqliteStore behind an in-process server, and a RemoteStore on it."""

    def __init__(self, backend: SqliteStore, runner: web.AppRunner, remote: RemoteStore) -> None:
        self.backend = backend
        self.runner = runner
        self.remote = remote
        self.url = remote.base_url


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    backend = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    runner = await serve_store(backend, host="127.0.0.1", port=0)
    remote = await RemoteStore.open(listening_url(runner))
    yield Served(backend, runner, remote)
    await remote.close()
    await runner.cleanup()


async def next_batch(watch: AsyncIterator[WatchBatch]) -> WatchBatch:
    return await asyncio.wait_for(anext(watch), DEADLINE)


# -- round trips -------------------------------------------------------------


async def test_every_method_round_trips(served: Served) -> None:
    store = served.remote
    start = await store.current_revision()
    a = await store.create("/r/a", b"\x00\xffone")
    assert a == KeyValue("/r/a", b"\x00\xffone", start + 1, start + 1)
    assert await store.get("/r/a") == a
    b = await store.create("/r/b", b"")
    a2 = await store.update("/r/a", b"two", expected_revision=a.mod_revision)
    assert a2 == KeyValue("/r/a", b"two", a.create_revision, b.mod_revision + 1)
    assert await store.get("/r/a", revision=a.mod_revision) == a

    page = await store.list("/r/", limit=1)
    assert page.kvs == (a2,) and page.remaining == 1 and page.continue_key
    rest = await store.list("/r/", continue_key=page.continue_key)
    assert rest.kvs == (b,) and rest.continue_key is None
    assert rest.revision == page.revision == a2.mod_revision
    assert (await store.list("/r/", revision=a.mod_revision)).kvs == (a,)

    gone = await store.delete("/r/b", expected_revision=b.mod_revision)
    assert gone == KeyValue("/r/b", b"", b.create_revision, a2.mod_revision + 1)
    assert await store.current_revision() == gone.mod_revision
    await store.compact(gone.mod_revision)
    assert await served.backend.get("/r/a") == a2


async def test_kyb_url_opens_a_remote_store(served: Served) -> None:
    await served.backend.create("/k", b"v")
    store = await open_store(served.url.replace("http://", "kyb://"))
    try:
        assert isinstance(store, RemoteStore)
        assert (await store.get("/k")).value == b"v"
    finally:
        await store.close()


async def test_a_hundred_concurrent_writers(served: Served) -> None:
    kvs = await asyncio.gather(*(served.remote.create(f"/w/{i}", b"x") for i in range(100)))
    assert len({kv.mod_revision for kv in kvs}) == 100


async def test_a_value_at_the_size_limit_round_trips(served: Served) -> None:
    from kybernetes.store.types import MAX_VALUE_BYTES

    big = os.urandom(MAX_VALUE_BYTES)
    kv = await served.remote.create("/big", big)
    assert (await served.remote.get("/big")).value == big
    with pytest.raises(InvalidInputError):
        await served.remote.update("/big", big + b"x", expected_revision=kv.mod_revision)


# -- errors ------------------------------------------------------------------


async def test_named_errors_come_back_with_their_fields(served: Served) -> None:
    store = served.remote
    with pytest.raises(NotFoundError) as not_found:
        await store.get("/missing")
    assert not_found.value.key == "/missing"

    await store.create("/e0", b"0")  # so that mod_revision - 1 is a real revision
    kv = await store.create("/e", b"1")
    with pytest.raises(AlreadyExistsError) as exists:
        await store.create("/e", b"2")
    assert exists.value.key == "/e" and exists.value.current == kv

    with pytest.raises(ConflictError) as conflict:
        await store.update("/e", b"3", expected_revision=kv.mod_revision - 1)
    assert (conflict.value.key, conflict.value.expected) == ("/e", kv.mod_revision - 1)
    assert conflict.value.current == kv

    with pytest.raises(NotFoundError):
        await store.delete("/missing")

    current = await store.current_revision()
    with pytest.raises(FutureRevisionError) as future:
        await store.get("/e", revision=current + 5)
    assert (future.value.requested, future.value.current) == (current + 5, current)

    newer = await store.update("/e", b"4", expected_revision=kv.mod_revision)
    await store.compact(newer.mod_revision)
    with pytest.raises(CompactedError) as compacted:
        await store.get("/e", revision=kv.mod_revision)
    assert (compacted.value.requested, compacted.value.compacted) == (
        kv.mod_revision,
        newer.mod_revision,
    )

    # Checked by the backend behind the server, not by the client.
    with pytest.raises(InvalidInputError, match="expected_revision"):
        await store.update("/e", b"5", expected_revision=0)

    await served.backend.close()
    with pytest.raises(StoreClosedError):
        await store.get("/e")


ERRORS: list[StoreError] = [
    NotFoundError("/a"),
    AlreadyExistsError("/a", KeyValue("/a", b"v", 1, 2)),
    AlreadyExistsError("/a"),
    ConflictError("/a", 3, KeyValue("/a", b"\x00", 1, 4)),
    ConflictError("/a", 3, None),
    CompactedError(5, 7),
    FutureRevisionError(9, 8),
    InvalidInputError("bad key"),
    WatchDroppedError("/p/", 11),
    StoreClosedError(),
    StoreUnavailableError("gone"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_encode_and_decode_to_the_same_error(error: StoreError) -> None:
    wire = orjson.loads(orjson.dumps(protocol.error_to_json(error)))
    back = protocol.error_from_json(protocol.Fields(wire, "reply"))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)


def test_an_unknown_error_name_means_unavailable() -> None:
    wire = {"error": "QuotaError", "message": "too much"}
    back = protocol.error_from_json(protocol.Fields(wire, "reply"))
    assert isinstance(back, StoreUnavailableError) and "QuotaError" in str(back)


MALFORMED = [
    ("get", b"not json"),
    ("get", b"[1, 2]"),
    ("get", b'{"key": 5}'),
    ("get", b'{"key": "/a", "revision": "1"}'),
    ("get", b'{"key": "/a", "revision": true}'),
    ("get", b'{"key": "/a", "revision": 1e30}'),
    ("get", b'{"key": "/a", "revision": 18446744073709551615}'),
    ("get", b'{"key": "/a", "extra": 1}'),
    ("get", b"{}"),
    ("get", b'{"key": ""}'),
    ("list", b'{"prefix": "/", "continue_key": 5}'),
    ("list", b'{"prefix": "/", "continue_key": "!!"}'),
    ("list", b'{"prefix": "/", "limit": -1}'),
    ("create", b'{"key": "/a", "value": "not base64!"}'),
    ("create", b'{"key": "/a", "value": "\xc3\xa9"}'),
    ("create", b'{"key": "/a", "value": null}'),
    ("update", b'{"key": "/a", "value": "", "expected_revision": 0}'),
    ("delete", b'{"key": "/a", "expected_revision": -1}'),
    ("compact", b'{"revision": {}}'),
]


@pytest.mark.parametrize(("op", "body"), MALFORMED)
async def test_malformed_bodies_are_invalid_input(served: Served, op: str, body: bytes) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/v1/{op}", data=body) as resp,
    ):
        assert resp.status == 400
        reply = protocol.Fields(orjson.loads(await resp.read()), "reply")
    assert isinstance(protocol.error_from_json(reply), InvalidInputError)


async def test_an_oversized_body_is_invalid_input(served: Served) -> None:
    body = b'{"key": "/a", "value": "' + b"A" * (3 * 1024 * 1024) + b'"}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/v1/create", data=io.BytesIO(body)) as resp,
    ):
        assert resp.status == 400
        reply = protocol.Fields(orjson.loads(await resp.read()), "reply")
    assert isinstance(protocol.error_from_json(reply), InvalidInputError)


async def test_a_backend_bug_is_reported_as_unavailable(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(key: str, *, revision: int = 0) -> KeyValue:
        raise RuntimeError("bug")

    monkeypatch.setattr(served.backend, "get", broken)
    with pytest.raises(StoreUnavailableError, match="outcome of a write is unknown"):
        await served.remote.get("/a")
    assert await served.remote.current_revision() == 0  # and the server carries on


@pytest.mark.parametrize(
    "query", ["after=x", "prefix=/a", "after=1&bogus=2", "after=-1", "after=1e3", f"after={2**64}"]
)
async def test_malformed_watch_requests_are_invalid_input(served: Served, query: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{served.url}/v1/watch?{query}") as ws,
    ):
        message = await ws.receive_bytes(timeout=DEADLINE)
    error = protocol.error_from_json(protocol.Fields(orjson.loads(message), "message"))
    assert isinstance(error, InvalidInputError)


async def test_a_watch_refuses_anything_but_progress_requests(served: Served) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{served.url}/v1/watch?after=0") as ws,
    ):
        await ws.send_str('{"progress": "yes please"}')
        message = await ws.receive_bytes(timeout=DEADLINE)
        closing = await ws.receive(timeout=DEADLINE)
    error = protocol.error_from_json(protocol.Fields(orjson.loads(message), "message"))
    assert isinstance(error, InvalidInputError)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_bad_arguments_fail_before_anything_is_sent(served: Served) -> None:
    with pytest.raises(InvalidInputError):
        await served.remote.create("/a", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await served.remote.get(b"/a")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await served.remote.get("/a", revision=2**70)
    with pytest.raises(InvalidInputError):
        served.remote.watch("/a", after=-1)


# -- watches -----------------------------------------------------------------


async def test_a_watch_gets_events_then_progress_on_request(served: Served) -> None:
    store = served.remote
    first = await store.create("/w/a", b"1")
    async with store.watch("/w/", after=first.mod_revision - 1) as watch:
        batches = aiter(watch)
        second = await store.update("/w/a", b"2", expected_revision=first.mod_revision)
        await store.create("/other", b"x")
        third = await store.delete("/w/a")
        events: list[Event] = []
        while len(events) < 3:
            events.extend((await next_batch(batches)).events)
        assert [e.kind for e in events] == [EventKind.CREATED, EventKind.UPDATED, EventKind.DELETED]
        assert events[0].kv == first and events[0].prev is None
        assert events[1].kv == second and events[1].prev == first
        assert events[2].kv == KeyValue("/w/a", b"2", first.create_revision, third.mod_revision)
        assert events[2].prev == second

        for _ in range(2):
            await watch.request_progress()
            progress = await next_batch(batches)
            assert progress.is_progress
            assert progress.revision == await store.current_revision()


async def test_a_progress_request_before_the_watch_connects_is_kept(served: Served) -> None:
    current = (await served.remote.create("/p/a", b"1")).mod_revision
    async with served.remote.watch("/p/", after=current) as watch:
        await watch.request_progress()
        progress = await next_batch(aiter(watch))
    assert progress.is_progress and progress.revision == current


async def test_a_watch_from_a_compacted_revision_fails_at_once(served: Served) -> None:
    store = served.remote
    for i in range(3):
        await store.create(f"/c/{i}", b"x")
    current = await store.current_revision()
    await store.compact(current)
    watch = store.watch("/c/", after=1)
    with pytest.raises(CompactedError) as err:
        await next_batch(aiter(watch))
    assert (err.value.requested, err.value.compacted) == (1, current)


async def test_a_dropped_watch_carries_its_resume_revision(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Dropped(Watch):
        prefix = "/d/"

        async def _batches(self) -> AsyncIterator[WatchBatch]:
            raise WatchDroppedError("/d/", 42)
            yield  # an async generator that never yields

        def __aiter__(self) -> AsyncIterator[WatchBatch]:
            return self._batches()

        async def request_progress(self) -> None:
            pass

        async def close(self) -> None:
            pass

    monkeypatch.setattr(served.backend, "watch", lambda prefix, *, after: Dropped())
    with pytest.raises(WatchDroppedError) as err:
        await next_batch(aiter(served.remote.watch("/d/", after=0)))
    assert (err.value.prefix, err.value.last_revision) == ("/d/", 42)


async def test_a_watcher_that_stops_reading_is_dropped_and_resumes(tmp_path: Path) -> None:
    # Backpressure reaches the store: socket buffers fill, the server stops
    # taking batches, and the fan-out drops the watch instead of waiting.
    backend = await SqliteStore.open(str(tmp_path / "db"), compact_interval=0, max_watch_buffer=10)
    runner = await serve_store(backend)
    store = await RemoteStore.open(listening_url(runner))
    try:
        batches = aiter(store.watch("/x/", after=0))
        first = asyncio.ensure_future(anext(batches))
        await wait_for(lambda: backend._fanout.subscriber_count == 1)
        for i in range(300):  # 30 MB, more than loopback buffers hold
            await store.create(f"/x/{i:03}", os.urandom(100_000))
        revisions = [e.revision for e in (await first).events]
        with pytest.raises(WatchDroppedError) as dropped:
            async for batch in batches:
                revisions.extend(e.revision for e in batch.events)
        assert dropped.value.last_revision == revisions[-1] < 300

        async with store.watch("/x/", after=dropped.value.last_revision) as again:
            async for batch in again:
                revisions.extend(e.revision for e in batch.events)
                if revisions[-1] == 300:
                    break
        assert revisions == list(range(1, 301))
    finally:
        await store.close()
        await runner.cleanup()


async def test_closing_a_watch_ends_it_quietly_and_frees_the_server(served: Served) -> None:
    watch = served.remote.watch("/q/", after=0)
    batches = aiter(watch)
    pending = asyncio.ensure_future(anext(batches, None))
    await wait_for(lambda: served.backend._fanout.subscriber_count == 1)
    await watch.close()
    assert await asyncio.wait_for(pending, DEADLINE) is None
    await wait_for(lambda: served.backend._fanout.subscriber_count == 0)


async def test_closing_the_store_ends_its_watches_with_store_closed(served: Served) -> None:
    watch = served.remote.watch("/q/", after=0)
    pending = asyncio.ensure_future(anext(aiter(watch)))
    await wait_for(lambda: served.backend._fanout.subscriber_count == 1)
    await served.remote.close()
    with pytest.raises(StoreClosedError):
        await asyncio.wait_for(pending, DEADLINE)
    with pytest.raises(StoreClosedError):
        await served.remote.get("/q/a")


async def test_prefixes_with_url_characters_survive_the_query_string(served: Served) -> None:
    prefix = "/odd/a+b&c=%2F é?#/"
    watch = served.remote.watch(prefix, after=0)
    batches = aiter(watch)
    await served.remote.create(prefix + "k", b"v")
    await served.remote.create("/odd/a b", b"v")
    batch = await next_batch(batches)
    assert [e.kv.key for e in batch.events] == [prefix + "k"]
    await watch.close()


# -- losing the server -------------------------------------------------------


async def test_a_stopped_server_makes_calls_unavailable(served: Served) -> None:
    await served.remote.create("/s", b"1")
    watch = served.remote.watch("/s", after=0)
    batches = aiter(watch)
    assert (await next_batch(batches)).events[0].kv.key == "/s"

    await served.runner.cleanup()
    with pytest.raises(StoreUnavailableError, match="watch again"):
        await next_batch(batches)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        await served.remote.get("/s")
    with pytest.raises(StoreUnavailableError):
        await served.remote.create("/s2", b"1")
    with pytest.raises(StoreUnavailableError):
        await next_batch(aiter(served.remote.watch("/s", after=0)))
    with pytest.raises(StoreUnavailableError):
        await RemoteStore.open(served.url)


async def test_server_process_survives_sigkill_with_its_writes(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "state.db"
    server = await start_server(db, port)
    store = await RemoteStore.open(f"http://127.0.0.1:{port}")
    try:
        kv = await store.create("/crash/a", b"kept")
        watch = store.watch("/crash/", after=0)
        batches = aiter(watch)
        assert (await next_batch(batches)).events[0].kv == kv

        server.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.wait(), DEADLINE) == -signal.SIGKILL
        with pytest.raises(StoreUnavailableError):
            await next_batch(batches)
        with pytest.raises(StoreUnavailableError):
            await store.get("/crash/a")

        server = await start_server(db, port)
        # The same client carries on: nothing in it was tied to the old process.
        assert await store.get("/crash/a") == kv
        await store.create("/crash/b", b"after")
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), DEADLINE) == 0
    finally:
        await store.close()
        if server.returncode is None:
            server.kill()
            await server.wait()


async def start_server(db: Path, port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kybernetes.store.remote.server",
        "--store-url",
        f"sqlite://{db}",
        "--listen",
        f"127.0.0.1:{port}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    assert line.decode().strip() == f"listening on http://127.0.0.1:{port}"
    return process


async def wait_for(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds, failing after DEADLINE seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        if condition():
            return
        assert loop.time() < deadline, "condition did not hold in time"
        await asyncio.sleep(0.01)
