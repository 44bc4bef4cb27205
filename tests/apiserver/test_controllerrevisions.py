"""apps/v1 ControllerRevisions through the real kubectl: CRUD, table, immutable data."""

from __future__ import annotations

import json

from tests.apiserver.conftest import Cluster

REVISION = {
    "apiVersion": "apps/v1",
    "kind": "ControllerRevision",
    "metadata": {"name": "web-abc", "labels": {"app": "web"}},
    "data": {"spec": {"template": {"$patch": "replace"}}},
    "revision": 1,
}


async def test_controllerrevision_lifecycle(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(REVISION))
    header, row = (await cluster.kubectl("get", "controllerrevisions")).splitlines()
    assert header.split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert row.split()[:3] == ["web-abc", "<none>", "1"]
    # The revision number moves on; the data never changes.
    await cluster.kubectl("patch", "controllerrevision", "web-abc", "--type=merge",
                          "-p", '{"revision": 3}')  # fmt: skip
    got = json.loads(await cluster.kubectl("get", "controllerrevision", "web-abc", "-o", "json"))
    assert got["revision"] == 3
    out = await cluster.kubectl("patch", "controllerrevision", "web-abc", "--type=merge",
                                "-p", '{"data": {"x": 1}}', check=False)  # fmt: skip
    assert "data: Invalid value: field is immutable" in out
    bad = {**REVISION, "metadata": {"name": "neg"}, "revision": -1}
    out = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(bad), check=False)
    assert "revision: Invalid value: -1: must be greater than or equal to 0" in out
    await cluster.kubectl("delete", "controllerrevisions", "-l", "app=web")
    assert "web-abc" not in await cluster.kubectl("get", "controllerrevisions")


async def test_controller_column_names_kind_and_group(cluster: Cluster) -> None:
    owned = {**REVISION, "metadata": {"name": "fluentd-x", "ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd",
        "uid": "0b5c5c8e-0000-4000-8000-000000000001", "controller": True}]}}  # fmt: skip
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps(owned))
    row = (await cluster.kubectl("get", "controllerrevision", "fluentd-x")).splitlines()[1]
    assert row.split()[:3] == ["fluentd-x", "daemonset.apps/fluentd", "1"]
