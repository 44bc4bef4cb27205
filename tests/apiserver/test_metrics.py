"""/metrics as kube-apiserver names and labels its metrics."""

from __future__ import annotations

import re

from kybernetes.apiserver.metrics import reported_verb
from tests.apiserver.conftest import Cluster


def test_verbs_are_reported_as_kube_apiserver_reports_them() -> None:
    assert reported_verb("list", "", apply=False) == "LIST"
    assert reported_verb("create", "", apply=False) == "POST"
    assert reported_verb("patch", "", apply=True) == "APPLY"
    assert reported_verb("deletecollection", "", apply=False) == "DELETE"
    assert reported_verb("create", "exec", apply=False) == "CONNECT"


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of `name` whose labels include `labels`."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no {name} {labels} in /metrics")


async def test_requests_and_stored_objects_are_counted(cluster: Cluster) -> None:
    await cluster.kubectl("create", "configmap", "one", "--from-literal=a=b")
    two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n"
    await cluster.kubectl("apply", "--server-side", "-f", "-", stdin=two)
    await cluster.kubectl("get", "configmaps")
    await cluster.kubectl("get", "configmap", "nothing", check=False)
    text = await cluster.kubectl("get", "--raw", "/metrics")
    common = {"group": "", "version": "v1", "resource": "configmaps", "component": "apiserver"}
    assert _sample(text, "apiserver_request_total", verb="POST", code="201", scope="namespace",
                   **common) == 1  # fmt: skip
    assert _sample(text, "apiserver_request_total", verb="APPLY", code="201", scope="resource",
                   **common) == 1  # fmt: skip
    assert _sample(text, "apiserver_request_total", verb="GET", code="404", **common) == 1
    assert _sample(text, "apiserver_request_duration_seconds_count", verb="LIST", **common) >= 1
    assert _sample(text, "apiserver_storage_objects", resource="configmaps") >= 2
    assert _sample(text, "apiserver_storage_objects", resource="deployments.apps") == 0
    assert _sample(text, "kubernetes_build_info", git_version="v1.32.4") == 1
    assert "process_resident_memory_bytes" in text
