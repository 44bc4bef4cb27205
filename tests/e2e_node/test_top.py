"""`kubectl top` on a real node: runc containers' cgroups, read by the kubelet's
/metrics/resource and scraped by the API server every 15 s.

A pod that burns CPU shows it, a pod that holds memory (a file in its /dev/shm
tmpfs: memory that the working set counts, unlike reclaimable page cache)
shows that (48 MiB: the pod's /dev/shm holds 64), and the node has figures.
Waits poll; no timing is asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e_node.node import Node, build_image, until

pytestmark = pytest.mark.root

BUSYBOX = "kybernetes.local/top-busybox:1"


def _pod(name: str, script: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "main", "image": BUSYBOX, "imagePullPolicy": "Never",
                 "command": ["sh", "-c", script]}]}}  # fmt: skip


@pytest.fixture(scope="module")
def pods(node: Node) -> Iterator[Node]:
    build_image(node.data_dir, BUSYBOX, '{"Cmd": ["sh"]}', applets=True)
    for pod in (
        _pod("burn", "while :; do :; done"),
        _pod("hold", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48; sleep 3600"),
    ):
        node.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    node.kubectl("wait", "--for=condition=Ready", "pod/burn", "pod/hold", "--timeout=90s")
    yield node
    node.kubectl("delete", "pod", "burn", "hold", "--wait=false", check=False)


def _top(node: Node, *args: str) -> dict[str, list[str]]:
    """kubectl top's rows by their first column ({} while no metrics)."""
    out = node.kubectl("top", *args, check=False)
    return {cells[0]: cells for cells in (line.split() for line in out.splitlines()[1:])}


def _millicores(text: str) -> int:
    return int(text.removesuffix("m")) if text.endswith("m") else int(text) * 1000


def _mebibytes(text: str) -> int:
    return int(text.removesuffix("Mi"))


def test_a_busy_pod_shows_its_cpu(pods: Node) -> None:
    rows: dict[str, list[str]] = {}

    def busy() -> bool:
        rows.update(_top(pods, "pod", "--containers"))
        return "burn" in rows and _millicores(rows["burn"][2]) >= 100

    until(busy, timeout=90, what="kubectl top pod to show the burner's CPU")
    assert rows["burn"][1] == "main"


def test_a_pod_holding_memory_shows_it(pods: Node) -> None:
    rows: dict[str, list[str]] = {}

    def holding() -> bool:
        rows.update(_top(pods, "pod", "-l", "app=hold"))
        return "hold" in rows

    until(holding, timeout=90, what="kubectl top pod to show the memory holder")
    assert _mebibytes(rows["hold"][2]) >= 48
    assert set(rows) == {"hold"}  # the selector


def test_the_node_has_figures(pods: Node) -> None:
    rows: dict[str, list[str]] = {}

    def listed() -> bool:
        rows.update(_top(pods, "node"))
        return "node1" in rows

    until(listed, timeout=90, what="kubectl top node to show node1")
    cpu, cpu_percent, memory, memory_percent = rows["node1"][1:5]
    assert _millicores(cpu) > 0 and _mebibytes(memory) > 0
    assert cpu_percent.endswith("%") and memory_percent.endswith("%")
