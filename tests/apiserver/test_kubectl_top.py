"""`kubectl top` through the API server's metrics.k8s.io, from a real
KubeletServer whose cgroups are a tree this test writes: no root, no runtime.

The kubelet reads the fake tree at two moments 12 s apart (its clock is the
test's); the API server's scraper is run once per moment, so the figures
kubectl prints are the rates between the two reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.kubelet.resourcemetrics import ContainerRef, ResourceMetrics
from kybernetes.node.kubelet.server import KubeletServer, serving_certificate
from tests.apiserver.conftest import Cluster

NODE = "node-metrics"
UID = "0f6c2c1e-0000-4000-8000-000000000001"
MIB = 1024 * 1024


def _write_cgroup(root: Path, relative: str, *, cpu_ns: int, usage: int, inactive: int) -> None:
    cpu = root / "cpuacct" / relative
    memory = root / "memory" / relative
    cpu.mkdir(parents=True, exist_ok=True)
    memory.mkdir(parents=True, exist_ok=True)
    (cpu / "cpuacct.usage").write_text(f"{cpu_ns}\n")
    (memory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (memory / "memory.stat").write_text(
        f"cache 0\nrss {usage}\ninactive_file 7\ntotal_inactive_file {inactive}\n"
    )


def _moment(root: Path, step: int) -> None:
    """The cgroups at read `step` (0 or 1): CPU grows by known amounts."""
    pod = f"kubepods/pod{UID}"
    _write_cgroup(root, "", cpu_ns=(100 + 6 * step) * 10**9, usage=2048 * MIB, inactive=512 * MIB)
    _write_cgroup(root, f"{pod}/c-app", cpu_ns=10 * 10**9 + step * 300_000_000,
                  usage=100 * MIB, inactive=20 * MIB)  # fmt: skip
    _write_cgroup(root, f"{pod}/c-sidecar", cpu_ns=10**9 + step * 12_000_000,
                  usage=10 * MIB, inactive=0)  # fmt: skip
    _write_cgroup(root, pod, cpu_ns=11 * 10**9 + step * 312_000_000, usage=110 * MIB,
                  inactive=20 * MIB)  # fmt: skip


@pytest.fixture
async def metrics_node(cluster: Cluster, tmp_path: Path) -> AsyncIterator[list[float]]:
    """A node whose kubelet reads the fake tree; yields its clock (settable)."""
    root = tmp_path / "cgroup"
    clock = [time.time() - 12]
    started = time.time() - 3600

    def containers(pods: list[dict]) -> list[ContainerRef]:
        return [ContainerRef("default", "web", UID, name, f"c-{name}", started)
                for name in ("app", "sidecar") if pods]  # fmt: skip

    metrics = ResourceMetrics(lambda: ["pod"], containers, root=root, proc=tmp_path / "proc",  # type: ignore[list-item]
                              clock=lambda: clock[0])  # fmt: skip
    cert, key = serving_certificate(tmp_path / "pki", NODE, ["127.0.0.1"])
    server = KubeletServer(locate=lambda *_: None, client_ca_pem=cluster.pki.ca_pem, cert=cert,
                           key=key, metrics=metrics)  # fmt: skip
    port = await server.start("127.0.0.1", 0)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        node = await client.create(resource_path("", "v1", "nodes"), {"metadata": {"name": NODE}})
        node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                          "capacity": {"cpu": "4", "memory": "8Gi"},
                          "allocatable": {"cpu": "4", "memory": "8Gi"}}  # fmt: skip
        await client.update(resource_path("", "v1", "nodes", name=NODE, sub="status"), node)
        await client.create(resource_path("", "v1", "pods", "default"), {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"nodeName": NODE, "containers": [
                {"name": "app", "image": "nginx"},
                {"name": "sidecar", "image": "busybox"}]}})  # fmt: skip
        await client.create(resource_path("", "v1", "pods", "default"), {
            "metadata": {"name": "other", "labels": {"app": "other"}},
            "spec": {"nodeName": NODE,
                     "containers": [{"name": "c", "image": "busybox"}]}})  # fmt: skip
    try:
        yield clock
    finally:
        await server.stop()


async def _scrape_twice(cluster: Cluster, clock: list[float], root: Path) -> None:
    scraper = cluster.api.scraper
    assert scraper is not None
    for step in (0, 1):
        _moment(root, step)
        if step:
            clock[0] += 12
        await scraper.scrape_once()


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


async def test_top_without_metrics_yet(cluster: Cluster, metrics_node: list[float]) -> None:
    """Before two scrapes there is nothing to show, in kubectl's words."""
    out = await cluster.kubectl("top", "node", check=False)
    assert "metrics not available yet" in out


@pytest.mark.one_api_process
async def test_kubectl_top_node_and_pods(
    cluster: Cluster, metrics_node: list[float], tmp_path: Path
) -> None:
    await _scrape_twice(cluster, metrics_node, tmp_path / "cgroup")
    # 6 s of CPU in 12 s on 4 cores; 2048Mi used less 512Mi of inactive cache, of 8Gi.
    assert _rows(await cluster.kubectl("top", "node")) == [
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        [NODE, "500m", "12%", "1536Mi", "18%"],
    ]
    # The pod is the sum of its containers; "other" has no cgroup, so no metrics.
    assert _rows(await cluster.kubectl("top", "pod")) == [
        ["NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["web", "26m", "90Mi"],
    ]
    assert _rows(await cluster.kubectl("top", "pod", "--containers")) == [
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["web", "app", "25m", "80Mi"],
        ["web", "sidecar", "1m", "10Mi"],
    ]
    assert _rows(await cluster.kubectl("top", "pod", "-A", "--sort-by=memory")) == [
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        ["default", "web", "26m", "90Mi"],
    ]
    assert "web" in await cluster.kubectl("top", "pod", "-l", "app=web")
    no_match = await cluster.kubectl("top", "pod", "-l", "app=other", check=False)
    assert "web" not in no_match
    assert no_match.strip() == "error: metrics not available yet"  # kubectl's words for none


@pytest.mark.one_api_process
async def test_metrics_objects_as_metrics_server_shapes_them(
    cluster: Cluster, metrics_node: list[float], tmp_path: Path
) -> None:
    await _scrape_twice(cluster, metrics_node, tmp_path / "cgroup")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        pod = await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web")
        node = await client.get(f"/apis/metrics.k8s.io/v1beta1/nodes/{NODE}")
        selected = await client.get("/apis/metrics.k8s.io/v1beta1/pods",
                                    fieldSelector="metadata.name=nothing")  # fmt: skip
    assert pod["kind"] == "PodMetrics" and pod["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["window"] == "12s"
    assert pod["containers"] == [
        {"name": "app", "usage": {"cpu": "25m", "memory": "80Mi"}},
        {"name": "sidecar", "usage": {"cpu": "1m", "memory": "10Mi"}},
    ]
    assert node["usage"] == {"cpu": "500m", "memory": "1536Mi"}
    assert selected["items"] == []
    missing = await cluster.kubectl("get", "--raw",
                                    "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/other",
                                    check=False)  # fmt: skip
    assert 'podmetrics.metrics.k8s.io "default/other" not found' in missing
