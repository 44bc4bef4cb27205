"""Informers against the real API server: list, watch, indexes, relist after 410."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.informer import Informer, key_of, namespace_index
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.apiserver.conftest import Cluster

CMS = resource_path("", "v1", "configmaps", "default")
ALL_CMS = resource_path("", "v1", "configmaps")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


def cm(name: str, value: str = "1", namespace: str = "default") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": {"v": value}}


async def until(condition: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_client_crud_and_status_errors(client: ApiClient) -> None:
    made = await client.create(CMS, cm("a"))
    assert made["metadata"]["uid"]
    assert (await client.get(f"{CMS}/a"))["data"] == {"v": "1"}
    await client.patch(f"{CMS}/a", {"data": {"v": "2"}})
    with pytest.raises(ApiStatusError) as err:
        await client.create(CMS, cm("a"))
    assert err.value.code == 409 and err.value.reason == "AlreadyExists"
    await client.delete(f"{CMS}/a")
    with pytest.raises(ApiStatusError) as err:
        await client.get(f"{CMS}/a")
    assert err.value.code == 404


async def test_informer_sees_existing_then_every_change(client: ApiClient) -> None:
    await client.create(CMS, cm("before"))
    informer = Informer(client, ALL_CMS)
    seen: list[tuple[str, str]] = []
    informer.on_add(lambda o: seen.append(("add", key_of(o))))
    informer.on_update(lambda old, new: seen.append(("update", key_of(new))))
    informer.on_delete(lambda o: seen.append(("delete", key_of(o))))
    informer.add_index("namespace", namespace_index)
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        assert ("add", "default/before") in seen
        await client.create(CMS, cm("during"))
        await client.patch(f"{CMS}/during", {"data": {"v": "2"}})
        await client.delete(f"{CMS}/before")
        await until(lambda: ("delete", "default/before") in seen)
        assert ("add", "default/during") in seen and ("update", "default/during") in seen
        assert [key_of(o) for o in informer.by_index("namespace", "default")] == ["default/during"]
        assert informer.get("default/during")["data"] == {"v": "2"}  # type: ignore[index]
    finally:
        await informer.stop()


async def test_informer_relists_after_its_revision_is_compacted(
    cluster: Cluster, client: ApiClient
) -> None:
    informer = Informer(client, ALL_CMS, watch_timeout=1)
    deleted: list[str] = []
    informer.on_delete(lambda o: deleted.append(key_of(o)))
    await client.create(CMS, cm("old"))
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        old_rv = informer.resource_version
        store = cluster.api.rest.storage.store
        # Changes the informer's next watch will not be able to replay:
        await client.delete(f"{CMS}/old")
        await client.create(CMS, cm("new"))
        await store.compact(await store.current_revision())
        await until(lambda: informer.get("default/new") is not None, timeout=15)
        assert informer.get("default/old") is None
        assert deleted == ["default/old"]
        assert int(informer.resource_version) > int(old_rv)
    finally:
        await informer.stop()
