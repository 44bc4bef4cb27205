"""Table rows made once per object revision and kept between LISTs (table_rows.py).

A kept row must print exactly what `table` prints for the same object at the
same moment, ages included, however much later it is rendered.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest

from kybernetes.apiserver.storage import encode
from kybernetes.apiserver.table_rows import RowCache
from kybernetes.apiserver.tables import columns_for, render_row, row_parts, table, table_json
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.store.types import KeyValue
from tests.apiserver.conftest import Cluster
from tests.apiserver.test_tables import NOW, ago, job, meta, pod

Obj = dict[str, Any]

RESTARTED = pod(statuses=[{
    "name": "web", "ready": True, "restartCount": 3, "state": {"running": {}},
    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=4)}},
}])  # fmt: skip
SUCCEEDED = pod(phase="Succeeded")
EVENT = {"apiVersion": "v1", "kind": "Event", "metadata": meta("web.1"), "type": "Normal",
         "reason": "Pulled", "message": "pulled",
         "involvedObject": {"kind": "Pod", "name": "web"}, "count": 2,
         "firstTimestamp": ago(minutes=9), "lastTimestamp": ago(seconds=30)}  # fmt: skip
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cm"), "data": {"a": "1"}}
CASES = [
    ("", "Pod", [RESTARTED, SUCCEEDED, pod()]),
    ("batch", "Job", [job(startTime=ago(minutes=2)), job()]),  # a running job's duration
    ("", "Event", [EVENT]),
    ("", "ConfigMap", [CONFIG_MAP]),
    ("example.com", "Widget", [{"metadata": meta("w")}]),  # no printer: NAME, AGE
]


def kept_table(
    group: str, kind: str, objects: list[Obj], now: datetime.datetime, include: str = "Metadata"
) -> Obj:
    columns = columns_for(group, kind)
    rows = [render_row(row_parts(o, key=(group, kind), columns=columns, include=include), now)
            for o in objects]  # fmt: skip
    return orjson.loads(table_json(group, kind, rows, list_meta={"resourceVersion": "7"}))


@pytest.mark.parametrize(("group", "kind", "objects"), CASES, ids=[c[1] for c in CASES])
def test_kept_rows_print_what_the_table_prints(group: str, kind: str, objects: list[Obj]) -> None:
    for now in (NOW, NOW + datetime.timedelta(hours=5, seconds=7)):
        for include in ("Metadata", "Object", "None"):
            expected = table(group, kind, objects, now=now, list_meta={"resourceVersion": "7"},
                             include_object=include)  # fmt: skip
            assert kept_table(group, kind, objects, now, include) == expected


def test_a_row_carries_its_object_as_include_object_asks() -> None:
    def row_object(include: str) -> Obj | None:
        row: Obj = table("", "Pod", [RESTARTED], now=NOW, include_object=include)["rows"][0]
        return row.get("object")

    assert row_object("Metadata") == {"kind": "PartialObjectMetadata",
                                      "apiVersion": "meta.k8s.io/v1",
                                      "metadata": RESTARTED["metadata"]}  # fmt: skip
    assert row_object("Object") == RESTARTED  # what kubectl --sort-by sorts on
    assert row_object("None") is None


def test_a_kept_row_ages_with_the_clock() -> None:
    parts = row_parts(RESTARTED, key=("", "Pod"), columns=columns_for("", "Pod"))
    early = orjson.loads(render_row(parts, NOW))["cells"]
    late = orjson.loads(render_row(parts, NOW + datetime.timedelta(hours=3)))["cells"]
    assert early[3:5] == ["3 (4m ago)", "20m"]
    assert late[3:5] == ["3 (3h4m ago)", "3h20m"]


def kv(obj: Obj, revision: int) -> KeyValue:
    name = obj["metadata"]["name"]
    return KeyValue(f"/registry/pods/default/{name}", encode(obj), 2, revision)


def test_the_cache_makes_a_row_once_per_revision_and_columns() -> None:
    cache, columns = RowCache(), columns_for("", "Pod")
    first = cache.row(kv(RESTARTED, 5), key=("", "Pod"), columns=columns)
    assert cache.row(kv(RESTARTED, 5), key=("", "Pod"), columns=columns) is first
    changed = cache.row(kv(SUCCEEDED, 6), key=("", "Pod"), columns=columns)
    assert changed is not first and len(cache) == 1  # the same key: the old row went
    other = list(columns_for("example.com", "Widget"))  # a CRD's columns changed
    assert cache.row(kv(SUCCEEDED, 6), key=("", "Pod"), columns=other) is not changed
    stored = sum(len(p) for p in cache.row(kv(SUCCEEDED, 6), key=("", "Pod"),
                                             columns=other) if isinstance(p, bytes))  # fmt: skip
    assert cache.size == stored


def test_the_cache_starts_afresh_past_its_budget() -> None:
    columns = columns_for("", "Pod")
    one = row_parts(pod(), key=("", "Pod"), columns=columns)
    size = sum(len(p) for p in one if isinstance(p, bytes))
    cache = RowCache(budget=int(size * 2.5))
    for i in range(3):
        obj = pod()
        obj["metadata"]["name"] = f"web-{i}"
        cache.row(kv(obj, 10 + i), key=("", "Pod"), columns=columns)
    assert len(cache) == 1 and cache.size <= cache.budget


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
CMS = resource_path("", "v1", "configmaps", "default")


async def table_rows(api: ApiClient, **query: str) -> list[Obj]:
    async with api._session.get(api.server + CMS, params=query, headers={"Accept": TABLE},
                                ssl=api._ssl) as resp:  # fmt: skip
        assert resp.status == 200
        rows: list[Obj] = orjson.loads(await resp.read())["rows"]
    # The AGE cell is rendered per request: between two requests it may tick
    # from "0s" to "1s" (the rows compared here are otherwise the same).
    for row in rows:
        assert str(row["cells"][-1]).removesuffix("s").isdigit(), row
        row["cells"][-1] = "<age>"
    return rows


async def test_a_kept_row_follows_its_object_through_the_api(cluster: Cluster) -> None:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        for name in ("a", "b"):
            await api.create(CMS, {"metadata": {"name": name, "labels": {"n": name}},
                                   "data": {"k": "1"}})  # fmt: skip
        first = await table_rows(api)
        assert [(r["object"]["metadata"]["name"], r["cells"][1]) for r in first] == [
            ("a", 1), ("b", 1)]  # fmt: skip
        await api.update(f"{CMS}/b", {**await api.get(f"{CMS}/b"), "data": {"k": "1", "j": "2"}})
        again = await table_rows(api)
        assert again[0] == first[0]  # kept: unchanged
        assert again[1]["cells"][1] == 2  # made again: its revision moved
        assert again[1]["object"]["metadata"]["resourceVersion"] != (
            first[1]["object"]["metadata"]["resourceVersion"])  # fmt: skip
        # A selected LIST (decoded to be matched) and the pages of one print the same rows.
        assert await table_rows(api, labelSelector="n=b") == again[1:]
        assert await table_rows(api, limit="1") == again[:1]
        # The whole object (kubectl --sort-by), or none, and the kept rows are unchanged.
        whole = await table_rows(api, includeObject="Object")
        assert [r["object"]["data"] for r in whole] == [{"k": "1"}, {"k": "1", "j": "2"}]
        assert [r["cells"] for r in whole] == [r["cells"] for r in again]
        assert await table_rows(api, includeObject="Object", labelSelector="n=b") == whole[1:]
        assert ["object" in r for r in await table_rows(api, includeObject="None")] == [False] * 2
        assert await table_rows(api) == again


async def test_an_unknown_include_object_is_a_bad_request(cluster: Cluster) -> None:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        async with api._session.get(api.server + CMS, params={"includeObject": "All"},
                                    headers={"Accept": TABLE}, ssl=api._ssl) as resp:  # fmt: skip
            status = orjson.loads(await resp.read())
        assert resp.status == 400 and status["reason"] == "BadRequest"
        assert '"All"' in status["message"] and '"Object"' in status["message"]
