"""NodeAffinity: nodeSelector and required node affinity filter, preferred affinity scores.

A node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt on
labels; In/NotIn on the field `metadata.name`) is not a label selector:
Gt and Lt compare integers, and the terms of `nodeSelectorTerms` are ORed
while the requirements inside one term are ANDed; a term with no
requirement matches nothing. Both the nodeSelector map and the required
affinity must hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kybernetes.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    Plugin,
    Snapshot,
    Status,
    _Skip,
)
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodeAffinity", "node_matches_term", "requirement_matches"]

NAME = "NodeAffinity"
Obj = dict[str, Any]
MISMATCH = Status.unresolvable("node(s) didn't match Pod's node affinity/selector", plugin=NAME)
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _int(text: Any) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def requirement_matches(req: Obj, values: dict[str, str]) -> bool:
    """One NodeSelectorRequirement against a node's labels (or fields)."""
    key, op = req.get("key") or "", req.get("operator") or ""
    wanted = [str(v) for v in req.get("values") or []]
    have = values.get(key)
    if op == "In":
        return have is not None and have in wanted
    if op == "NotIn":
        return have is None or have not in wanted
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and len(wanted) == 1:
        left, right = _int(have), _int(wanted[0])
        if left is None or right is None:
            return False
        return left > right if op == "Gt" else left < right
    return False


def node_matches_term(term: Obj, node: NodeInfo) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    if not all(requirement_matches(r, node.labels) for r in expressions):
        return False
    names = {"metadata.name": node.name}
    return all(requirement_matches(r, names) for r in fields)


def required_matches(pod: PodInfo, node: NodeInfo) -> bool:
    """nodeSelector and required node affinity (the part PodTopologySpread also honours)."""
    spec = pod.obj.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    labels = node.labels
    for key, value in selector.items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED)
    if required is None:
        return True
    return any(node_matches_term(t, node) for t in required.get("nodeSelectorTerms") or [])


class NodeAffinity(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | _Skip | None:
        spec = pod.obj.get("spec") or {}
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        if not spec.get("nodeSelector") and node_affinity.get(REQUIRED) is None:
            return SKIP
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if required_matches(pod, node) else MISMATCH

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        spec = pod.obj.get("spec") or {}
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        preferred = [p for p in node_affinity.get(PREFERRED) or [] if isinstance(p, dict)]
        state[NAME] = preferred
        return bool(preferred)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(
            int(p.get("weight") or 0)
            for p in state[NAME]
            if node_matches_term(p.get("preference") or {}, node)
        )

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        best = max(scores, default=0)
        if best > 0:
            for i, value in enumerate(scores):
                scores[i] = value * MAX_NODE_SCORE // best
