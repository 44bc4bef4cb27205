"""/metrics as kube-apiserver names and labels its metrics."""

from __future__ import annotations

import re

import pytest

from kybernetes.apiserver.metrics import ApiMetrics, reported_verb
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


@pytest.mark.one_api_process
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


def test_counts_latencies_and_the_requests_in_flight() -> None:
    metrics = ApiMetrics(lambda: [("pods", 3)], "v1.32.4")
    get = ("GET", "", "", "v1", "pods", "", "resource", "apiserver")
    watch = ("WATCH", "", "apps", "v1", "deployments", "", "cluster", "apiserver")
    post = ("POST", "", "", "v1", "configmaps", "", "namespace", "apiserver")
    for labels, code, seconds in ((get, 200, 0.001), (get, 200, 0.005), (get, 404, 0.3),
                                  (post, 201, 61.0)):  # fmt: skip
        metrics.started(labels)
        metrics.finished(labels, code, seconds)
    metrics.started(watch)
    metrics.started(post)
    text = metrics.render().decode()
    pods = {"verb": "GET", "resource": "pods"}
    assert _sample(text, "apiserver_request_total", code="200", **pods) == 2
    assert _sample(text, "apiserver_request_total", code="404", **pods) == 1
    # Buckets count every request at or below their bound.
    assert _sample(text, "apiserver_request_duration_seconds_bucket", le="0.005", **pods) == 2
    assert _sample(text, "apiserver_request_duration_seconds_bucket", le="0.4", **pods) == 3
    assert _sample(text, "apiserver_request_duration_seconds_sum", **pods) == 0.306
    assert _sample(text, "apiserver_request_duration_seconds_bucket", le="60.0",
                   resource="configmaps") == 0  # fmt: skip
    assert _sample(text, "apiserver_request_duration_seconds_bucket", le="+Inf",
                   resource="configmaps") == 1  # fmt: skip
    assert _sample(text, "apiserver_current_inflight_requests", request_kind="mutating") == 1
    assert _sample(text, "apiserver_current_inflight_requests", request_kind="readOnly") == 0
    assert _sample(text, "apiserver_longrunning_requests", verb="WATCH",
                   resource="deployments") == 1  # fmt: skip
    assert "apiserver_request_created" not in text  # kube-apiserver has no *_created samples
