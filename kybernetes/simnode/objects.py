"""What a simulated node writes: its Node, its Lease, and its pods' statuses.

Pure functions of a config, the wall-clock time and what the node knows
(its pod CIDR, the IPs it handed out), so tests can check every field
without an API server. The objects say honestly what they are: the
runtime is `simulated://`, the node carries `kybernetes.io/simulated=true`,
and container and image IDs are `simulated://` too. Addresses come from
198.18.0.0/15, the benchmarking range that is never routed.

A pod ends only when told to: the annotation `kybernetes.io/simulated-exit-code`
(an integer) makes its containers exit with that code after
`kybernetes.io/simulated-run-seconds` (default 0) of running, so the pod
ends Succeeded (0) or Failed (anything else). The pod's `restartPolicy`
is not simulated: a told-to-end pod ends, whatever its policy.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.times import format_time

__all__ = [
    "EXIT_CODE_ANNOTATION",
    "FALLBACK_POD_RANGE",
    "RUN_SECONDS_ANNOTATION",
    "SIMULATED_LABEL",
    "NodeConfig",
    "PodIPs",
    "fallback_pod_cidr",
    "lease_object",
    "micro_time",
    "node_address",
    "node_conditions",
    "node_object",
    "node_resources",
    "pod_status",
    "requested_exit",
    "terminated_status",
]

Obj = dict[str, Any]

SIMULATED_LABEL = "kybernetes.io/simulated"
EXIT_CODE_ANNOTATION = "kybernetes.io/simulated-exit-code"
RUN_SECONDS_ANNOTATION = "kybernetes.io/simulated-run-seconds"
RUNTIME_VERSION = "simulated://0.1.0"
# When no IPAM controller gave the node a podCIDR in time: a /24 per node from
# the shared address space (RFC 6598), far from the cluster's 10.244.0.0/16.
FALLBACK_POD_RANGE = ipaddress.ip_network("100.64.0.0/10")
_NODE_RANGE = ipaddress.ip_network("198.18.0.0/15")
_NODE_FIRST = int(ipaddress.ip_address("198.18.16.1"))  # 198.18.0.x is for real test nodes


@dataclass(frozen=True)
class NodeConfig:
    """Capacity, labels and versions every simulated node reports."""

    cpu: str = "32"
    memory: str = "256Gi"
    ephemeral_storage: str = "1Ti"
    pods: int = 110
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()
    kubelet_version: str = "v1.32.0"
    architecture: str = "amd64"
    lease_duration_seconds: int = 40


def micro_time(moment: datetime.datetime) -> str:
    """metav1.MicroTime, as Leases carry renewTime."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_address(index: int) -> str:
    """The InternalIP of the index-th simulated node (198.18.16.1 onwards)."""
    address = ipaddress.ip_address(_NODE_FIRST + index)
    if address not in _NODE_RANGE:
        raise ValueError(f"simulated node index {index} is beyond 198.18.0.0/15")
    return str(address)


def fallback_pod_cidr(index: int) -> str:
    """A /24 of 100.64.0.0/10 for the index-th node, when IPAM gave it none."""
    subnets = 1 << (24 - FALLBACK_POD_RANGE.prefixlen)
    base = int(FALLBACK_POD_RANGE.network_address) + (index % subnets) * 256
    return f"{ipaddress.ip_address(base)}/24"


_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)  # fmt: skip


def node_conditions(now: datetime.datetime, previous: list[Obj] | None = None) -> list[Obj]:
    """A healthy kubelet's conditions; transition times kept where the status is unchanged."""
    stamp = format_time(now)
    before = {c.get("type"): c for c in previous or []}
    conditions = []
    for kind, status, reason, message in _CONDITIONS:
        old = before.get(kind) or {}
        same = old.get("status") == status
        conditions.append({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": old.get("lastTransitionTime", stamp) if same else stamp,
        })  # fmt: skip
    return conditions


def node_resources(config: NodeConfig) -> dict[str, str]:
    """What a simulated kubelet measures: its capacity, all of it allocatable."""
    return {
        "cpu": config.cpu,
        "memory": config.memory,
        "ephemeral-storage": config.ephemeral_storage,
        "pods": str(config.pods),
    }


def node_object(name: str, index: int, config: NodeConfig, now: datetime.datetime) -> Obj:
    """The Node a simulated kubelet registers (status included, as a kubelet does)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    resources = node_resources(config)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": config.architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": config.architecture,
        SIMULATED_LABEL: "true",
        **config.labels,
    }
    spec: Obj = {"taints": [dict(t) for t in config.taints]} if config.taints else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": node_conditions(now),
            "addresses": [
                {"type": "InternalIP", "address": node_address(index)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest[:32],
                "systemUUID": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
                f"{digest[20:32]}",
                "bootID": digest[32:64],
                "kernelVersion": "simulated",
                "osImage": "Kybernetes simulated node",
                "containerRuntimeVersion": RUNTIME_VERSION,
                "kubeletVersion": config.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": config.architecture,
            },
        },
    }


def lease_object(node: Obj, config: NodeConfig, now: datetime.datetime) -> Obj:
    """The node's Lease in kube-node-lease, owned by its Node (as the kubelet makes it)."""
    meta = node["metadata"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": meta["name"],
            "namespace": "kube-node-lease",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {
            "holderIdentity": meta["name"],
            "leaseDurationSeconds": config.lease_duration_seconds,
            "renewTime": micro_time(now),
        },
    }


class PodIPs:
    """One node's pod IPs from its CIDR (host-local style: .1 is the gateway)."""

    def __init__(self, cidr: str) -> None:
        self.cidr = cidr
        self._network = ipaddress.ip_network(cidr, strict=False)
        self._by_pod: dict[str, str] = {}
        self._used: set[int] = set()
        self._next = 2

    def __len__(self) -> int:
        return len(self._by_pod)

    def get(self, pod_uid: str) -> str | None:
        return self._by_pod.get(pod_uid)

    def claim(self, pod_uid: str, ip: str) -> bool:
        """Keep an IP a pod already has (after a restart); False when not ours or taken."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        offset = int(address) - int(self._network.network_address)
        if address not in self._network or offset in self._used:
            return False
        self._used.add(offset)
        self._by_pod[pod_uid] = ip
        return True

    def assign(self, pod_uid: str) -> str | None:
        """The pod's IP, a new one if it has none; None when the CIDR is full."""
        known = self._by_pod.get(pod_uid)
        if known:
            return known
        # Offsets 2 .. size-2: not the network address, the gateway (.1) or broadcast.
        count = max(self._network.num_addresses - 3, 0)
        for step in range(count):
            offset = 2 + (self._next - 2 + step) % count
            if offset not in self._used:
                self._used.add(offset)
                self._next = offset + 1
                ip = str(self._network.network_address + offset)
                self._by_pod[pod_uid] = ip
                return ip
        return None

    def release(self, pod_uid: str) -> None:
        ip = self._by_pod.pop(pod_uid, None)
        if ip is not None:
            self._used.discard(int(ipaddress.ip_address(ip)) - int(self._network.network_address))


def requested_exit(pod: Obj) -> tuple[int, float] | None:
    """(exit code, seconds to run) when the pod is told to end, else None."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    code = annotations.get(EXIT_CODE_ANNOTATION)
    if code is None:
        return None
    try:
        exit_code = int(code)
    except ValueError:
        return None
    try:
        seconds = max(float(annotations.get(RUN_SECONDS_ANNOTATION, "0")), 0.0)
    except ValueError:
        seconds = 0.0
    return exit_code, seconds


def _container_id(pod: Obj, name: str) -> str:
    uid = (pod.get("metadata") or {}).get("uid", "")
    return "simulated://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()


def _image_id(image: str) -> str:
    return "simulated://sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _condition(kind: str, status: str, stamp: str, reason: str = "", message: str = "") -> Obj:
    condition = {"type": kind, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": stamp}  # fmt: skip
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _keep_transitions(conditions: list[Obj], previous: list[Obj]) -> list[Obj]:
    """A condition whose status did not change keeps its lastTransitionTime."""
    before = {c.get("type"): c for c in previous}
    for condition in conditions:
        old = before.get(condition["type"])
        if old and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
            condition["lastTransitionTime"] = old["lastTransitionTime"]
    return conditions


def pod_status(pod: Obj, *, host_ip: str, pod_ip: str, now: datetime.datetime, ready: bool) -> Obj:
    """The status of a running pod (containers started; Ready when `ready`)."""
    old = pod.get("status") or {}
    stamp = format_time(now)
    started = old.get("startTime") or stamp
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    not_ready = "" if ready else f"containers with unready status: [{' '.join(names)}]"
    reason = "" if ready else "ContainersNotReady"
    flag = "True" if ready else "False"
    conditions = [
        _condition("PodReadyToStartContainers", "True", stamp),
        _condition("Initialized", "True", stamp),
        _condition("Ready", flag, stamp, reason, not_ready),
        _condition("ContainersReady", flag, stamp, reason, not_ready),
        _condition("PodScheduled", "True", stamp),
    ]
    previous = {s.get("name"): s for s in old.get("containerStatuses") or []}
    statuses = []
    for container in spec.get("containers") or []:
        name = str(container.get("name"))
        running_since = (((previous.get(name) or {}).get("state") or {}).get("running") or {}).get(
            "startedAt"
        ) or started
        image = str(container.get("image") or "")
        statuses.append({
            "name": name, "image": image, "imageID": _image_id(image),
            "containerID": _container_id(pod, name), "ready": ready, "started": True,
            "restartCount": 0, "state": {"running": {"startedAt": running_since}},
            "lastState": {},
        })  # fmt: skip
    ephemeral = _ephemeral_statuses(pod, old, stamp)
    ours = {c["type"] for c in conditions}
    # Conditions others own (DisruptionTarget, readiness gates' types) are kept as they are.
    theirs = [c for c in old.get("conditions") or [] if c.get("type") not in ours]
    return {
        **old,
        "phase": "Running",
        "conditions": _keep_transitions(conditions, old.get("conditions") or []) + theirs,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started,
        "containerStatuses": statuses,
        **ephemeral,
        **_observed(pod),
    }


def _ephemeral_statuses(pod: Obj, old: Obj, now: str) -> Obj:
    """`ephemeralContainerStatuses` for what `kubectl debug` added: running, never
    ready, as a kubelet reports them (so kubectl debug stops waiting and says the
    node cannot attach, rather than waiting forever)."""
    added = (pod.get("spec") or {}).get("ephemeralContainers") or []
    if not added:
        return {}
    previous = {s.get("name"): s for s in old.get("ephemeralContainerStatuses") or []}
    statuses = []
    for container in added:
        name = str(container.get("name"))
        since = ((previous.get(name) or {}).get("state") or {}).get("running", {}).get("startedAt")
        image = str(container.get("image") or "")
        statuses.append({
            "name": name, "image": image, "imageID": _image_id(image),
            "containerID": _container_id(pod, name), "ready": False, "restartCount": 0,
            "state": {"running": {"startedAt": since or now}}, "lastState": {},
        })  # fmt: skip
    return {"ephemeralContainerStatuses": statuses}


def terminated_status(
    pod: Obj, *, exit_code: int, now: datetime.datetime, phase: str | None = None
) -> Obj:
    """Every container terminated with `exit_code`; the phase follows unless given."""
    old = pod.get("status") or {}
    stamp = format_time(now)
    reason = "Completed" if exit_code == 0 else "Error"
    previous = {s.get("name"): s for s in old.get("containerStatuses") or []}
    statuses = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        name = str(container.get("name"))
        before = previous.get(name) or {}
        started = ((before.get("state") or {}).get("running") or {}).get("startedAt") or (
            old.get("startTime") or stamp
        )
        image = str(container.get("image") or "")
        statuses.append({
            "name": name, "image": image, "imageID": _image_id(image),
            "containerID": _container_id(pod, name), "ready": False, "started": False,
            "restartCount": int(before.get("restartCount") or 0),
            "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                                     "startedAt": started, "finishedAt": stamp,
                                     "containerID": _container_id(pod, name)}},
            "lastState": {},
        })  # fmt: skip
    final = phase or ("Succeeded" if exit_code == 0 else "Failed")
    conditions = [dict(c) for c in old.get("conditions") or []]
    for condition in conditions:
        if condition.get("type") in ("Ready", "ContainersReady"):
            if condition.get("status") != "False":
                condition["lastTransitionTime"] = stamp
            condition.update(status="False", reason="PodCompleted")
            condition.pop("message", None)
    return {**old, "phase": final, "conditions": conditions, "containerStatuses": statuses,
            "startTime": old.get("startTime") or stamp, **_observed(pod)}  # fmt: skip


def _observed(pod: Obj) -> Obj:
    """status.observedGeneration, as a kubelet reports the spec it acted on."""
    generation = pod.get("metadata", {}).get("generation")
    return {} if generation is None else {"observedGeneration": generation}
