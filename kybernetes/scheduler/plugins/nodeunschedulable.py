"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods,
unless the pod tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint."""

from __future__ import annotations

from kybernetes.scheduler.framework import CycleState, Plugin, Status
from kybernetes.scheduler.plugins.tainttoleration import tolerates
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodeUnschedulable"]

NAME = "NodeUnschedulable"
UNSCHEDULABLE = Status.unresolvable("node(s) were unschedulable", plugin=NAME)
TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable(Plugin):
    name = NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable or tolerates(pod.tolerations, TAINT):
            return None
        return UNSCHEDULABLE
