"""Real runc containers in a pod: shared localhost, hostname, logs, exit codes, clean-up."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from kybernetes.node.network.commands import run
from kybernetes.node.network.podnet import PodNetwork
from kybernetes.node.runtime.runc import RuncRuntime
from kybernetes.node.runtime.spec import ContainerConfig, SandboxPaths, oci_spec
from tests.node.support.images import busybox_layers

pytestmark = pytest.mark.root


async def until_exited(runtime: RuncRuntime, container_id: str, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while runtime.exit_status(container_id) is None:
            await asyncio.sleep(0.05)


def log_lines(runtime: RuncRuntime, container_id: str) -> list[tuple[str, str]]:
    """(stream, text) of each CRI log record."""
    records = []
    for line in runtime.log_path(container_id).read_text().splitlines():
        _, stream, _, text = line.split(" ", 3)
        records.append((stream, text))
    return records


async def runc_says(runtime: RuncRuntime, container_id: str) -> dict[str, object]:
    said: dict[str, object] = json.loads(
        await run("runc", "--root", str(runtime.runc_root), "state", container_id)
    )
    return said


async def test_a_pod_of_two_containers_end_to_end(host_netns: str, tmp_path: Path) -> None:
    if shutil.which("runc") is None:
        raise RuntimeError("runc is not installed: run scripts/setup.sh (apt runc)")
    layers = busybox_layers(tmp_path)
    network = PodNetwork(cidr="10.244.9.0/24", state_dir=tmp_path, host_netns=host_netns)
    runtime = RuncRuntime(tmp_path / "runtime")
    pod = str(uuid.uuid4())
    await network.ensure_bridge()
    address = await network.setup(pod)
    files = await runtime.create_sandbox(pod, "web-0")
    sandbox = SandboxPaths(netns=address.netns_path, ipc=files.ipc, uts=files.uts,
                           cgroup_parent=files.cgroup_parent, shm=files.shm)  # fmt: skip
    server, client = f"{pod[:8]}-web", f"{pod[:8]}-probe"
    try:
        web = ContainerConfig("web", {"Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"]})
        await runtime.create(server, spec=oci_spec(web, sandbox, container_id=server),
                             layers=layers)  # fmt: skip
        # Created is running (`runc run -d`); the state read from runc's files agrees
        # with `runc state` itself.
        assert (await runc_says(runtime, server))["status"] == "running"
        assert (runtime._live_state(server) or {}).get("status") == "running"
        await runtime.start(server)  # nothing left to do
        state = await runtime.state(server)
        assert state is not None and state["status"] == "running"
        assert (await runc_says(runtime, server))["status"] == "running"
        assert (runtime._live_state(server) or {}).get("pid") == state["pid"]

        script = ("for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://127.0.0.1:8080/ "
                  "&& break; sleep 0.1; done; hostname; echo oops >&2; exit 7")  # fmt: skip
        probe = ContainerConfig("probe", {}, command=["sh", "-c", script])
        await runtime.create(client, spec=oci_spec(probe, sandbox, container_id=client),
                             layers=layers)  # fmt: skip
        await runtime.start(client)
        await until_exited(runtime, client)
        ended = runtime.exit_status(client)
        assert ended is not None and (ended.exit_code, ended.signal) == (7, None)
        logged = log_lines(runtime, client)  # the two streams interleave as they came
        assert [text for stream, text in logged if stream == "stdout"] == [
            "hello from the pod", "web-0"]  # fmt: skip
        assert [text for stream, text in logged if stream == "stderr"] == ["oops"]

        await runtime.kill(server, "KILL")
        await until_exited(runtime, server)
        killed = runtime.exit_status(server)
        assert killed is not None and (killed.exit_code, killed.signal) == (137, 9)
        assert runtime._live_state(server) is None  # ended: runc is asked again
        assert (await runtime.state(server) or {}).get("status") == "stopped"
        assert not killed.oom_killed
    finally:
        for container in (client, server):
            await runtime.delete(container)
        await runtime.remove_sandbox(pod)
        await network.teardown(pod)
    assert await runtime.containers() == []
    runc_list = await run("runc", "--root", str(runtime.runc_root), "list", "-f", "json")
    assert json.loads(runc_list or "null") in (None, [])
    assert not list(Path("/sys/fs/cgroup").glob(f"*/kubepods/pod{pod}"))
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(tmp_path) not in mounts
    assert not os.path.exists(address.netns_path)


async def test_a_shared_process_namespace_is_held_by_a_pause_process(tmp_path: Path) -> None:
    """shareProcessNamespace: PID 1 of the pod's namespace lives as long as the pod,
    reaps its orphans, survives a restarted kubelet and goes with the pod."""
    runtime = RuncRuntime(tmp_path / "runtime")
    pod = str(uuid.uuid4())
    files = await runtime.create_sandbox(pod, "shared", share_pid=True)
    try:
        pause = int(files.pid.split("/")[2])
        assert os.readlink(files.pid) != os.readlink("/proc/self/ns/pid")
        assert _nspid(pause) == [pause, 1]  # PID 1 in its own namespace
        # Shown as kube's pause container is, not as the interpreter running it.
        assert Path(f"/proc/{pause}/cmdline").read_bytes().rstrip(b"\0") == b"/pause"
        assert Path(f"/proc/{pause}/comm").read_text() == "pause\n"
        # An orphan of the namespace is reaped by it, not left a zombie.
        await run("nsenter", f"--target={pause}", "--pid", "--", "sh", "-c", "sleep 0.2 &")
        await asyncio.sleep(0.6)
        children = Path(f"/proc/{pause}/task/{pause}/children").read_text().split()
        assert children == []
        # Asked again (a restarted kubelet): the same process, not a second one.
        again = await RuncRuntime(tmp_path / "runtime").create_sandbox(pod, "shared",
                                                                       share_pid=True)  # fmt: skip
        assert again.pid == files.pid
    finally:
        await runtime.remove_sandbox(pod)
    assert not Path(f"/proc/{pause}").exists() or _state(pause) in ("Z", "X")
    assert not (tmp_path / "runtime" / "pods" / pod).exists()
    # Without it, no pause process and no PID namespace path.
    plain = await runtime.create_sandbox(pod, "plain")
    assert plain.pid == ""
    await runtime.remove_sandbox(pod)


def _nspid(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(n) for n in line.split()[1:]]
    return []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"
