"""NodeResourcesFit: the pod's requests fit what the node has left.

Requests (containers summed, init containers as their maximum, plus the
pod overhead) against allocatable minus what the node's pods request, for
cpu, memory, ephemeral-storage and extended resources, and the pod count
against allocatable pods. Every shortfall is a reason ("Insufficient cpu",
"Too many pods"), as kube-scheduler lists them. Unschedulable, not
unresolvable: evicting pods frees resources, so preemption may help.
"""

from __future__ import annotations

from kybernetes.api.resourcefit import PODS, shortfalls
from kybernetes.scheduler.framework import CycleState, Plugin, Status
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodeResourcesFit", "insufficient"]

NAME = "NodeResourcesFit"
TOO_MANY_PODS = Status.unschedulable("Too many pods", plugin=NAME)
_CACHE: dict[tuple[str, ...], Status] = {}


def _status(reasons: tuple[str, ...]) -> Status:
    status = _CACHE.get(reasons)
    if status is None:
        status = _CACHE[reasons] = Status.unschedulable(*reasons, plugin=NAME)
    return status


def insufficient(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    """The reasons `pod` does not fit `node` (empty when it fits)."""
    found = shortfalls(pod.requests, pods=len(node.pods), allowed=node.allowed_pods,
                       allocatable=node.allocatable, used=node.requested)  # fmt: skip
    return tuple("Too many pods" if s.resource == PODS else f"Insufficient {s.resource}"
                 for s in found)  # fmt: skip


class NodeResourcesFit(Plugin):
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # The common case inline: cpu, memory and pod count only.
        req, alloc, used = pod.requests, node.allocatable, node.requested
        if (
            len(node.pods) < node.allowed_pods
            and req.milli_cpu <= alloc.milli_cpu - used.milli_cpu
            and req.memory <= alloc.memory - used.memory
            and (not req.ephemeral or req.ephemeral <= alloc.ephemeral - used.ephemeral)
            and not req.scalars
        ):
            return None
        reasons = insufficient(pod, node)
        return _status(reasons) if reasons else None


def least_allocated(requested: int, capacity: int) -> int:
    """0..100: the share of `capacity` left free after the pod."""
    if capacity <= 0 or requested > capacity:
        return 0
    return (capacity - requested) * 100 // capacity


class LeastAllocated(Plugin):
    """NodeResourcesFit's default scoring: prefer the node with the most cpu and memory free."""

    name = "NodeResourcesLeastAllocated"
    node_local = True

    def shape(self, pod: PodInfo) -> tuple[int, int]:
        return pod.non_zero_cpu, pod.non_zero_memory

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        # least_allocated() twice, inlined: this runs for hundreds of nodes per pod.
        alloc = node.allocatable
        capacity, used = alloc.milli_cpu, node.non_zero_cpu + pod.non_zero_cpu
        cpu = (capacity - used) * 100 // capacity if capacity > 0 and used <= capacity else 0
        capacity, used = alloc.memory, node.non_zero_memory + pod.non_zero_memory
        memory = (capacity - used) * 100 // capacity if capacity > 0 and used <= capacity else 0
        return (cpu + memory) // 2


class BalancedAllocation(Plugin):
    """Prefer the node where cpu and memory would be used in equal shares."""

    name = "NodeResourcesBalancedAllocation"
    node_local = True

    def shape(self, pod: PodInfo) -> tuple[int, int]:
        return pod.non_zero_cpu, pod.non_zero_memory

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        alloc = node.allocatable
        if alloc.milli_cpu <= 0 or alloc.memory <= 0:
            return 0
        cpu = (node.non_zero_cpu + pod.non_zero_cpu) / alloc.milli_cpu
        memory = (node.non_zero_memory + pod.non_zero_memory) / alloc.memory
        cpu = cpu if cpu < 1.0 else 1.0
        memory = memory if memory < 1.0 else 1.0
        # Standard deviation of two fractions is half their distance.
        return int((1 - abs(cpu - memory) / 2) * 100)
