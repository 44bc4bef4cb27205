"""The kubelet's admission of a pod new to the node: may it run here at all?

As the kubelet's predicate admit handler: a pod bound to the node without
the scheduler (`spec.nodeName` set by its creator) may ask for what the
node has already given. Checked here, in kube's order: resources (the
pod's requests within allocatable minus what the admitted pods request, and
one more pod within allocatable pods: `OutOfcpu`, `OutOfmemory`,
`OutOfpods`…, resourcefit.py), the node's labels (its nodeSelector and
required node affinity: `NodeAffinity`, nodefit.py), host ports (kube's
NodePorts: the same protocol and port on the same hostIP, or on every
address, `0.0.0.0`, is taken) and the node's NoExecute taints (the only
effect the kubelet looks at: `TaintToleration`), then the pod's own
`kubernetes.io/os` label, which must name the node's OS
(`PodOSSelectorNodeLabelDoesNotMatch`), and its `os.name`
(`PodOSNotSupported`). A refused pod never starts: it fails with the first
reason, in the kubelet's words (its status message prefixed "Pod was
rejected: ", its event not, as kube's rejectPod writes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.api.nodefit import find_untolerated_taint, matches_required_affinity
from kybernetes.api.resourcefit import Resources, allowed_pods, pod_requests, shortfalls

__all__ = ["NODE_AFFINITY", "NODE_PORTS", "OS_LABEL_MISMATCH", "OS_NOT_SUPPORTED", "TAINTED",
           "admission_refusal", "host_ports"]  # fmt: skip

Obj = dict[str, Any]
WILDCARD = "0.0.0.0"
NODE_AFFINITY = ("NodeAffinity", "Predicate NodeAffinity failed: node(s) "
                                 "didn't match Pod's node affinity/selector")  # fmt: skip
TAINTED = ("TaintToleration", "Predicate TaintToleration failed: node(s) had "
                               "taints that the pod didn't tolerate")  # fmt: skip
NODE_OS = "linux"
OS_LABEL = "kubernetes.io/os"
OS_LABEL_MISMATCH = ("PodOSSelectorNodeLabelDoesNotMatch", "Failed to admit pod as the "
                     "`kubernetes.io/os` label doesn't match node label")  # fmt: skip
OS_NOT_SUPPORTED = ("PodOSNotSupported",
                    "Failed to admit pod as the OS field doesn't match node OS")  # fmt: skip
NODE_PORTS = ("NodePorts", "Predicate NodePorts failed: node(s) didn't have "
                           "free ports for the requested pod ports")  # fmt: skip


def host_ports(pod: Obj) -> set[tuple[str, int, str]]:
    """(protocol, hostPort, hostIP) of every container port with a hostPort."""
    found = set()
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if int(port.get("hostPort") or 0) > 0:
                found.add((str(port.get("protocol") or "TCP"), int(port["hostPort"]),
                           str(port.get("hostIP") or WILDCARD)))  # fmt: skip
    return found


def _taken(wanted: tuple[str, int, str], used: set[tuple[str, int, str]]) -> bool:
    protocol, port, ip = wanted
    ips = {used_ip for used_protocol, used_port, used_ip in used
           if (used_protocol, used_port) == (protocol, port)}  # fmt: skip
    return bool(ips) and (ip == WILDCARD or WILDCARD in ips or ip in ips)


def admission_refusal(pod: Obj, admitted: Iterable[Obj], node: Obj) -> tuple[str, str] | None:
    """(reason, message) when `pod` may not run beside the `admitted` pods on `node`
    (the Node as last read; empty before it registered); None if it may."""
    admitted = list(admitted)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    lacking = _resource_refusal(pod, admitted, allocatable)
    if lacking is not None:
        return lacking
    spec = pod.get("spec") or {}
    if node and not matches_required_affinity(spec, node):
        return NODE_AFFINITY
    wanted = host_ports(pod)
    used = {entry for other in admitted for entry in host_ports(other)} if wanted else set()
    if any(_taken(entry, used) for entry in wanted):
        return NODE_PORTS
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if find_untolerated_taint(taints, tolerations, considered=_no_execute):
        return TAINTED
    # (against the OS the node runs, whatever its own label says: kube's kubelet
    # compares with its runtime's OS where the label is missing or differs)
    if ((pod.get("metadata") or {}).get("labels") or {}).get(OS_LABEL, NODE_OS) != NODE_OS:
        return OS_LABEL_MISMATCH
    if (spec.get("os") or {}).get("name") not in (None, NODE_OS):
        return OS_NOT_SUPPORTED
    return None


def _no_execute(taint: Obj) -> bool:
    return taint.get("effect") == "NoExecute"


def _resource_refusal(
    pod: Obj, admitted: list[Obj], allocatable: Mapping[str, Any]
) -> tuple[str, str] | None:
    if not allocatable:  # not registered yet: nothing to hold the pod against
        return None
    used = Resources()
    for other in admitted:
        used.add(pod_requests(other.get("spec") or {})[0])
    request = pod_requests(pod.get("spec") or {})[0]
    amounts = dict(allocatable)
    found = shortfalls(request, pods=len(admitted), allowed=allowed_pods(amounts),
                       allocatable=Resources.from_list(amounts), used=used)  # fmt: skip
    if not found:
        return None
    first = found[0]  # kube reports the first shortfall only
    said = f"requested: {first.requested}, used: {first.used}, capacity: {first.capacity}"
    message = f"Node didn't have enough resource: {first.resource}, {said}"
    return f"OutOf{first.resource}", message
