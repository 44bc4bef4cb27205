"""`kubectl diff` of what is already there shows nothing and exits 0, as on any
cluster: CI pipelines gate deploys on its exit code.

Two things made it differ before: an empty `annotations: {}` (what kubectl's
client-side apply patch sends for an object kubectl apply never wrote) was
stored, where kube-apiserver keeps no empty map in ObjectMeta; and a Service
read `status: {}` but came back from a server-side dry run with
`status: {loadBalancer: {}}`, the Go struct every Service has.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.apiserver.conftest import Cluster

MANIFESTS = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
     "data": {"a": "b"}},
]  # fmt: skip


async def diff(cluster: Cluster, path: Path, *flags: str) -> str:
    return await cluster.kubectl("diff", *flags, "-f", str(path), check=False)


async def test_an_unchanged_object_has_no_diff(cluster: Cluster, tmp_path: Path) -> None:
    applied = tmp_path / "applied.json"
    applied.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": MANIFESTS}))
    await cluster.kubectl("apply", "-f", str(applied))
    assert await diff(cluster, applied) == ""
    assert await diff(cluster, applied, "--server-side") == ""
    # Objects kubectl apply never wrote, read back as they are.
    await cluster.kubectl("create", "configmap", "made", "--from-literal=x=y")
    await cluster.kubectl("create", "service", "clusterip", "other", "--tcp=81")
    for kind, name in (("configmap", "made"), ("service", "other")):
        read = tmp_path / f"{name}.json"
        read.write_text(await cluster.kubectl("get", kind, name, "-o", "json"))
        assert await diff(cluster, read) == ""
        assert await diff(cluster, read, "--server-side") == ""
    service = json.loads(await cluster.kubectl("get", "service", "web", "-o", "json"))
    assert service["status"] == {"loadBalancer": {}}


async def test_empty_maps_in_metadata_are_not_stored(cluster: Cluster) -> None:
    await cluster.kubectl("create", "configmap", "plain", "--from-literal=x=y")
    patch = {"metadata": {"annotations": {}, "labels": {}, "finalizers": []}}
    flags = ("-o", "json", "--field-manager=nothing", "-p", json.dumps(patch))
    after = json.loads(await cluster.kubectl("patch", "configmap", "plain", *flags))
    assert not {"annotations", "labels", "finalizers"} & set(after["metadata"])
    read = json.loads(await cluster.kubectl("get", "configmap", "plain", "-o", "json"))
    assert not {"annotations", "labels", "finalizers"} & set(read["metadata"])
