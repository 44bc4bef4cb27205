"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods,
unless the pod tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint."""

from __future__ import annotations

from kybernetes.scheduler.framework import (
    SKIP,
    CycleState,
    Exclusions,
    Plugin,
    Snapshot,
    Status,
    _Skip,
)
from kybernetes.scheduler.plugins.tainttoleration import tolerates
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodeUnschedulable"]

NAME = "NodeUnschedulable"
UNSCHEDULABLE = Status.unresolvable("node(s) were unschedulable", plugin=NAME)
TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | Exclusions | _Skip | None:
        # Cordoned nodes are few and known to the cache: name them up front.
        failing = {
            n.name: UNSCHEDULABLE
            for n in snapshot.special_nodes.values()
            if self.filter(state, pod, n) is not None
        }
        return Exclusions(failing) if failing else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable or tolerates(pod.tolerations, TAINT):
            return None
        return UNSCHEDULABLE
