"""Ephemeral containers on the node: the kubelet's decisions, and a process-runtime
kubelet that starts, reports, streams, never restarts and re-adopts them (no root
needed: the real-container side, PID namespaces included, is tests/e2e_node)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client.rest import ApiClient
from kybernetes.node.kubelet.ephemeral import (
    TargetNotRunning,
    ephemeral_to_start,
    target_pid_namespace,
)
from kybernetes.node.kubelet.kubelet import Kubelet
from kybernetes.node.kubelet.podstatus import Observed, pod_status
from kybernetes.node.kubelet.podworker import sandbox_paths
from kybernetes.node.runtime.runc import SandboxFiles
from kybernetes.node.runtime.spec import ContainerConfig, SandboxPaths, oci_spec
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster
from tests.node.kubelet.test_process_kubelet import (
    PODS,
    get_pod,
    pod,
    start_kubelet,
    until,
)
from tests.node.kubelet.test_process_kubelet import client as client
from tests.node.kubelet.test_process_kubelet import node as node

Obj = dict[str, Any]


def with_ephemeral(*names: str, phase: str = "Running", **fields: Any) -> Obj:
    return {"spec": {"containers": [{"name": "app", "image": "nginx"}],
                     "ephemeralContainers": [{"name": n, "image": "busybox", **fields}
                                             for n in names]},
            "status": {"phase": phase}}  # fmt: skip


def test_only_those_never_started_start_and_none_in_a_finished_pod() -> None:
    pod_ = with_ephemeral("one", "two", "three")
    started = ephemeral_to_start(pod_, started={"app", "two"})
    assert [c["name"] for c in started] == ["one", "three"]
    # Once started (whatever became of it), never again: no restart, whatever the policy.
    assert ephemeral_to_start(pod_, started={"app", "one", "two", "three"}) == []
    for phase in ("Succeeded", "Failed"):
        assert ephemeral_to_start(with_ephemeral("one", phase=phase), started=set()) == []
    assert ephemeral_to_start({"spec": {"containers": []}}, started=set()) == []


def test_a_target_is_joined_by_its_running_process_pid_namespace() -> None:
    container = {"name": "dbg", "targetContainerName": "app"}
    assert target_pid_namespace(container, {"status": "running", "pid": 4242}) == (
        "/proc/4242/ns/pid")  # fmt: skip
    assert target_pid_namespace({"name": "dbg"}, None) == ""
    for state in (None, {"status": "stopped", "pid": 0}, {"status": "created", "pid": 9}):
        with pytest.raises(TargetNotRunning, match='the target container "app" is not running'):
            target_pid_namespace(container, state)


def test_the_oci_spec_joins_the_given_pid_namespace() -> None:
    config = ContainerConfig(name="dbg", image_config={}, command=["sh"])
    sandbox = SandboxPaths(netns="/run/netns/x", ipc="/p/ipc", uts="/p/uts", cgroup_parent="/k")
    own = oci_spec(config, sandbox, container_id="c1")["linux"]["namespaces"]
    assert own[0] == {"type": "pid"}
    joined = SandboxPaths(netns="/run/netns/x", ipc="/p/ipc", uts="/p/uts", cgroup_parent="/k",
                          pid="/proc/7/ns/pid")  # fmt: skip
    namespaces = oci_spec(config, joined, container_id="c1")["linux"]["namespaces"]
    assert namespaces[0] == {"type": "pid", "path": "/proc/7/ns/pid"}
    assert {"type": "network", "path": "/run/netns/x"} in namespaces  # still the pod's


def test_statuses_have_the_container_shape_but_never_ready_nor_started() -> None:
    pod_ = with_ephemeral("running", "ended", "new")
    pod_["spec"]["containers"][0]["image"] = "nginx"
    app = {"app": Observed(state={"running": {"startedAt": "t0"}}, ready=True, started=True)}
    seen = {
        "running": Observed(state={"running": {"startedAt": "t1"}}, image="busybox",
                            image_id="sha256:1", container_id="runc://c-running", ready=True),
        "ended": Observed(state={"terminated": {"exitCode": 4, "reason": "Error"}},
                          container_id="runc://c-ended"),
    }  # fmt: skip
    status = pod_status(pod_, app, {}, ephemeral=seen, pod_ip="10.0.0.2", host_ip="1.2.3.4",
                        start_time="t0", sandbox_ready=True, now="t2")  # fmt: skip
    running, ended, new = status["ephemeralContainerStatuses"]
    assert running == {"name": "running", "image": "busybox", "imageID": "sha256:1",
                       "ready": False, "restartCount": 0, "state": {"running": {"startedAt": "t1"}},
                       "lastState": {}, "containerID": "runc://c-running"}  # fmt: skip
    assert ended["state"]["terminated"]["exitCode"] == 4 and ended["ready"] is False
    assert new["state"] == {"waiting": {"reason": "ContainerCreating"}} and "started" not in new
    # No part of the phase or of readiness: the pod is Running and Ready by its app alone.
    assert status["phase"] == "Running"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert "ephemeralContainerStatuses" not in pod_status(
        {"spec": {"containers": []}}, {}, {}, pod_ip="", host_ip="", start_time="",
        sandbox_ready=False, now="t")  # fmt: skip


# -- a process-runtime kubelet ---------------------------------------------------------


async def ephemeral_state(client: ApiClient, pod_name: str, name: str) -> Obj:
    statuses = (await get_pod(client, pod_name)).get("status", {}).get(
        "ephemeralContainerStatuses") or []  # fmt: skip
    return next((s for s in statuses if s["name"] == name), {})


async def test_debug_starts_streams_and_never_restarts(
    cluster: Cluster,
    node: tuple[Kubelet, ApiClient],
) -> None:
    kubelet, client = node
    await client.create(PODS, pod("target", [
        {"name": "app", "image": "none", "command": ["sleep", "300"]}]))  # fmt: skip

    async def state_of(name: str, wanted: str) -> bool:
        return wanted in (await ephemeral_state(client, "target", name)).get("state", {})

    await until(lambda: _app_running(client, "target"))
    await cluster.kubectl("debug", "target", "--image=busybox", "--container=dbg", "--",
                          "sh", "-c", "echo debugging; exec sleep 300")  # fmt: skip
    await until(lambda: state_of("dbg", "running"))
    dbg = await ephemeral_state(client, "target", "dbg")
    assert dbg["containerID"].startswith("process://") and dbg["ready"] is False
    said = await cluster.kubectl("exec", "target", "-c", "dbg", "--", "sh", "-c", "echo in dbg")
    assert said.strip() == "in dbg"
    assert (await cluster.kubectl("logs", "target", "-c", "dbg")).strip() == "debugging"

    # One that ends is never started again, though the pod's policy is Always.
    await cluster.kubectl("debug", "target", "--image=busybox", "--container=quick", "--",
                          "sh", "-c", "exit 4")  # fmt: skip
    await until(lambda: state_of("quick", "terminated"))
    first = await ephemeral_state(client, "target", "quick")
    await asyncio.sleep(1.5)  # a few syncs
    again = await ephemeral_state(client, "target", "quick")
    assert again["state"]["terminated"]["exitCode"] == 4
    assert (again["restartCount"], again["containerID"]) == (0, first["containerID"])
    pod_now = await get_pod(client, "target")
    assert pod_now["status"]["phase"] == "Running"
    assert [s["name"] for s in pod_now["status"]["ephemeralContainerStatuses"]] == ["dbg", "quick"]

    # Deleted with the pod, as any container.
    await cluster.kubectl("delete", "pod", "target", "--wait=true", "--timeout=30s")
    assert await kubelet.runtime.containers() == []


async def test_a_restarted_kubelet_adopts_them_without_restarting(
    cluster: Cluster,
    client: ApiClient,
    tmp_path: Path,
) -> None:
    first, task = start_kubelet(client, tmp_path / "node")
    last = first
    try:
        await client.create(PODS, pod("adopted", [
            {"name": "app", "image": "none", "command": ["sleep", "300"]}]))  # fmt: skip
        await until(lambda: _app_running(client, "adopted"))
        patch = {"spec": {"ephemeralContainers": [
            {"name": "dbg", "image": "busybox", "command": ["sleep", "300"]},
            {"name": "done", "image": "busybox", "command": ["true"]}]}}  # fmt: skip
        await cluster.kubectl("patch", "pod", "adopted", "--subresource=ephemeralcontainers",
                              "--type=strategic", "-p", json.dumps(patch))  # fmt: skip

        async def both_seen() -> bool:
            dbg = await ephemeral_state(client, "adopted", "dbg")
            done = await ephemeral_state(client, "adopted", "done")
            return "running" in dbg.get("state", {}) and "terminated" in done.get("state", {})

        await until(both_seen)
        before = {n: await ephemeral_state(client, "adopted", n) for n in ("dbg", "done")}
        await cancel_and_wait(task)
        again, task = start_kubelet(client, tmp_path / "node")
        last = again
        uid = (await get_pod(client, "adopted"))["metadata"]["uid"]
        await until(lambda: _has_worker(again, uid))
        await asyncio.sleep(1.5)  # a few syncs of the adopted pod
        for name, was in before.items():
            now = await ephemeral_state(client, "adopted", name)
            assert now["containerID"] == was["containerID"] and now["restartCount"] == 0
        assert "running" in (await ephemeral_state(client, "adopted", "dbg"))["state"]
    finally:
        await cancel_and_wait(task)
        await last.remove_all_pods()
    assert await first.runtime.containers() == []


async def _app_running(client: ApiClient, name: str) -> bool:
    statuses = (await get_pod(client, name)).get("status", {}).get("containerStatuses") or []
    return bool(statuses) and "running" in statuses[0].get("state", {})


async def _has_worker(kubelet: Kubelet, uid: str) -> bool:
    return uid in kubelet._workers


def test_host_namespaces_are_left_out_of_the_spec() -> None:
    """kubectl debug node/NAME: hostPID, hostIPC and hostNetwork (with the host's hostname)."""
    files = SandboxFiles(ipc="/p/ipc", uts="/p/uts", shm="/p/shm", cgroup_parent="/k")
    config = ContainerConfig(name="debugger", image_config={}, command=["sh"])
    own = sandbox_paths({}, netns="/run/netns/x", files=files)
    kinds = [n["type"] for n in oci_spec(config, own, container_id="c")["linux"]["namespaces"]]
    assert kinds == ["pid", "mount", "network", "ipc", "uts"]
    host = sandbox_paths({"hostPID": True, "hostIPC": True, "hostNetwork": True}, netns="",
                         files=files)  # fmt: skip
    namespaces = oci_spec(config, host, container_id="c")["linux"]["namespaces"]
    assert namespaces == [{"type": "mount"}]
    ipc_only = sandbox_paths({"hostIPC": True}, netns="/run/netns/x", files=files)
    kinds = [n["type"] for n in oci_spec(config, ipc_only, container_id="c")["linux"]["namespaces"]]
    assert kinds == ["pid", "mount", "network", "uts"]
    # The host's IPC namespace comes with the host's /dev/shm, as under containerd.
    assert (own.shm, host.shm, ipc_only.shm) == ("/p/shm", "/dev/shm", "/dev/shm")


def test_a_pod_sharing_its_process_namespace_joins_its_pause_process() -> None:
    files = SandboxFiles(ipc="/p/ipc", uts="/p/uts", shm="/p/shm", cgroup_parent="/k",
                         pid="/proc/42/ns/pid")  # fmt: skip
    config = ContainerConfig(name="app", image_config={}, command=["sh"])
    shared = sandbox_paths({"shareProcessNamespace": True}, netns="/run/netns/x", files=files)
    namespaces = oci_spec(config, shared, container_id="c")["linux"]["namespaces"]
    assert namespaces[0] == {"type": "pid", "path": "/proc/42/ns/pid"}
    own = sandbox_paths({"shareProcessNamespace": False}, netns="/run/netns/x", files=files)
    assert oci_spec(config, own, container_id="c")["linux"]["namespaces"][0] == {"type": "pid"}
