"""InterPodAffinity: required pod affinity and anti-affinity filter, preferred ones score.

Three rules, each counted per topology value (the value of the term's
topologyKey label on the node a pod runs on):
- the pod's required anti-affinity: no node whose topology value holds a
  pod matching the term;
- existing pods' required anti-affinity: no node whose topology value holds
  a pod whose anti-affinity term matches this pod (symmetry);
- the pod's required affinity: only nodes whose topology value holds a
  matching pod — unless no pod matches at all and the pod matches its own
  terms (the first pod of a group must land somewhere).

pre_filter counts once per pod through the cache's indexes (placed pods by
label, existing anti-affinity terms with their counts), never by walking
every pod, so the per-node filter is a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from kybernetes.scheduler.types import AffinityTerm, NodeInfo, PodInfo

__all__ = ["InterPodAffinity", "AffinityState", "count_by_topology"]

NAME = "InterPodAffinity"
EXISTING_ANTI = Status.unschedulable(
    "node(s) didn't satisfy existing pods anti-affinity rules", plugin=NAME
)
ANTI = Status.unschedulable("node(s) didn't match pod anti-affinity rules", plugin=NAME)
AFFINITY = Status.unresolvable("node(s) didn't match pod affinity rules", plugin=NAME)


def count_by_topology(term: AffinityTerm, snapshot: Snapshot) -> dict[str, int]:
    """How many placed pods match `term`, per value of its topology key."""
    counts: dict[str, int] = {}
    nodes = snapshot.nodes
    key = term.topology_key
    for other in snapshot.pods_matching(term.namespaces, term.selector):
        node = nodes.get(other.node_name)
        value = node.labels.get(key) if node is not None else None
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return counts


class AffinityState:
    __slots__ = ("affinity", "affinity_anywhere", "anti", "existing", "existing_keys")

    def __init__(self, pod: PodInfo, snapshot: Snapshot) -> None:
        self.existing = snapshot.anti_affinity_counts(pod)
        self.existing_keys = sorted({key for key, _ in self.existing})
        self.anti = [
            (t.topology_key, count_by_topology(t, snapshot)) for t in pod.anti_affinity_terms
        ]
        self.affinity = [
            (t.topology_key, count_by_topology(t, snapshot)) for t in pod.affinity_terms
        ]
        # No pod matches any affinity term, but the pod matches them all itself.
        self.affinity_anywhere = (
            bool(pod.affinity_terms)
            and not any(counts for _, counts in self.affinity)
            and all(t.matches(pod) for t in pod.affinity_terms)
        )

    def check(self, node: NodeInfo) -> Status | None:
        """kube-scheduler's order: the pod's affinity, its anti-affinity, then existing pods'."""
        labels = node.labels
        for key, counts in self.affinity:
            value = labels.get(key)
            if value is None or not (self.affinity_anywhere or counts.get(value)):
                return AFFINITY
        for key, counts in self.anti:
            value = labels.get(key)
            if value is not None and counts.get(value):
                return ANTI
        for key in self.existing_keys:
            value = labels.get(key)
            if value is not None and self.existing.get((key, value)):
                return EXISTING_ANTI
        return None


class InterPodAffinity(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | Exclusions | _Skip | None:
        computed = AffinityState(pod, snapshot)
        if not computed.existing and not pod.affinity_terms and not pod.anti_affinity_terms:
            return SKIP
        if pod.affinity_terms:
            state[NAME] = computed
            return None
        # Anti-affinity only: the nodes it rules out are those in the topology
        # values already counted, found through the cache's node label index,
        # so the per-node loop never calls this plugin.
        failing: dict[str, Status] = {}
        for key, counts in computed.anti:
            for value, count in counts.items():
                if count:
                    for name in snapshot.nodes_labelled(key, value):
                        failing.setdefault(name, ANTI)
        for (key, value), count in computed.existing.items():
            if count:
                for name in snapshot.nodes_labelled(key, value):
                    failing.setdefault(name, EXISTING_ANTI)
        return Exclusions(failing)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        computed: AffinityState = state[NAME]
        return computed.check(node)

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        weighted: list[tuple[str, dict[str, int], int]] = []
        for item in pod.preferred_affinity:
            weighted.append(
                (item.term.topology_key, count_by_topology(item.term, snapshot), item.weight)
            )
        for item in pod.preferred_anti_affinity:
            weighted.append(
                (item.term.topology_key, count_by_topology(item.term, snapshot), -item.weight)
            )
        state[NAME + "/score"] = weighted
        return bool(weighted)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        total = 0
        for key, counts, weight in state[NAME + "/score"]:
            value = node.labels.get(key)
            if value is not None:
                total += weight * counts.get(value, 0)
        return total

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        low, high = min(scores, default=0), max(scores, default=0)
        for i, value in enumerate(scores):
            scores[i] = 0 if high == low else (value - low) * MAX_NODE_SCORE // (high - low)
