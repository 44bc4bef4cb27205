"""Fixtures that open every store backend the same way.

`store` is parametrized over the backends (and the remote store serving
SQLite), so every test that takes it is part of the conformance suite. The
etcd runs go to a real etcd server that this fixture starts on loopback
(one per test session); each test gets its own key prefix there, and
compares revisions only relative to the ones it saw, since other tests share
the server's revision counter.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kybernetes.store import Store, open_store
from kybernetes.store.cache import CachingStore
from kybernetes.store.remote.server import listening_url, serve_store
from kybernetes.store.sqlite.backend import SqliteStore
from tests.support.etcd import EtcdServer, running_etcd

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("etcd", id="etcd", marks=pytest.mark.etcd),
    pytest.param("remote", id="remote"),
    pytest.param("cached", id="cached"),
    pytest.param("cached-etcd", id="cached-etcd", marks=pytest.mark.etcd),
    pytest.param("follower", id="follower"),
    pytest.param("cached-follower", id="cached-follower"),
]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    with running_etcd() as server:
        yield server


def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: object) -> str:
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/state.db?compact_interval=0"
    server: EtcdServer = request.getfixturevalue("etcd_server")
    return f"etcd://127.0.0.1:{server.client_port}/test-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def following(leader: SqliteStore) -> AsyncIterator[SqliteStore]:
    """What a second API process opens (`--api-processes`), here in this process."""
    link, board_fd = leader.add_follower()
    # The board's descriptor is the leader's: the follower closes a copy.
    follower = await SqliteStore.follow(leader.path, link=link, board_fd=os.dup(board_fd),
                                        on_lost=lambda _: None)  # fmt: skip
    try:
        yield follower
    finally:
        await follower.close()


@contextlib.asynccontextmanager
async def opened_backend(
    backend: str, request: pytest.FixtureRequest, tmp_path: object
) -> AsyncIterator[Store]:
    if backend != "follower":
        async with await open_store(store_url(backend, request, tmp_path)) as opened:
            yield opened
        return
    # Writes from another process of the server: the leader stays idle here.
    leader = await SqliteStore.open(f"{tmp_path}/state.db", compact_interval=0)
    try:
        async with following(leader) as follower:
            yield follower
    finally:
        await leader.close()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Store]:
    if request.param.startswith("cached"):
        # The watch cache the API server puts in front of its store.
        inner = request.param.removeprefix("cached-") if "-" in request.param else "sqlite"
        async with opened_backend(inner, request, tmp_path) as backend:
            cached = CachingStore(backend, ["/"])
            await cached.wait_ready()  # so the tests go through the cache, not around it
            try:
                yield cached
            finally:
                await cached.close()
        return
    if request.param == "remote":
        # A SQLite store served over HTTP in this process, used through kyb://.
        served = await open_store(store_url("sqlite", request, tmp_path))
        runner = await serve_store(served, "127.0.0.1", 0)
        url = listening_url(runner).replace("http://", "kyb://")
        try:
            async with await open_store(url) as opened:
                yield opened
        finally:
            await runner.cleanup()
        return
    async with opened_backend(request.param, request, tmp_path) as opened:
        yield opened
