"""A kubelet on the process runtime against a real API server: no root, no runc.

Pods run as plain processes of this host (their commands run here, on the
host's network), yet everything around them is the kubelet's as usual:
status, restarts, `kubectl logs` and `kubectl exec` through the kubelet's
server, deletion that leaves no process behind. Nothing here needs root
(no namespace, mount or runc), so these tests are not marked `root`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api.quantity import milli_value
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.node.kubelet.kubelet import Kubelet
from kybernetes.node.kubelet.podworker import PulledImage
from kybernetes.node.kubelet.restarts import CrashLoopBackoff
from kybernetes.node.runtime.process import NO_COMMAND
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import KUBECTL, Cluster
from tests.node.support.accounts import publish_account_basics

NODE = "proc-node"
PODS = resource_path("", "v1", "pods", "default")


class NoImages:
    """The process runtime never pulls: any call is a failure of the test."""

    async def ensure(
        self, image: str, *, policy: str, pull_secrets: Sequence[Mapping[str, Any]]
    ) -> tuple[PulledImage, bool]:
        raise AssertionError(f"the process runtime pulled {image}")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


def start_kubelet(client: ApiClient, data_dir: Path) -> tuple[Kubelet, asyncio.Task[None]]:
    kubelet = Kubelet(client, node_name=NODE, data_dir=data_dir, host_ip="127.0.0.1",
                      images=NoImages(), backoff=CrashLoopBackoff(initial=0.5, maximum=1),
                      listen=("127.0.0.1", 0), runtime="process")  # fmt: skip
    return kubelet, asyncio.create_task(kubelet.run())


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        await publish_account_basics(client)
        yield client


@pytest.fixture
async def node(client: ApiClient, tmp_path: Path) -> AsyncIterator[tuple[Kubelet, ApiClient]]:
    kubelet, task = start_kubelet(client, tmp_path / "node")
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


async def container_state(client: ApiClient, name: str) -> dict[str, Any]:
    statuses = ((await get_pod(client, name)).get("status") or {}).get("containerStatuses")
    return dict(statuses[0]) if statuses else {}


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


async def test_the_node_says_it_runs_the_process_runtime(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node

    async def registered() -> bool:
        nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
        return any(n["metadata"]["name"] == NODE for n in nodes)

    await until(registered)
    found = await client.get(resource_path("", "v1", "nodes", name=NODE))
    assert found["metadata"]["labels"]["kybernetes.io/runtime"] == "process"
    assert found["status"]["nodeInfo"]["containerRuntimeVersion"] == "process://0.1.0"
    wide = await cluster.kubectl("get", "node", NODE, "-o", "wide")
    assert "process://0.1.0" in wide


async def test_the_kubelet_keeps_an_advertised_extended_resource(
    client: ApiClient, tmp_path: Path
) -> None:
    """Capacity it does not measure is kept and made allocatable, as a kubelet's
    status sync does (the preemption conformance tests advertise one so)."""
    path = resource_path("", "v1", "nodes", name=NODE)
    for attempt in range(2):
        kubelet, task = start_kubelet(client, tmp_path / "node")
        try:

            async def written(attempt: int = attempt) -> bool:
                nodes = (await client.get(resource_path("", "v1", "nodes")))["items"]
                node = next((n for n in nodes if n["metadata"]["name"] == NODE), {})
                return (node.get("status") or {}).get("nodeInfo") is not None and (
                    attempt == 0 or "example.com/foo" in node["status"]["allocatable"]
                )

            await until(written)
        finally:
            await cancel_and_wait(task)
            await kubelet.remove_all_pods()
        if attempt == 0:
            await client.patch(f"{path}/status",
                               {"status": {"capacity": {"example.com/foo": "5"}}})  # fmt: skip
    status = (await client.get(path))["status"]
    assert status["capacity"]["example.com/foo"] == status["allocatable"]["example.com/foo"] == "5"
    assert status["capacity"]["pods"] == "110"


async def test_a_command_runs_exits_restarts_and_logs(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    _, client = node
    script = "echo hi; sleep 1.5; exit 3"
    await client.create(PODS, pod("once", [
        {"name": "main", "image": "none", "command": ["sh", "-c", script]}],
        restartPolicy="OnFailure"))  # fmt: skip

    async def running() -> bool:
        return "running" in (await container_state(client, "once")).get("state", {})

    await until(running)
    status = (await get_pod(client, "once"))["status"]
    assert status["phase"] == "Running" and status["podIP"] == "127.0.0.1"
    assert status["containerStatuses"][0]["containerID"].startswith("process://")

    async def restarted() -> bool:
        seen = await container_state(client, "once")
        return seen.get("restartCount", 0) >= 1 and "terminated" in seen.get("lastState", {})

    await until(restarted)
    terminated = (await container_state(client, "once"))["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert "hi" in await cluster.kubectl("logs", "once", "--previous")

    described = await cluster.kubectl("describe", "pod", "once")
    assert "NoIsolation" in described and "no isolation" in described
    assert "Pulling" not in described  # nothing is pulled


async def test_never_restart_fails_with_the_exit_code(node: tuple[Kubelet, ApiClient]) -> None:
    _, client = node
    await client.create(PODS, pod("never", [
        {"name": "main", "image": "none", "command": ["sh", "-c", "echo bye; exit 3"]}],
        restartPolicy="Never"))  # fmt: skip

    async def failed() -> bool:
        return bool((await get_pod(client, "never")).get("status", {}).get("phase") == "Failed")

    await until(failed)
    terminated = (await container_state(client, "never"))["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["containerID"].startswith("process://")


async def test_a_container_without_a_command_cannot_be_created(
    node: tuple[Kubelet, ApiClient],
) -> None:
    _, client = node
    await client.create(PODS, pod("no-command", [{"name": "main", "image": "busybox"}]))

    async def refused() -> bool:
        waiting = (await container_state(client, "no-command")).get("state", {}).get("waiting")
        return (waiting or {}).get("reason") == "CreateContainerError"

    await until(refused)
    waiting = (await container_state(client, "no-command"))["state"]["waiting"]
    assert waiting["message"] == NO_COMMAND


async def test_logs_exec_and_deletion_that_leaves_no_process(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    kubelet, client = node
    script = "echo started; sleep 300 & sleep 300 & wait"
    await client.create(PODS, pod("sleeper", [{
        "name": "main", "image": "none", "command": ["sh", "-c", script],
        "env": [{"name": "WHO", "value": "the pod"}],
        # An exec probe runs through the runtime's exec, with the container's env.
        "readinessProbe": {"exec": {"command": ["sh", "-c", 'test "$WHO" = "the pod"']},
                           "periodSeconds": 1},
    }]))  # fmt: skip

    async def running() -> bool:
        return (await container_state(client, "sleeper")).get("ready") is True

    await until(running)
    container_id = (await container_state(client, "sleeper"))["containerID"].split("://")[1]
    state = await kubelet.runtime.state(container_id)
    assert state is not None
    members = group_members(int(state["pid"]))

    async def all_started() -> bool:
        nonlocal members
        members = group_members(int(state["pid"]))
        return len(members) >= 3  # sh and its two sleeps

    await until(all_started)
    assert (await cluster.kubectl("logs", "sleeper")).strip() == "started"
    said = await cluster.kubectl("exec", "sleeper", "--", "sh", "-c", "echo $WHO")
    assert said.strip() == "the pod"

    await cluster.kubectl("delete", "pod", "sleeper", "--wait=true", "--timeout=30s")
    assert group_members(int(state["pid"])) == []
    assert await kubelet.runtime.containers() == []


async def test_volumes_are_prepared_on_the_host_and_said_to_be_unmounted(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    kubelet, client = node
    creds = {"metadata": {"name": "creds"}, "stringData": {"token": "t0k"}}
    await client.create(resource_path("", "v1", "secrets", "default"), creds)
    await client.create(PODS, pod("with-volumes", [{
        "name": "main", "image": "none", "command": ["sleep", "300"],
        "volumeMounts": [{"name": "creds", "mountPath": "/creds"}],
    }], volumes=[{"name": "creds", "secret": {"secretName": "creds"}},
                 {"name": "scratch", "emptyDir": {"medium": "Memory"}}]))  # fmt: skip

    async def running() -> bool:
        return "running" in (await container_state(client, "with-volumes")).get("state", {})

    await until(running)
    uid = (await get_pod(client, "with-volumes"))["metadata"]["uid"]
    volumes = kubelet.data_dir / "kubelet" / "pods" / uid / "volumes"
    assert (volumes / "creds" / "token").read_text() == "t0k"  # a plain directory, no tmpfs
    assert (volumes / "scratch").is_dir()
    described = await cluster.kubectl("describe", "pod", "with-volumes")
    assert "VolumesNotMounted" in described and "creds, scratch" in described


async def test_a_restarted_kubelet_adopts_running_commands(
    client: ApiClient, tmp_path: Path
) -> None:
    first, task = start_kubelet(client, tmp_path / "node")
    last = first  # whichever kubelet cleans up at the end
    await client.create(PODS, pod("long", [
        {"name": "main", "image": "none", "command": ["sleep", "300"]}]))  # fmt: skip

    async def running() -> bool:
        return "running" in (await container_state(client, "long")).get("state", {})

    try:
        await until(running)
        before = await container_state(client, "long")
        container_id = before["containerID"].split("://")[1]
        pid = (await first.runtime.state(container_id) or {})["pid"]
        await cancel_and_wait(task)  # the kubelet stops; the command goes on under its shim
        assert (await first.runtime.state(container_id) or {}).get("status") == "running"
        again, task = start_kubelet(client, tmp_path / "node")
        last = again
        uid = (await get_pod(client, "long"))["metadata"]["uid"]

        async def adopted() -> bool:
            return uid in again._workers

        await until(adopted)
        await asyncio.sleep(1)  # a few syncs of the adopted pod (it must not restart)
        after = await container_state(client, "long")
        assert after["restartCount"] == 0 and after["containerID"] == before["containerID"]
        assert (await again.runtime.state(container_id) or {}).get("pid") == pid
    finally:
        await cancel_and_wait(task)
        await last.remove_all_pods()
    assert await first.runtime.containers() == []


async def test_port_forward_reaches_a_command_on_the_host_network(
    cluster: Cluster, node: tuple[Kubelet, ApiClient], tmp_path: Path
) -> None:
    _, client = node
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from a host process")
    with socket.socket() as probe:  # a free port for the pod (the node's own network)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await client.create(PODS, pod("web", [{
        "name": "web", "image": "none", "workingDir": str(tmp_path / "www"),
        "command": ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
    }]))  # fmt: skip

    async def ready() -> bool:
        return (await container_state(client, "web")).get("ready") is True

    await until(ready)
    env = {**os.environ, "HOME": str(cluster.home), "KUBECONFIG": str(cluster.kubeconfig)}
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "port-forward", "pod/web", f"0:{port}", "--address", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        match = re.match(rb"Forwarding from 127\.0\.0\.1:(\d+) -> " + str(port).encode(), line)
        assert match, line
        reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert reply.startswith(b"HTTP/1.") and b"hello from a host process" in reply
    finally:
        process.kill()
        await process.wait()


async def test_a_pod_bound_past_the_scheduler_that_does_not_fit_is_rejected(
    cluster: Cluster, node: tuple[Kubelet, ApiClient]
) -> None:
    """The kubelet's own resource check (kube's OutOfcpu), for a pod with nodeName set."""
    kubelet, client = node
    await until(lambda: _registered(kubelet))
    greedy = {"name": "main", "image": "none", "command": ["sleep", "60"],
              "resources": {"requests": {"cpu": "1000"}}}  # fmt: skip
    await client.create(PODS, pod("greedy", [greedy]))

    async def rejected() -> bool:
        return bool((await get_pod(client, "greedy")).get("status", {}).get("phase") == "Failed")

    await until(rejected)
    status = (await get_pod(client, "greedy"))["status"]
    capacity = (await client.get(resource_path("", "v1", "nodes", name=NODE)))["status"]
    millis = milli_value(capacity["allocatable"]["cpu"])
    assert status["reason"] == "OutOfcpu"
    assert status["message"] == ("Pod was rejected: Node didn't have enough resource: cpu, "
                                 f"requested: 1000000, used: 0, capacity: {millis}")  # fmt: skip
    assert "containerStatuses" not in status  # it never started
    described = await cluster.kubectl("describe", "pod", "greedy")
    assert "OutOfcpu" in described


async def test_admission_sees_a_label_put_on_the_node_a_moment_ago(
    node: tuple[Kubelet, ApiClient],
) -> None:
    """The kubelet admits against the Node as watched, not as it last wrote it: a
    pod bound here right after `kubectl label node` matches the new label (kube's
    kubelet reads its informer's Node, and fetches it again on a NodeAffinity miss)."""
    kubelet, client = node
    await until(lambda: _registered(kubelet))
    node_path = resource_path("", "v1", "nodes", name=NODE)
    await client.patch(node_path, {"metadata": {"labels": {"disk": "ssd"}}})

    async def seen() -> bool:
        watched = kubelet.nodes.get(NODE) or {}
        return (watched.get("metadata") or {}).get("labels", {}).get("disk") == "ssd"

    await until(seen)
    sleeper = {"name": "main", "image": "none", "command": ["sleep", "60"]}
    await client.create(PODS, pod("on-ssd", [sleeper], nodeSelector={"disk": "ssd"}))

    async def running() -> bool:
        status = (await get_pod(client, "on-ssd")).get("status") or {}
        assert status.get("phase") != "Failed", status
        return status.get("phase") == "Running"

    await until(running)


async def _registered(kubelet: Kubelet) -> bool:
    return bool(kubelet._node)


async def test_a_force_deleted_pod_holds_nothing_while_it_is_stopped(
    node: tuple[Kubelet, ApiClient],
) -> None:
    """A pod gone from the API is no longer counted by admission (kube's pod manager
    forgets it), though its process still gets its grace period to end."""
    kubelet, client = node
    await until(lambda: _registered(kubelet))
    allocatable = (await client.get(resource_path("", "v1", "nodes", name=NODE)))["status"]
    everything = {"requests": {"cpu": allocatable["allocatable"]["cpu"]}}
    stubborn = {"name": "main", "image": "none", "resources": everything,
                "command": ["sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60"]}  # fmt: skip
    await client.create(PODS, pod("first", [stubborn], terminationGracePeriodSeconds=30))

    async def running(name: str) -> bool:
        return "running" in (await container_state(client, name)).get("state", {})

    await until(lambda: running("first"))
    await client.delete(f"{PODS}/first", {"gracePeriodSeconds": 0})  # forced: gone at once
    second = {"name": "main", "image": "none", "resources": everything,
              "command": ["sleep", "60"]}  # fmt: skip
    await client.create(PODS, pod("second", [second]))
    await until(lambda: running("second"))
    assert (await get_pod(client, "second"))["status"]["phase"] == "Running"
