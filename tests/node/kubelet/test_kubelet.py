"""The kubelet against a real API server: real runc pods, status, restarts, deletion.

The node's host is an isolated namespace (tests/node/conftest.py); images
are busybox layers built here (no registry needed).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.kubelet.kubelet import Kubelet
from kybernetes.node.kubelet.podworker import PulledImage
from kybernetes.node.kubelet.restarts import CrashLoopBackoff
from kybernetes.node.network.commands import run
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.node.support.accounts import publish_account_basics
from tests.node.support.images import LocalImages, busybox_layers

pytestmark = pytest.mark.root

NODE = "node-a"
PODS = resource_path("", "v1", "pods", "default")
FETCH = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5)
c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
reply = b""
while chunk := c.recv(4096):
    reply += chunk
print(reply.decode().split("\\r\\n\\r\\n", 1)[-1])
"""


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.fixture
async def node(
    cluster: Cluster, host_netns: str, tmp_path: Path
) -> AsyncIterator[tuple[Kubelet, ApiClient]]:
    layers = tuple(busybox_layers(tmp_path / "image"))
    images = LocalImages({"busybox": PulledImage("busybox", "sha256:busybox-test", layers, {})})
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        # The node's address is loopback here, so that the API server can reach the
        # kubelet's port for logs; the pods live in the isolated host namespace.
        kubelet = Kubelet(client, node_name=NODE, data_dir=tmp_path / "node",
                          host_ip="127.0.0.1", images=images, host_netns=host_netns,
                          backoff=CrashLoopBackoff(initial=0.5, maximum=1),
                          listen=("127.0.0.1", 0))  # fmt: skip
        task = asyncio.create_task(kubelet.run())

        async def registered() -> bool:
            nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
            return any(n["metadata"]["name"] == NODE for n in nodes)

        await until(registered)
        await publish_account_basics(client)
        # The node IPAM controller's part: give the node its range.
        cidr = "10.244.3.0/24"
        await client.patch(resource_path("", "v1", "nodes", name=NODE),
                           {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})  # fmt: skip
        try:
            yield kubelet, client
        finally:
            await cancel_and_wait(task)
            await kubelet.remove_all_pods()
            assert await kubelet.runtime.containers() == []


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"nodeName": NODE, "containers": containers,
                     "terminationGracePeriodSeconds": 2, **spec}}  # fmt: skip


async def get_pod(client: ApiClient, name: str) -> dict[str, Any]:
    return await client.get(f"{PODS}/{name}")


async def test_a_pod_runs_serves_and_is_deleted_cleanly(
    cluster: Cluster, node: tuple[Kubelet, ApiClient], host_netns: str
) -> None:
    kubelet, client = node
    page = {"metadata": {"name": "page"}, "data": {"TEXT": "hello from kybernetes"}}
    await client.create(resource_path("", "v1", "configmaps", "default"), page)
    script = "mkdir -p /www && echo $TEXT > /www/index.html && exec httpd -f -p 8080 -h /www"
    await client.create(PODS, pod("web", [{
        "name": "web", "image": "busybox", "command": ["sh", "-c", script],
        "envFrom": [{"configMapRef": {"name": "page"}}],
    }]))  # fmt: skip

    async def running() -> bool:
        status = (await get_pod(client, "web")).get("status") or {}
        ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
        return status.get("phase") == "Running" and bool(ready) and ready[0]["status"] == "True"

    await until(running)
    status = (await get_pod(client, "web"))["status"]
    assert status["podIP"].startswith("10.244.3.") and status["hostIP"] == "127.0.0.1"
    container = status["containerStatuses"][0]
    assert container["ready"] and container["containerID"].startswith("runc://")
    assert "running" in container["state"] and container["restartCount"] == 0
    wide = await cluster.kubectl("get", "pod", "web", "-o", "wide")
    assert status["podIP"] in wide and NODE in wide and "Running" in wide

    # Real traffic to the pod's address, from the node's host namespace.
    served = await run("nsenter", f"--net=/run/netns/{host_netns}", sys.executable, "-c", FETCH,
                     status["podIP"])  # fmt: skip
    assert served.strip() == "hello from kybernetes"

    described = await cluster.kubectl("describe", "pod", "web")
    for reason in ("Pulled", "Created", "Started"):
        assert reason in described
    assert 'Container image "busybox" already present on machine' in described

    await cluster.kubectl("delete", "pod", "web", "--wait=true", "--timeout=30s")
    assert await kubelet.runtime.containers() == []
    assert not (kubelet.data_dir / "kubelet" / "pods").exists() or not list(
        (kubelet.data_dir / "kubelet" / "pods").iterdir())  # fmt: skip


async def test_restarts_back_off_and_config_errors_clear(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    crash = {"name": "crash", "image": "busybox", "command": ["sh", "-c", "echo boom; exit 3"]}
    await client.create(PODS, pod("crash", [crash]))

    async def restarted_twice() -> bool:
        statuses = ((await get_pod(client, "crash")).get("status") or {}).get("containerStatuses")
        return bool(statuses) and statuses[0]["restartCount"] >= 2

    await until(restarted_twice)
    container = (await get_pod(client, "crash"))["status"]["containerStatuses"][0]
    terminated = container["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert (await get_pod(client, "crash"))["status"]["phase"] == "Running"  # Always: retrying

    await client.create(PODS, pod("needs-config", [{
        "name": "app", "image": "busybox", "command": ["sleep", "3600"],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "x"}}}],
    }]))  # fmt: skip

    async def waiting_for_config() -> bool:
        statuses = ((await get_pod(client, "needs-config")).get("status") or {}).get(
            "containerStatuses") or [{}]  # fmt: skip
        waiting = statuses[0].get("state", {}).get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError"

    await until(waiting_for_config)
    waiting = (await get_pod(client, "needs-config"))["status"]["containerStatuses"][0]
    assert waiting["state"]["waiting"]["message"] == 'configmap "later" not found'
    await client.create(resource_path("", "v1", "configmaps", "default"),
                        {"metadata": {"name": "later"}, "data": {"x": "1"}})  # fmt: skip

    async def started() -> bool:
        return (await get_pod(client, "needs-config")).get("status", {}).get("phase") == "Running"

    await until(started)


async def test_a_finished_pod_reports_its_exit(node: tuple[Kubelet, ApiClient]) -> None:
    _, client = node
    await client.create(PODS, pod("job", [
        {"name": "ok", "image": "busybox", "command": ["true"]},
        {"name": "bad", "image": "busybox", "command": ["sh", "-c", "exit 5"]},
    ], restartPolicy="Never", initContainers=[
        {"name": "setup", "image": "busybox", "command": ["echo", "init"]}]))  # fmt: skip

    async def failed() -> bool:
        return (await get_pod(client, "job")).get("status", {}).get("phase") == "Failed"

    await until(failed)
    status = (await get_pod(client, "job"))["status"]
    codes = {c["name"]: c["state"]["terminated"]["exitCode"] for c in status["containerStatuses"]}
    assert codes == {"ok": 0, "bad": 5}
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


async def test_volumes_reach_the_container(node: tuple[Kubelet, ApiClient]) -> None:
    kubelet, client = node
    conf = {"metadata": {"name": "conf"}, "data": {"greeting": "hi there"}}
    await client.create(resource_path("", "v1", "configmaps", "default"), conf)
    creds = {"metadata": {"name": "creds"}, "stringData": {"token": "t0k"}}
    await client.create(resource_path("", "v1", "secrets", "default"), creds)
    script = ("cat /conf/greeting; echo; cat /creds/token; echo; echo scratch > /scratch/x; "
              "cat /scratch/x; cat /info/name; echo")  # fmt: skip
    await client.create(PODS, pod("reader", [{
        "name": "reader", "image": "busybox", "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "conf", "mountPath": "/conf"},
                         {"name": "creds", "mountPath": "/creds", "readOnly": True},
                         {"name": "scratch", "mountPath": "/scratch"},
                         {"name": "info", "mountPath": "/info"}],
    }], restartPolicy="Never", volumes=[
        {"name": "conf", "configMap": {"name": "conf"}},
        {"name": "creds", "secret": {"secretName": "creds"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
    ]))  # fmt: skip

    async def done() -> bool:
        return (await get_pod(client, "reader")).get("status", {}).get("phase") == "Succeeded"

    await until(done)
    status = (await get_pod(client, "reader"))["status"]["containerStatuses"][0]
    container_id = status["containerID"].removeprefix("runc://")
    lines = [line.split(" ", 3)[3] for line in
             kubelet.runtime.log_path(container_id).read_text().splitlines()]  # fmt: skip
    assert lines == ["hi there", "t0k", "scratch", "reader"]


async def test_a_missing_volume_source_holds_the_pod(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    await client.create(PODS, pod("blocked", [{
        "name": "app", "image": "busybox", "command": ["sleep", "60"],
        "volumeMounts": [{"name": "conf", "mountPath": "/conf"}]}],
        volumes=[{"name": "conf", "configMap": {"name": "absent"}}]))  # fmt: skip

    async def reported() -> bool:
        out = await cluster.kubectl("describe", "pod", "blocked")
        return 'MountVolume.SetUp failed for volume "conf" : configmap "absent" not found' in out

    await until(reported)
    status = (await get_pod(client, "blocked"))["status"]
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"


async def test_kubectl_logs_reads_through_the_kubelet(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    """A container's stdout and stderr are its pod's log (conformance P27)."""
    _, client = node
    script = "echo first; sleep 0.2; echo second >&2; sleep 0.5; echo third; sleep 30"
    await client.create(PODS, pod("talker", [
        {"name": "talker", "image": "busybox", "command": ["sh", "-c", script]},
        {"name": "quiet", "image": "busybox", "command": ["sleep", "30"]},
    ]))  # fmt: skip

    async def talked() -> bool:
        out = await cluster.kubectl("logs", "talker", "-c", "talker", check=False)
        return "third" in out

    await until(talked)
    out = await cluster.kubectl("logs", "talker", "-c", "talker")
    assert out.splitlines() == ["first", "second", "third"]
    tail = await cluster.kubectl("logs", "talker", "-c", "talker", "--tail=1", "--timestamps")
    assert tail.rstrip().endswith("Z third") and tail.count("\n") == 1
    # A raw API call without a container names the choices, as Kubernetes does.
    error = await cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/talker/log",
                                  check=False)  # fmt: skip
    assert (
        "a container name must be specified for pod talker, choose one of: [talker quiet]" in error
    )
    previous = await cluster.kubectl("logs", "talker", "-c", "talker", "--previous", check=False)
    assert 'previous terminated container "talker" in pod "talker" not found' in previous
