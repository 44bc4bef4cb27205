"""The HPA scales a Deployment on CPU read through the API server's metrics API.

A real KubeletServer reads a cgroup tree this test writes (as in
test_kubectl_top.py); the API server's scraper is run by hand, so each
reading's CPU rate is known. The HPA controller runs against the real API
server with an injected clock, so the stabilization window passes without
waiting for it.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api.times import format_time
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.hpa import HorizontalPodAutoscalerController
from kybernetes.node.kubelet.resourcemetrics import ContainerRef, ResourceMetrics
from kybernetes.node.kubelet.server import KubeletServer, serving_certificate
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
NODE = "node-hpa"
PODS = {"web-1": "0f6c2c1e-0000-4000-8000-00000000000a",
        "web-2": "0f6c2c1e-0000-4000-8000-00000000000b"}  # fmt: skip
STEP = 12  # seconds between two kubelet reads
HPA_PATH = resource_path("autoscaling", "v2", "horizontalpodautoscalers", "default", "web")


class FakeNode:
    """The kubelet's clock and each pod's cumulative CPU, both advanced by the test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = time.time() - 60
        self.cpu_ns = dict.fromkeys(PODS, 10**9)

    def burn(self, millicores: int) -> None:
        """Every pod uses `millicores` over the next STEP seconds."""
        self.clock += STEP
        for name in PODS:
            self.cpu_ns[name] += millicores * STEP * 10**6
        self.write()

    def write(self) -> None:
        pods = [f"kubepods/pod{uid}" for uid in PODS.values()]
        containers = [f"kubepods/pod{uid}/c-{name}" for name, uid in PODS.items()]
        for relative in ("", *pods, *containers):
            name = next((n for n, uid in PODS.items() if uid in relative), "")
            cpu, memory = self.root / "cpuacct" / relative, self.root / "memory" / relative
            cpu.mkdir(parents=True, exist_ok=True)
            memory.mkdir(parents=True, exist_ok=True)
            (cpu / "cpuacct.usage").write_text(f"{self.cpu_ns.get(name, 100 * 10**9)}\n")
            (memory / "memory.usage_in_bytes").write_text(f"{64 * 1024 * 1024}\n")
            (memory / "memory.stat").write_text("total_inactive_file 0\n")


def _pod(name: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": NODE, "containers": [
                {"name": "app", "image": "busybox",
                 "resources": {"requests": {"cpu": "100m"}}}]}}  # fmt: skip


@pytest.fixture
async def node(cluster: Cluster, tmp_path: Path) -> AsyncIterator[FakeNode]:
    fake = FakeNode(tmp_path / "cgroup")
    fake.write()
    started = time.time() - 3600
    refs = [ContainerRef("default", name, uid, "app", f"c-{name}", started)
            for name, uid in PODS.items()]  # fmt: skip
    metrics = ResourceMetrics(lambda: ["pod"], lambda _pods: refs, root=fake.root,  # type: ignore[list-item]
                              proc=tmp_path / "proc", clock=lambda: fake.clock)  # fmt: skip
    cert, key = serving_certificate(tmp_path / "pki", NODE, ["127.0.0.1"])
    server = KubeletServer(locate=lambda *_: None, client_ca_pem=cluster.pki.ca_pem, cert=cert,
                           key=key, metrics=metrics)  # fmt: skip
    port = await server.start("127.0.0.1", 0)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await _register(
            client, port, format_time(datetime.datetime.fromtimestamp(started, datetime.UTC))
        )
    try:
        yield fake
    finally:
        await server.stop()


async def _register(client: ApiClient, port: int, started: str) -> None:
    """The node, and the Deployment's two pods Running and Ready for an hour."""
    node = await client.create(resource_path("", "v1", "nodes"), {"metadata": {"name": NODE}})
    node["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                      "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}  # fmt: skip
    await client.update(resource_path("", "v1", "nodes", name=NODE, sub="status"), node)
    for name in PODS:
        pod = await client.create(resource_path("", "v1", "pods", "default"), _pod(name))
        pod["status"] = {"phase": "Running", "startTime": started, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": started}]}  # fmt: skip
        await client.update(resource_path("", "v1", "pods", "default", name, sub="status"), pod)


async def _sync(client: ApiClient, controller: HorizontalPodAutoscalerController) -> Obj:
    hpa = await client.get(HPA_PATH)
    # The informer may lag the last status write by a moment: wait for its resourceVersion.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cached = controller.hpas.get("default/web")
        if cached and cached["metadata"]["resourceVersion"] == hpa["metadata"]["resourceVersion"]:
            break
        await asyncio.sleep(0.02)
    await controller.sync("default/web")
    await controller.events.flush()
    return await client.get(HPA_PATH)


async def _replicas(client: ApiClient) -> int:
    deployment = await client.get(resource_path("apps", "v1", "deployments", "default", "web"))
    return int(deployment["spec"]["replicas"])


@pytest.mark.one_api_process
async def test_hpa_scales_up_on_cpu_then_down_after_the_window(
    cluster: Cluster, node: FakeNode
) -> None:
    scraper = cluster.api.scraper
    assert scraper is not None
    await cluster.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2")
    await cluster.kubectl("autoscale", "deployment", "web", "--min=1", "--max=10",
                          "--cpu-percent=50")  # fmt: skip
    behavior = {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}
    await cluster.kubectl("patch", "hpa", "web", "--type=merge", "-p", json.dumps(behavior))
    await scraper.scrape_once()
    node.burn(90)  # 90m of 100m requested: 90% against 50%
    await scraper.scrape_once()
    clock = [datetime.datetime.now(datetime.UTC)]
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        informers = InformerFactory(client)
        controller = HorizontalPodAutoscalerController(informers, now=lambda: clock[0])
        informers.start()
        try:
            await InformerFactory.wait_synced(controller.hpas)
            up = await _sync(client, controller)
            assert await _replicas(client) == 4  # ceil(90 / 50 x 2)
            table = await cluster.kubectl("get", "hpa", "web")
            described = await cluster.kubectl("describe", "hpa", "web")
            print(table, described, sep="\n")
            node.burn(10)  # 10%: one pod would do
            await scraper.scrape_once()
            clock[0] += datetime.timedelta(seconds=15)
            held = await _sync(client, controller)
            assert await _replicas(client) == 4
            clock[0] += datetime.timedelta(seconds=50)
            down = await _sync(client, controller)
            assert await _replicas(client) == 1
            final_table = await cluster.kubectl("get", "hpa", "web")
            print(final_table, await cluster.kubectl("describe", "hpa", "web"), sep="\n")
        finally:
            await informers.stop()
        events = await client.get("/api/v1/namespaces/default/events")
    assert up["status"]["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 90, "averageValue": "90m"}}}]  # fmt: skip
    assert (up["status"]["currentReplicas"], up["status"]["desiredReplicas"]) == (2, 4)
    assert up["status"]["lastScaleTime"]
    conditions = {c["type"]: c for c in up["status"]["conditions"]}
    assert conditions["ScalingActive"]["message"] == (
        "the HPA was able to successfully calculate a replica count from cpu resource "
        "utilization (percentage of request)"
    )
    assert conditions["AbleToScale"]["reason"] == "SucceededRescale"
    assert table.split("\n")[1].split()[:7] == ["web", "Deployment/web", "cpu:", "90%/50%",
                                                "1", "10", "2"]  # fmt: skip
    held_able = next(c for c in held["status"]["conditions"] if c["type"] == "AbleToScale")
    assert held_able["reason"] == "ScaleDownStabilized"
    assert held["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 10
    assert down["status"]["desiredReplicas"] == 1
    assert "cpu: 10%/50%" in final_table
    # Events are listed by name (random suffixes), not by time.
    messages = [e["message"] for e in events["items"] if e["reason"] == "SuccessfulRescale"]
    assert sorted(messages) == [
        "New size: 1; reason: All metrics below target",
        "New size: 4; reason: cpu resource utilization (percentage of request) above target",
    ]
