"""TaintToleration: NoSchedule and NoExecute taints keep out pods that do not
tolerate them; PreferNoSchedule taints only lower the node's score.

The reason names the first untolerated taint as kube-scheduler 1.32 does:
`node(s) had untolerated taint {key: value}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kybernetes.api.tolerations import tolerates as toleration_tolerates
from kybernetes.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    Exclusions,
    Plugin,
    Snapshot,
    Status,
    _Skip,
)
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["TaintToleration", "tolerates", "untolerated_taint"]

NAME = "TaintToleration"
Obj = dict[str, Any]
_STATUSES: dict[tuple[str, str], Status] = {}


def tolerates(tolerations: Sequence[Obj], taint: Obj) -> bool:
    """Whether any toleration tolerates `taint` (v1 Toleration.ToleratesTaint)."""
    return any(toleration_tolerates(tol, taint) for tol in tolerations)


def untolerated_taint(tolerations: Sequence[Obj], taints: Sequence[Obj]) -> Obj | None:
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return taint
    return None


def _status(taint: Obj) -> Status:
    key = (str(taint.get("key") or ""), str(taint.get("value") or ""))
    status = _STATUSES.get(key)
    if status is None:
        status = _STATUSES[key] = Status.unresolvable(
            f"node(s) had untolerated taint {{{key[0]}: {key[1]}}}", plugin=NAME
        )
    return status


class TaintToleration(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | Exclusions | _Skip | None:
        # Tainted nodes are known to the cache: name the ones this pod cannot take.
        failing: dict[str, Status] = {}
        for node in snapshot.special_nodes.values():
            status = self.filter(state, pod, node)
            if status is not None:
                failing[node.name] = status
        return Exclusions(failing) if failing else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = untolerated_taint(pod.tolerations, node.taints)
        return None if taint is None else _status(taint)

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        prefer = [
            t
            for t in pod.tolerations
            if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"
        ]
        state[NAME] = prefer
        # Only tainted nodes can score differently; the cache knows which those are.
        return any(
            t.get("effect") == "PreferNoSchedule"
            for n in snapshot.special_nodes.values()
            for t in n.taints
        )

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state[NAME]
        return sum(
            1
            for t in node.taints
            if t.get("effect") == "PreferNoSchedule" and not tolerates(tolerations, t)
        )

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        # Fewer intolerable taints is better: reverse, scaled to 0..100.
        worst = max(scores, default=0)
        for i, count in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if worst == 0 else (worst - count) * MAX_NODE_SCORE // worst
