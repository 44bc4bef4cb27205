"""A node's capacity and allocatable as a kubelet writes them over what the Node has.

A kubelet owns the resources it measures (cpu, memory, pods, storage) but
not the others: an administrator or a test advertises an extended resource
by patching `status.capacity` (the scheduling conformance tests add
`scheduling.k8s.io/foo` that way), and the kubelet keeps it and copies it
into `allocatable` at its next status sync. An extended resource no longer
in capacity leaves allocatable. This is the kubelet's MachineInfo setter
(pkg/kubelet/nodestatus/setters.go); the real kubelet and the simulated
nodes both write their status through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_extended_resource", "merged_resources"]

Resources = dict[str, Any]
REQUESTS_PREFIX = "requests."


def is_extended_resource(name: str) -> bool:
    """Fully qualified, outside the kubernetes.io domains (v1helper.IsExtendedResourceName)."""
    if "/" not in name or name.startswith(REQUESTS_PREFIX):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def merged_resources(
    status: Mapping[str, Any], *, capacity: Mapping[str, Any], allocatable: Mapping[str, Any]
) -> tuple[Resources, Resources]:
    """(capacity, allocatable) to write: the kubelet's own figures over those the Node
    has; every other capacity entry allocatable in full (no reservation for it)."""
    merged = {**(status.get("capacity") or {}), **capacity}
    previous = status.get("allocatable") or {}
    kept = {k: v for k, v in previous.items() if k in merged or not is_extended_resource(k)}
    for name, quantity in merged.items():
        kept[name] = allocatable.get(name, quantity)
    return merged, kept
