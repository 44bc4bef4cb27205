"""The stored form of an object and the JSON a GET or LIST serves from it without parsing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.storage import SERVED_MEMO_BYTES, decode, encode, object_json
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.store import KeyValue
from tests.apiserver.conftest import Cluster

CMS = resource_path("", "v1", "configmaps", "default")


async def raw_get(api: ApiClient, path: str, accept: str) -> tuple[bytes, int]:
    """The body of a GET as sent, and the Content-Length it was announced with."""
    async with api._session.get(api.server + path, headers={"Accept": accept},
                                ssl=api._ssl) as resp:  # fmt: skip
        assert resp.status == 200
        return await resp.read(), int(resp.headers["Content-Length"])


async def raw_post(api: ApiClient, path: str, body: Obj) -> bytes:
    async with api._session.post(api.server + path, json=body, ssl=api._ssl) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.read()


def stored(value: bytes, revision: int = 42) -> KeyValue:
    return KeyValue("/registry/pods/default/web", value, revision, revision)


def pod(**meta: object) -> Obj:
    # In kubectl's order (apiVersion first), metadata after spec: encode reorders.
    return {"apiVersion": "v1", "spec": {"containers": [{"name": "c", "image": "i"}]},
            "kind": "Pod", "metadata": {"name": "web", **meta}}  # fmt: skip


def test_encode_writes_kind_apiversion_metadata_first_and_no_resource_version() -> None:
    obj = pod(resourceVersion="7", labels={"app": "web"})
    data = encode(obj)
    assert data.startswith(b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web",')
    assert b"resourceVersion" not in data
    assert obj["metadata"]["resourceVersion"] == "7"  # the caller's object is unchanged
    assert list(obj) == ["apiVersion", "spec", "kind", "metadata"]


@pytest.mark.parametrize(
    "value",
    [
        encode(pod(labels={"app": "web"})),
        b'{"kind":"Pod","apiVersion":"v1","metadata":{}}',  # empty metadata: no comma
        b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}}',  # older order
        b'{"kind":"P\\"od","apiVersion":"v1","metadata":{"name":"web"}}',  # an escape
        b'{"kind":"Pod","apiVersion":"v1","spec":{"metadata":{"name":"x"}},"metadata":{}}',
    ],
)
def test_object_json_is_the_decoded_object_with_its_resource_version(value: bytes) -> None:
    kv = stored(value)
    served = orjson.loads(object_json(kv))
    assert served == decode(kv)
    assert served["metadata"]["resourceVersion"] == "42"


def test_object_json_splices_without_parsing_when_the_head_is_ours() -> None:
    kv = stored(b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web"},"spec":{}}', 9)
    assert object_json(kv) == (
        b'{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"9","name":"web"},'
        b'"spec":{}}'
    )


async def test_a_list_serves_each_object_as_a_get_does(cluster: Cluster) -> None:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        for name in ("a", "b", "c"):
            await api.create(CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": name, "labels": {"n": name}},
                                   "data": {"k": name}})  # fmt: skip
        await api.update(f"{CMS}/b", {**await api.get(f"{CMS}/b"), "data": {"k": "B"}})
        gets = [await api.get(f"{CMS}/{name}") for name in ("a", "b", "c")]
        whole = await api.get(CMS)
        assert whole["items"] == gets
        assert (whole["kind"], whole["apiVersion"]) == ("ConfigMapList", "v1")
        first = await api.get(CMS, limit="2")
        assert first["items"] == gets[:2]
        assert first["metadata"]["remainingItemCount"] == 1
        rest = await api.get(CMS, limit="2", **{"continue": first["metadata"]["continue"]})
        assert rest["items"] == gets[2:]
        assert (await api.get(CMS, labelSelector="n=b"))["items"] == gets[1:2]


async def test_a_big_list_is_written_in_pieces_and_arrives_whole(cluster: Cluster) -> None:
    filler = "x" * 4096  # 100 of them: 400 KB, more than one piece (http.WRITE_PIECE)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        await asyncio.gather(*(api.create(CMS, {"metadata": {"name": f"cm-{i:03d}"},
                                                "data": {"k": filler}})
                               for i in range(100)))  # fmt: skip
        for accept in ("application/json", "application/json;as=Table;v=v1;g=meta.k8s.io"):
            data, length = await raw_get(api, CMS, accept)
            assert length == len(data)
            got = orjson.loads(data)
            assert len(got.get("items") or got.get("rows")) == 100


async def test_a_create_answers_what_a_get_of_the_object_then_serves(cluster: Cluster) -> None:
    events = resource_path("events.k8s.io", "v1", "events", "default")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"},
                      "data": {"k": "v"}}  # fmt: skip
        created = await raw_post(api, CMS, config_map)
        got, _ = await raw_get(api, f"{CMS}/one", "application/json")
        assert created == got  # byte for byte: the stored JSON, resourceVersion spliced in
        # A kind stored as another version's (core Events) answers in the version asked.
        event = await raw_post(api, events, {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "eventTime": "2026-12-01T10:00:00.000000Z", "reportingController": "test",
            "reportingInstance": "test-1", "action": "Test", "reason": "Tested",
            "regarding": {"kind": "ConfigMap", "namespace": "default", "name": "one"},
            "type": "Normal"})  # fmt: skip
        answered = orjson.loads(event)
        assert answered["apiVersion"] == "events.k8s.io/v1"
        assert answered == await api.get(f"{events}/e")


async def test_an_update_answers_what_a_get_of_the_object_then_serves(cluster: Cluster) -> None:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        created = await api.create(CMS, {"metadata": {"name": "two"}, "data": {"k": "v"}})
        changed = {**created, "data": {"k": "w"}, "metadata": {**created["metadata"],
                                                               "labels": {"a": "b"}}}  # fmt: skip
        updated = await api.update(f"{CMS}/two", changed)
        assert updated == await api.get(f"{CMS}/two")
        assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
        assert (updated["data"], updated["metadata"]["labels"]) == ({"k": "w"}, {"a": "b"})


async def test_a_get_is_spliced_once_per_version_of_a_small_object(cluster: Cluster) -> None:
    storage, registry = cluster.api.rest.storage, cluster.api.rest.registry
    config_maps = registry.lookup("", "v1", "configmaps")
    assert config_maps is not None
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        created = await api.create(CMS, {"metadata": {"name": "small"}, "data": {"k": "v"}})
        first = await storage.get_encoded(config_maps, "default", "small")
        assert await storage.get_encoded(config_maps, "default", "small") is first
        await api.update(f"{CMS}/small", {**created, "data": {"k": "w"}})
        second = await storage.get_encoded(config_maps, "default", "small")
        assert orjson.loads(second)["data"] == {"k": "w"}  # a new version, spliced anew
        assert orjson.loads(second) == await api.get(f"{CMS}/small")

        big = "x" * SERVED_MEMO_BYTES  # not kept: memory holds the store's copy already
        await api.create(CMS, {"metadata": {"name": "big"}, "data": {"k": big}})
        first = await storage.get_encoded(config_maps, "default", "big")
        again = await storage.get_encoded(config_maps, "default", "big")
        assert again == first and again is not first
