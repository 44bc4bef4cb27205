"""The machine a kubelet runs on, and the Node object that describes it.

`read_machine()` gathers the facts (CPUs, memory, disk of the data
directory, processes, kernel, OS, addresses); the rest are pure functions
of those facts: capacity and allocatable (minus the kubelet's eviction
thresholds, as a default kubelet reserves them), the four conditions true
to the machine with the kubelet's reasons and messages, and the Node
itself with the labels and nodeInfo that `kubectl get nodes -o wide`
shows.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kybernetes import __version__
from kybernetes.api.times import format_time

__all__ = [
    "KUBELET_VERSION",
    "Machine",
    "allocatable",
    "capacity",
    "node_conditions",
    "node_object",
    "read_machine",
]

Obj = dict[str, Any]
KUBELET_VERSION = "v1.32.0"
MAX_PODS = 110
MIB = 1 << 20
# The kubelet's default hard eviction thresholds (memory.available<100Mi,
# nodefs.available<10%); a node below them reports pressure.
MEMORY_EVICTION = 100 * MIB
DISK_EVICTION_FRACTION = 0.10
PID_PRESSURE_FRACTION = 0.10
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x"}  # fmt: skip


@dataclass(frozen=True)
class Machine:
    hostname: str
    cpus: int
    memory_bytes: int
    memory_available: int
    disk_bytes: int
    disk_available: int
    pids_in_use: int
    pid_max: int
    kernel: str
    os_image: str
    architecture: str
    addresses: tuple[str, ...]
    machine_id: str = ""
    boot_id: str = ""
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def _meminfo() -> dict[str, int]:
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * 1024
    return values


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def read_machine(data_dir: Path, addresses: tuple[str, ...], hostname: str = "") -> Machine:
    """The facts of this machine now (blocking: call it in a thread)."""
    memory = _meminfo()
    disk = os.statvfs(data_dir)
    pids = sum(1 for entry in os.scandir("/proc") if entry.name.isdigit())
    return Machine(
        hostname=hostname or socket.gethostname().lower(),
        cpus=os.cpu_count() or 1,
        memory_bytes=memory.get("MemTotal", 0),
        memory_available=memory.get("MemAvailable", memory.get("MemFree", 0)),
        disk_bytes=disk.f_blocks * disk.f_frsize,
        disk_available=disk.f_bavail * disk.f_frsize,
        pids_in_use=pids,
        pid_max=int(_read("/proc/sys/kernel/pid_max") or 32768),
        kernel=platform.release(),
        os_image=_os_image(),
        architecture=_ARCH.get(platform.machine(), platform.machine()),
        addresses=addresses,
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
    )


def capacity(machine: Machine) -> dict[str, str]:
    return {
        "cpu": str(machine.cpus),
        "memory": f"{machine.memory_bytes // 1024}Ki",
        "ephemeral-storage": f"{machine.disk_bytes // 1024}Ki",
        "pods": str(MAX_PODS),
    }


def allocatable(machine: Machine) -> dict[str, str]:
    """Capacity minus the eviction thresholds (no system or kube reservations by default)."""
    memory = max(0, machine.memory_bytes - MEMORY_EVICTION)
    disk = int(machine.disk_bytes * (1 - DISK_EVICTION_FRACTION))
    return {**capacity(machine), "memory": f"{memory // 1024}Ki",
            "ephemeral-storage": str(disk)}  # fmt: skip


def _pressures(machine: Machine) -> list[tuple[str, bool, str, str]]:
    memory = machine.memory_available < MEMORY_EVICTION
    disk = machine.disk_available < machine.disk_bytes * DISK_EVICTION_FRACTION
    pids = machine.pid_max - machine.pids_in_use < machine.pid_max * PID_PRESSURE_FRACTION
    return [
        ("MemoryPressure", memory,
         "KubeletHasInsufficientMemory" if memory else "KubeletHasSufficientMemory",
         "kubelet has insufficient memory available" if memory
         else "kubelet has sufficient memory available"),
        ("DiskPressure", disk, "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure",
         "kubelet has disk pressure" if disk else "kubelet has no disk pressure"),
        ("PIDPressure", pids, "KubeletHasInsufficientPID" if pids else "KubeletHasSufficientPID",
         "kubelet has insufficient PID available" if pids
         else "kubelet has sufficient PID available"),
    ]  # fmt: skip


def node_conditions(
    machine: Machine,
    *,
    ready: bool,
    now: datetime.datetime,
    not_ready_message: str = "",
    previous: list[Obj] | None = None,
) -> list[Obj]:
    """The four node conditions, transition times kept while a status holds."""
    stamp = format_time(now)
    before = {c.get("type"): c for c in previous or []}
    rows = [(kind, "True" if on else "False", reason, message)
            for kind, on, reason, message in _pressures(machine)]  # fmt: skip
    rows.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status") if ready
                else ("Ready", "False", "KubeletNotReady", not_ready_message))  # fmt: skip
    conditions = []
    for kind, status, reason, message in rows:
        old = before.get(kind) or {}
        kept = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append({"type": kind, "status": status, "reason": reason, "message": message,
                           "lastHeartbeatTime": stamp,
                           "lastTransitionTime": kept or stamp})  # fmt: skip
    return conditions


def node_object(
    name: str,
    machine: Machine,
    *,
    runtime_version: str,
    now: datetime.datetime,
    control_plane: bool = False,
    ready: bool = True,
    kubelet_port: int = 10250,
) -> Obj:
    """The Node as the kubelet registers it (status included)."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": machine.architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": machine.architecture,
        **machine.extra_labels,
    }
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    addresses = [{"type": "InternalIP", "address": a} for a in machine.addresses]
    addresses.append({"type": "Hostname", "address": machine.hostname})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"kybernetes.io/agent-version": __version__}},
        "spec": {},
        "status": {
            "capacity": capacity(machine),
            "allocatable": allocatable(machine),
            "conditions": node_conditions(machine, ready=ready, now=now),
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": machine.machine_id,
                "systemUUID": machine.machine_id,
                "bootID": machine.boot_id,
                "kernelVersion": machine.kernel,
                "osImage": machine.os_image,
                "containerRuntimeVersion": runtime_version,
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": machine.architecture,
            },
        },
    }  # fmt: skip
