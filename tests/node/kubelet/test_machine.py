"""The Node a kubelet registers: capacity, allocatable, conditions, labels, nodeInfo."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from kybernetes.node.kubelet.machine import (
    Machine,
    allocatable,
    capacity,
    node_conditions,
    node_object,
    read_machine,
)

GIB = 1 << 30
NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
MACHINE = Machine(hostname="box", cpus=2, memory_bytes=8 * GIB, memory_available=6 * GIB,
                  disk_bytes=100 * GIB, disk_available=50 * GIB, pids_in_use=200,
                  pid_max=32768, kernel="6.1.0", os_image="Debian GNU/Linux 12 (bookworm)",
                  architecture="amd64", addresses=("198.18.0.10",))  # fmt: skip


def test_capacity_and_allocatable() -> None:
    assert capacity(MACHINE) == {"cpu": "2", "memory": "8388608Ki",
                                 "ephemeral-storage": "104857600Ki", "pods": "110"}  # fmt: skip
    assert allocatable(MACHINE)["memory"] == f"{8 * 1024 * 1024 - 100 * 1024}Ki"
    assert allocatable(MACHINE)["ephemeral-storage"] == str(int(100 * GIB * 0.9))


def test_conditions_are_true_to_the_machine() -> None:
    healthy = {c["type"]: c for c in node_conditions(MACHINE, ready=True, now=NOW)}
    assert healthy["Ready"]["status"] == "True" and healthy["Ready"]["reason"] == "KubeletReady"
    assert {healthy[k]["status"] for k in ("MemoryPressure", "DiskPressure", "PIDPressure")} == {
        "False"}  # fmt: skip
    starving = dataclasses.replace(MACHINE, memory_available=50 << 20, disk_available=GIB,
                                   pids_in_use=32000)  # fmt: skip
    later = NOW + datetime.timedelta(minutes=1)
    pressed = {c["type"]: c for c in node_conditions(
        starving, ready=True, now=later, previous=list(healthy.values()))}  # fmt: skip
    assert pressed["MemoryPressure"]["status"] == "True"
    assert pressed["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
    assert pressed["DiskPressure"]["reason"] == "KubeletHasDiskPressure"
    assert pressed["PIDPressure"]["reason"] == "KubeletHasInsufficientPID"
    assert pressed["MemoryPressure"]["lastTransitionTime"] == "2026-11-30T12:01:00Z"
    assert pressed["Ready"]["lastTransitionTime"] == "2026-11-30T12:00:00Z"  # held
    assert pressed["Ready"]["lastHeartbeatTime"] == "2026-11-30T12:01:00Z"


def test_the_node_object_shows_what_kubectl_prints() -> None:
    node = node_object("box", MACHINE, runtime_version="runc://1.1.5", now=NOW,
                       control_plane=True)  # fmt: skip
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "box" and labels["kubernetes.io/arch"] == "amd64"
    assert "node-role.kubernetes.io/control-plane" in labels
    info = node["status"]["nodeInfo"]
    assert (info["containerRuntimeVersion"], info["kernelVersion"], info["osImage"]) == (
        "runc://1.1.5", "6.1.0", "Debian GNU/Linux 12 (bookworm)")  # fmt: skip
    assert {"type": "InternalIP", "address": "198.18.0.10"} in node["status"]["addresses"]


def test_reading_this_machine(tmp_path: Path) -> None:
    machine = read_machine(tmp_path, ("127.0.0.1",))
    assert machine.cpus >= 1 and machine.memory_bytes > machine.memory_available > 0
    assert machine.disk_bytes >= machine.disk_available > 0 and machine.pid_max > 0
