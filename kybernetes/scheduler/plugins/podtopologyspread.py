"""PodTopologySpread: `topologySpreadConstraints` keep matching pods evenly spread.

For each constraint, matching pods (the constraint's selector, the pod's
namespace) are counted per topology value over the nodes that qualify (they
match the pod's nodeSelector/required node affinity and carry the topology
key). DoNotSchedule filters: placing the pod in a domain may not make that
domain exceed the emptiest one by more than maxSkew. ScheduleAnyway scores:
the fewer matching pods in the node's domain, the better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kybernetes.api.selectors import SelectorError
from kybernetes.api.selectors.labels import LabelSelector, label_selector_from_object
from kybernetes.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    Plugin,
    Snapshot,
    Status,
    _Skip,
)
from kybernetes.scheduler.plugins.nodeaffinity import required_matches
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["Constraint", "PodTopologySpread", "constraints_of", "domain_counts"]

NAME = "PodTopologySpread"
SKEW = Status.unschedulable("node(s) didn't match pod topology spread constraints", plugin=NAME)
MISSING = Status.unresolvable(
    "node(s) didn't match pod topology spread constraints (missing required label)", plugin=NAME
)


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    hard: bool
    selector: LabelSelector


def constraints_of(pod: PodInfo) -> list[Constraint]:
    out: list[Constraint] = []
    for raw in (pod.obj.get("spec") or {}).get("topologySpreadConstraints") or []:
        if not isinstance(raw, dict):
            continue
        try:
            selector = label_selector_from_object(raw.get("labelSelector"))
        except SelectorError:
            continue
        out.append(
            Constraint(
                int(raw.get("maxSkew") or 1),
                str(raw.get("topologyKey") or ""),
                raw.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                selector,
            )
        )
    return out


def domain_counts(
    pod: PodInfo, constraints: Sequence[Constraint], snapshot: Snapshot
) -> list[dict[str, int]]:
    """Per constraint: matching pods per topology value, over qualifying nodes only."""
    keys = [c.topology_key for c in constraints]
    qualifying: dict[str, NodeInfo] = {}
    result: list[dict[str, int]] = [{} for _ in constraints]
    for node in snapshot.node_list:
        if all(k in node.labels for k in keys) and required_matches(pod, node):
            qualifying[node.name] = node
            for i, key in enumerate(keys):
                result[i].setdefault(node.labels[key], 0)
    namespace = frozenset((pod.namespace,))
    for i, constraint in enumerate(constraints):
        counts = result[i]
        for other in snapshot.pods_matching(namespace, constraint.selector):
            where = qualifying.get(other.node_name)
            if where is not None:
                value = where.labels[constraint.topology_key]
                counts[value] += 1
    return result


@dataclass
class _State:
    constraints: list[Constraint]
    counts: list[dict[str, int]]
    minimum: list[int]
    self_match: list[int]


def _state(pod: PodInfo, constraints: list[Constraint], snapshot: Snapshot) -> _State:
    counts = domain_counts(pod, constraints, snapshot)
    return _State(
        constraints,
        counts,
        [min(c.values(), default=0) for c in counts],
        [1 if c.selector.matches(pod.labels) else 0 for c in constraints],
    )


class PodTopologySpread(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | _Skip | None:
        hard = [c for c in constraints_of(pod) if c.hard]
        if not hard:
            return SKIP
        state[NAME] = _state(pod, hard, snapshot)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        computed: _State = state[NAME]
        for i, constraint in enumerate(computed.constraints):
            value = node.labels.get(constraint.topology_key)
            if value is None:
                return MISSING
            skew = computed.counts[i].get(value, 0) + computed.self_match[i] - computed.minimum[i]
            if skew > constraint.max_skew:
                return SKEW
        return None

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        soft = [c for c in constraints_of(pod) if not c.hard]
        if not soft:
            return False
        state[NAME + "/score"] = _state(pod, soft, snapshot)
        return True

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        computed: _State = state[NAME + "/score"]
        total = 0
        for i, constraint in enumerate(computed.constraints):
            value = node.labels.get(constraint.topology_key)
            if value is not None:
                total += computed.counts[i].get(value, 0)
        return total

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        low, high = min(scores, default=0), max(scores, default=0)
        for i, value in enumerate(scores):
            scores[i] = (
                MAX_NODE_SCORE if high == low else (high - value) * MAX_NODE_SCORE // (high - low)
            )
