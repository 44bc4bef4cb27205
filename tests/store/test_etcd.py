"""What only the etcd backend promises: fail-over, TLS, and watches that
survive a broken stream. Each test runs its own etcd server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.store import open_store
from tests.store.watching import WatchReader
from tests.support.certs import make_pki
from tests.support.etcd import EtcdServer, free_port, running_etcd

pytestmark = pytest.mark.etcd


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    with running_etcd() as server:
        yield server


async def test_fails_over_to_the_next_endpoint(own_etcd: EtcdServer) -> None:
    dead = f"127.0.0.1:{free_port()}"
    store = await open_store(f"etcd://{dead},127.0.0.1:{own_etcd.client_port}/fo")
    try:
        kv = await store.create("/k", b"v")
        assert await store.get("/k") == kv
    finally:
        await store.close()


async def test_no_endpoint_reachable_is_a_clear_error() -> None:
    from kybernetes.store import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="no etcd endpoint reachable"):
        await open_store(f"etcd://127.0.0.1:{free_port()}")


async def test_watch_resumes_after_etcd_restarts(own_etcd: EtcdServer) -> None:
    store = await open_store(f"etcd://127.0.0.1:{own_etcd.client_port}/restart")
    try:
        start = await store.current_revision()
        reader = WatchReader(store.watch("/w/", after=start))
        first = await store.create("/w/1", b"1")
        assert [e.kv for e in await reader.events(1)] == [first]
        # In a thread, so the loop sees the old connections close, as it would
        # in real life.
        await asyncio.to_thread(own_etcd.stop)
        await asyncio.to_thread(own_etcd.start)
        second = await store.create("/w/2", b"2")
        third = await store.create("/w/3", b"3")
        events = await reader.events(2, timeout=20)
        assert [e.kv for e in events] == [second, third]
        await reader.watch.close()
    finally:
        await store.close()


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    server = EtcdServer(str(tmp_path), tls=pki)
    server.start()
    try:
        url = (
            f"etcd+https://127.0.0.1:{server.client_port}/tls"
            f"?cacert={pki.ca}&cert={pki.client_cert}&key={pki.client_key}"
        )
        store = await open_store(url)
        try:
            kv = await store.create("/secure", b"v")
            reader = WatchReader(store.watch("/", after=kv.mod_revision - 1))
            assert [e.kv for e in await reader.events(1)] == [kv]
            await reader.watch.close()
        finally:
            await store.close()
        from kybernetes.store import StoreUnavailableError

        without_cert = f"etcd+https://127.0.0.1:{server.client_port}/tls?cacert={pki.ca}"
        with pytest.raises(StoreUnavailableError):
            await open_store(without_cert)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("version", "reliable"),
    [("3.4.23", False), ("3.4.31", True), ("3.5.12", False), ("3.5.13", True), ("3.6.0", True),
     ("", False)],
)  # fmt: skip
def test_progress_reliability_by_etcd_version(version: str, reliable: bool) -> None:
    from kybernetes.store.etcd.backend import progress_is_reliable

    assert progress_is_reliable(version) is reliable


async def test_debian_etcd_is_flagged_for_unreliable_progress(own_etcd: EtcdServer) -> None:
    store = await open_store(f"etcd://127.0.0.1:{own_etcd.client_port}")
    try:
        assert store.reliable_progress is False  # Debian bookworm ships 3.4.23
    finally:
        await store.close()


async def test_concurrent_reads_of_the_revision_share_requests(own_etcd: EtcdServer) -> None:
    """Every cached GET and LIST asks etcd for its revision first; 50 at once
    are a few requests, and none answers with a revision older than a write
    acknowledged before it asked."""
    from kybernetes.store.etcd.backend import EtcdStore

    store = await open_store(f"etcd://127.0.0.1:{own_etcd.client_port}/shared")
    try:
        assert isinstance(store, EtcdStore)
        before = store._revision.reads
        written = await store.create("/k", b"v")
        revisions = await asyncio.gather(*(store.current_revision() for _ in range(50)))
        assert min(revisions) >= written.mod_revision
        assert store._revision.reads - before <= 2
    finally:
        await store.close()


async def test_progress_requests_not_sent_yet_are_one(own_etcd: EtcdServer) -> None:
    """A cached read that lags asks its watch for progress; many at once send
    one request (each caller asked before it went out), and it is answered."""
    store = await open_store(f"etcd://127.0.0.1:{own_etcd.client_port}/progress")
    try:
        written = await store.create("/other/k", b"v")  # moves the revision, not /w/
        watch = store.watch("/w/", after=0)
        await asyncio.gather(*(watch.request_progress() for _ in range(20)))
        assert watch._requests.qsize() == 1  # type: ignore[attr-defined]
        batches = aiter(watch)
        batch = await asyncio.wait_for(anext(batches), 10)
        assert batch.is_progress and batch.revision >= written.mod_revision
        await watch.request_progress()  # the first went out: this one is queued anew
        batch = await asyncio.wait_for(anext(batches), 10)
        assert batch.is_progress
        await watch.close()
    finally:
        await store.close()
