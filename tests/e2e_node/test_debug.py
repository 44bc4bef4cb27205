"""kubectl debug on a whole node (conformance P52, P53): ephemeral containers in real
runc containers, driven with the real kubectl.

A debugger added with `--target` runs in its target's PID namespace (its `ps`
sees the target's process) and in the pod's network and UTS namespaces; one
without a target has a PID namespace of its own. `kubectl exec -c`,
`kubectl logs -c` and `kubectl debug -it` (attach, through a pseudo-terminal)
reach them; none is ever restarted; deleting the pod takes them with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_node.node import NODE_IP, Node, build_image, until
from tests.node.kubelet.test_streams import Terminal

pytestmark = pytest.mark.root

BUSYBOX = "kybernetes.local/debug-busybox:1"  # every applet on the PATH, no Entrypoint
MARKER = "3601"  # the target sleeps this long: what the debugger's ps must show
Obj = dict[str, Any]
TARGET = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "target"},
          "spec": {"terminationGracePeriodSeconds": 2, "containers": [
              {"name": "app", "image": BUSYBOX, "imagePullPolicy": "Never",
               "command": ["sleep", MARKER]}]}}  # fmt: skip


@pytest.fixture(scope="module")
def debugged(node: Node) -> Iterator[Node]:
    build_image(node.data_dir, BUSYBOX, '{"Cmd": ["sh"]}', applets=True)
    node.kubectl("apply", "-f", "-", stdin=json.dumps(TARGET))
    until(lambda: _app_running(node, "target"), timeout=90, what="the target to run")
    yield node


def get(node: Node, name: str) -> Obj:
    found: Obj = json.loads(node.kubectl("get", "pod", name, "-o", "json"))
    return found


def _app_running(node: Node, name: str) -> bool:
    statuses = get(node, name).get("status", {}).get("containerStatuses") or []
    return bool(statuses) and "running" in statuses[0]["state"]


def ephemeral(node: Node, pod: str) -> dict[str, Obj]:
    found = get(node, pod).get("status", {}).get("ephemeralContainerStatuses") or []
    return {s["name"]: s for s in found}


def state(node: Node, pod: str, name: str) -> str:
    """running, terminated, waiting, or "" while the kubelet has not reported it."""
    return next(iter(ephemeral(node, pod).get(name, {}).get("state") or {""}))


def debug(node: Node, *args: str) -> str:
    return node.kubectl("debug", "target", f"--image={BUSYBOX}", "--image-pull-policy=Never",
                        *args)  # fmt: skip


def test_a_targeted_debugger_sees_the_targets_processes(debugged: Node) -> None:
    debug(debugged, "--target=app", "--container=debugger", "--", "sleep", "600")
    until(lambda: state(debugged, "target", "debugger") == "running", what="the debugger")
    status = ephemeral(debugged, "target")["debugger"]
    assert status["containerID"].startswith("runc://") and status["imageID"]
    assert (status["ready"], status["restartCount"], status["image"]) == (False, 0, BUSYBOX)
    processes = debugged.kubectl("exec", "target", "-c", "debugger", "--", "ps", "-o", "pid,args")
    lines = [line.split(None, 1) for line in processes.splitlines()[1:]]
    # The target's process is PID 1 of the namespace the debugger joined.
    assert ["1", f"sleep {MARKER}"] in lines, processes
    # The pod's network and hostname too.
    pod_ip = get(debugged, "target")["status"]["podIP"]
    assert pod_ip in debugged.kubectl("exec", "target", "-c", "debugger", "--", "ip", "addr")
    hostname = debugged.kubectl("exec", "target", "-c", "debugger", "--", "hostname")
    assert hostname.strip() == "target"


def test_a_second_one_is_added_and_both_are_listed(debugged: Node) -> None:
    until(lambda: state(debugged, "target", "debugger") == "running", what="the first one")
    debug(debugged, "--container=second", "--", "sh", "-c", "echo second says hi; sleep 600")
    until(lambda: state(debugged, "target", "second") == "running", what="the second one")
    assert list(ephemeral(debugged, "target")) == ["debugger", "second"]
    names = [c["name"] for c in get(debugged, "target")["spec"]["ephemeralContainers"]]
    assert names == ["debugger", "second"]
    # No target: a PID namespace of its own, where the target's process is not.
    processes = debugged.kubectl("exec", "target", "-c", "second", "--", "ps", "-o", "args")
    assert f"sleep {MARKER}" not in processes
    until(lambda: "second says hi" in debugged.kubectl("logs", "target", "-c", "second"),
          what="the second one's log")  # fmt: skip


def test_debug_it_attaches_and_the_end_is_final(debugged: Node) -> None:
    env = {**os.environ, "KUBECONFIG": str(debugged.data_dir / "kubeconfig"),
           "HOME": str(debugged.home)}  # fmt: skip
    args = ["debug", "-it", "target", f"--image={BUSYBOX}", "--image-pull-policy=Never",
            "--target=app", "--container=shell", "--", "sh"]  # fmt: skip
    terminal = Terminal(env, args, rows=30, columns=100,
                        prefix=["nsenter", f"--net=/run/netns/{debugged.netns}"])  # fmt: skip
    try:
        # kubectl waits for the container to run, then attaches to its terminal.
        terminal.wait_for(b"If you don't see a command prompt", timeout=60)
        terminal.type(b"\r")
        terminal.wait_for(b"/ # ")
        count = f"echo $((6 * 7)) $(ps -o args | grep -c '^sleep {MARKER}')\r"
        terminal.type(count.encode())
        terminal.wait_for(b"42 ")
        terminal.type(b"exit 3\r")
        code = terminal.finish()
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
    screen = terminal.screen.decode(errors="replace")
    assert "42 1" in screen, screen  # the target's sleep, seen from the shell
    assert code == 0, screen  # kubectl's own: the session ended as asked
    until(lambda: state(debugged, "target", "shell") == "terminated", what="the shell's end")
    first = ephemeral(debugged, "target")["shell"]
    assert first["state"]["terminated"]["exitCode"] == 3
    until(lambda: state(debugged, "target", "debugger") == "running", what="a sync")
    # Never restarted, though the pod's restartPolicy is Always.
    again = ephemeral(debugged, "target")["shell"]
    assert (again["restartCount"], again["containerID"]) == (0, first["containerID"])


def test_a_copy_to_debug_runs_the_copy_beside_the_original(debugged: Node) -> None:
    debug(debugged, "--copy-to=target-copy", "--share-processes", "--container=dbg", "--",
          "sleep", "600")  # fmt: skip
    until(lambda: _all_running(debugged, "target-copy"), timeout=90, what="the copy to run")
    copy = get(debugged, "target-copy")
    assert copy["spec"]["shareProcessNamespace"] is True
    assert [c["name"] for c in copy["spec"]["containers"]] == ["app", "dbg"]
    assert "ephemeralContainers" not in copy["spec"]  # a copy takes none
    # One PID namespace for the copy: its debugger sees the app's process, and PID 1
    # is the pod's pause process, as on any cluster.
    processes = debugged.kubectl("exec", "target-copy", "-c", "dbg", "--", "ps", "-o", "pid,args")
    assert f"sleep {MARKER}" in processes
    assert ["1", "/pause"] in [line.split() for line in processes.splitlines()]
    pauses = _pause_processes()
    assert pauses, "no pause process on the node"
    debugged.kubectl("delete", "pod", "target-copy", "--wait=true", "--timeout=60s")
    deadline = time.monotonic() + 30  # the sandbox may go just after the API object
    while pauses & _pause_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pauses & _pause_processes(), "the copy's pause process outlived it"


def _pause_processes() -> set[int]:
    """Live (not zombie) processes named `pause` on the node."""
    found = subprocess.run(["pgrep", "-x", "pause"], capture_output=True, text=True, check=False)
    live = set()
    for pid in map(int, found.stdout.split()):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(pid)
    return live


def test_a_node_debugger_runs_in_the_hosts_namespaces(debugged: Node) -> None:
    out = debugged.kubectl("debug", "node/node1", f"--image={BUSYBOX}",
                           "--image-pull-policy=Never", "--", "sleep", "600")  # fmt: skip
    name = next(w for w in out.split() if w.startswith("node-debugger-node1-"))
    until(lambda: _all_running(debugged, name), timeout=90, what="the node debugger to run")
    spec = get(debugged, name)["spec"]
    assert (spec["hostPID"], spec["hostNetwork"], spec["hostIPC"]) == (True, True, True)
    assert get(debugged, name)["status"]["podIP"] == NODE_IP  # the node's own address

    def inside(*argv: str) -> str:
        return debugged.kubectl("exec", name, "--", *argv).strip()

    # The host's PID and IPC namespaces (this test runs in them), the node's network
    # namespace (where its address is) and the host's root at /host.
    for kind in ("pid", "ipc"):
        assert inside("readlink", f"/proc/self/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}")
    assert NODE_IP in inside("ip", "-o", "addr")
    assert f"--data-dir {debugged.data_dir}" in inside("ps", "-o", "args")  # the node's server
    assert inside("cat", f"/host{debugged.data_dir}/kubeconfig").startswith("apiVersion")
    # hostIPC: the host's /dev/shm too (POSIX shared memory lives there).
    marker = f"/dev/shm/kyb-debug-{os.getpid()}"
    with open(marker, "w") as shared:
        shared.write("seen")
    try:
        assert inside("cat", marker) == "seen"
    finally:
        os.unlink(marker)
    # Checklist P32: a hostNetwork pod's /etc/hosts is the node's, not the kubelet's own.
    hosts = inside("cat", "/etc/hosts")
    assert hosts.startswith("# Kubernetes-managed hosts file (host network).\n"), hosts
    assert "# Kubernetes-managed hosts file.\n" not in hosts
    with open("/etc/hosts") as node_hosts:
        assert node_hosts.read().strip() in hosts
    debugged.kubectl("delete", "pod", name, "--wait=true", "--timeout=60s")


def _all_running(node: Node, name: str) -> bool:
    statuses = get(node, name).get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all("running" in s["state"] for s in statuses)


def test_deleting_the_pod_takes_them_with_it(debugged: Node) -> None:
    uid = get(debugged, "target")["metadata"]["uid"]
    debugged.kubectl("delete", "pod", "target", "--wait=true", "--timeout=60s")
    runc_root = debugged.data_dir / "node" / "runtime" / "runc"
    left = debugged.inside("runc", "--root", str(runc_root), "list", "-q").split()
    assert [c for c in left if c.startswith(uid)] == []
