"""NodeName: a pod that names its node (`spec.nodeName` at creation) fits only there.

The scheduler never sees such pods (they are bound already); the plugin
matters for preemption's what-ifs and for pods whose nominated node is set.
"""

from __future__ import annotations

from kybernetes.scheduler.framework import SKIP, CycleState, Plugin, Snapshot, Status, _Skip
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodeName"]

NAME = "NodeName"
MISMATCH = Status.unresolvable("node(s) didn't match the requested node name", plugin=NAME)


class NodeName(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | _Skip | None:
        return None if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if node.name == pod.node_name else MISMATCH
