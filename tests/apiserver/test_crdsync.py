"""A CRD stored through one API process is served by another the moment a
client asks (crdsync.py): here both servers run in this process on one
store (the second as `--api-processes` opens it), each on its own port so
the test can choose which one answers, and the second's background follower
is stopped, so only the request path can have brought the CRD in."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.rest import DeleteOptions
from kybernetes.apiserver.server import ApiServer, start_apiserver
from kybernetes.store.sqlite.backend import SqliteStore
from tests.apiserver.test_crash import client_context
from tests.store.conftest import following


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            }}],
        },
    }  # fmt: skip


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, ApiServer, ssl.SSLContext]]:
    pki = ClusterPKI.load_or_create(tmp_path / "pki", hostnames=[], ips=["127.0.0.1"])
    leader = await SqliteStore.open(str(tmp_path / "state.db"), compact_interval=0)
    try:
        async with following(leader) as follower:
            first = await start_apiserver(store=leader, pki=pki, host="127.0.0.1", port=0,
                                          shared=True)  # fmt: skip
            second = await start_apiserver(store=follower, pki=pki, host="127.0.0.1", port=0,
                                           shared=True, primary=False)  # fmt: skip
            try:
                assert second.crd_sync is not None
                await second.crd_sync.stop()
                yield first, second, client_context(tmp_path)
            finally:
                await second.stop()
                await first.stop()
    finally:
        await leader.close()


async def test_the_other_process_serves_a_new_crd_on_the_first_request(
    pair: tuple[ApiServer, ApiServer, ssl.SSLContext],
) -> None:
    first, second, context = pair
    crds = first.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    async with aiohttp.ClientSession() as session:

        async def ask(method: str, path: str, body: Any = None) -> int:
            async with session.request(method, second.url + path, json=body,
                                       ssl=context) as resp:  # fmt: skip
                return resp.status

        # Discovery first, as kubectl does.
        await first.rest.create(crds, "", _crd("a.example.com"), dry_run=False)
        assert await ask("GET", "/apis/a.example.com/v1") == 200
        # A custom object straight away: the resource is unknown until synced.
        await first.rest.create(crds, "", _crd("b.example.com"), dry_run=False)
        gadget = {"apiVersion": "b.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
        path = "/apis/b.example.com/v1/namespaces/default/gadgets"
        assert await ask("POST", path, gadget) == 201
        # Deleted through the first process: gone from the second's discovery.
        await first.rest.delete(crds, "", "gadgets.a.example.com", DeleteOptions())
        assert await ask("GET", "/apis/a.example.com/v1") == 404
