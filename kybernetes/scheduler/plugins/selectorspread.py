"""SelectorSpread: spread the pods of one controller (ReplicaSet, StatefulSet, …) across nodes.

Each node counts the pods it holds per controller uid (types.NodeInfo),
so the score is one lookup: the fewer pods of this pod's controller a node
has, the higher it scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin, Snapshot
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["SelectorSpread"]


class SelectorSpread(Plugin):
    name = "SelectorSpread"

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        return bool(pod.controller_uid)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return node.controller_counts.get(pod.controller_uid, 0)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        most = max(scores, default=0)
        for i, count in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if most == 0 else (most - count) * MAX_NODE_SCORE // most
