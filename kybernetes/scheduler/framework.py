"""The scheduling framework: plugins at extension points, and one cycle over them.

kube-scheduler's framework, cut to the extension points these plugins
need: `pre_filter` (once per pod: parse and precompute, or say the plugin
has nothing to check — SKIP — so the per-node loop never calls it),
`filter` (per node: None when the node fits, else a Status whose reasons
end up in the pod's FailedScheduling event), `pre_score`/`score` (per
feasible node, an integer) and `normalize` (scores to 0..100). A plugin
overrides only the points it uses; the framework notices which.

`Framework.schedule` is pure over a snapshot (the cache): the serial
scheduling cycle. It stops filtering once enough feasible nodes are found
(kube-scheduler's percentageOfNodesToScore) and starts each cycle where the
last one stopped, so every node gets its turn.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = [
    "ERROR",
    "MAX_NODE_SCORE",
    "SKIP",
    "UNSCHEDULABLE",
    "UNRESOLVABLE",
    "CycleState",
    "Exclusions",
    "FitError",
    "Framework",
    "Plugin",
    "Prepared",
    "ScheduleResult",
    "Snapshot",
    "Status",
    "num_feasible_nodes_to_find",
]

ERROR, UNSCHEDULABLE, UNRESOLVABLE = 1, 2, 3
MAX_NODE_SCORE = 100
NO_NODES = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
DEFAULT_PERCENTAGE = 50

CycleState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    """Why a plugin rejects a pod (or a node for it).

    UNSCHEDULABLE: removing pods could help (preemption will try);
    UNRESOLVABLE: nothing short of a change to the node or the pod will.
    """

    code: int
    reasons: tuple[str, ...]
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(UNSCHEDULABLE, reasons, plugin)

    @classmethod
    def unresolvable(cls, *reasons: str, plugin: str = "") -> Status:
        return cls(UNRESOLVABLE, reasons, plugin)


class _Skip:
    """pre_filter's answer when the plugin has nothing to check for this pod."""


SKIP = _Skip()


@dataclass(frozen=True, slots=True)
class Exclusions:
    """pre_filter's answer when the plugin knows up front which nodes fail, and why.

    The framework then never calls the plugin's per-node filter: a node not
    named passes it, a node named fails with its status (unless a filter
    earlier in the profile's order rejects it first, as it would in order).
    Taints, cordons and anti-affinity touch few nodes: this keeps them out
    of the per-node loop.
    """

    statuses: dict[str, Status]


Filter = Callable[[dict[str, Any], PodInfo, NodeInfo], "Status | None"]


class Prepared:
    """The outcome of the pre-filters for one pod: what each node is checked against."""

    __slots__ = ("excluded", "filters", "pod", "rejected", "state")

    def __init__(
        self,
        filters: list[tuple[int, Filter]],
        excluded: dict[str, tuple[int, Status]],
        state: CycleState,
        pod: PodInfo,
        *,
        rejected: Status | None = None,
    ) -> None:
        self.filters = filters
        self.excluded = excluded
        self.state = state
        self.pod = pod
        self.rejected = rejected

    def check(self, node: NodeInfo) -> Status | None:
        """Every filter on one node, in the profile's order (None: the pod fits)."""
        if self.rejected is not None:
            return self.rejected
        exclusion = self.excluded.get(node.name)
        for order, check in self.filters:
            if exclusion is not None and order > exclusion[0]:
                return exclusion[1]
            status = check(self.state, self.pod, node)
            if status is not None:
                return status
        return exclusion[1] if exclusion is not None else None


class Snapshot:
    """What plugins may read: every node, and every placed pod (cache.py)."""

    nodes: dict[str, NodeInfo]
    node_list: list[NodeInfo]
    nominated: dict[str, dict[str, PodInfo]]  # node -> pending pods nominated to it

    def nominated_for(self, node: str, pod: PodInfo) -> list[PodInfo]:
        raise NotImplementedError

    special_nodes: dict[str, NodeInfo]  # tainted or cordoned
    image_nodes: dict[str, int]  # image name -> how many nodes have it

    def nodes_labelled(self, key: str, value: str) -> Iterable[str]:
        raise NotImplementedError

    def pods_matching(self, namespaces: frozenset[str] | None, selector: Any) -> Iterable[PodInfo]:
        raise NotImplementedError

    def anti_affinity_counts(self, pod: PodInfo) -> dict[tuple[str, str], int]:
        raise NotImplementedError


class Plugin:
    """A scheduler plugin; override only the extension points it needs."""

    name: ClassVar[str] = ""
    # A node-local score needs no pre_score or normalize and depends only on the
    # node and on `shape(pod)`: the framework may reuse it while neither changes.
    node_local: ClassVar[bool] = False

    def shape(self, pod: PodInfo) -> Any:
        """What of the pod a node-local score depends on."""
        return None

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | Exclusions | _Skip | None:
        """Once per pod: SKIP (no per-node check needed), Exclusions (the failing nodes,
        named), a Status (the pod fits nowhere) or None (run `filter` on every node)."""
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo], snapshot: Snapshot
    ) -> bool:
        """False: every node would score the same, skip this plugin's scoring."""
        return True

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return 0

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None

    @classmethod
    def has(cls, point: str) -> bool:
        return getattr(cls, point) is not getattr(Plugin, point)


@dataclass
class FitError:
    """No node fits: the per-node statuses behind the "0/N nodes are available" message."""

    num_all_nodes: int
    statuses: dict[str, Status] = field(default_factory=dict)
    pre_filter_message: str = ""
    post_filter_message: str = ""

    def message(self) -> str:
        if self.num_all_nodes == 0:
            return NO_NODES
        text = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_message:
            text += f" {self.pre_filter_message}."
        else:
            histogram = reasons_histogram(self.statuses.values())
            if histogram:
                text += f" {histogram}."
        if self.post_filter_message:
            text += f" {self.post_filter_message}"
        return text


def reasons_histogram(statuses: Iterable[Status]) -> str:
    """ "1 Insufficient cpu, 2 node(s) had …": counts per reason, sorted as text."""
    counts: dict[str, int] = {}
    for status in statuses:
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(sorted(f"{count} {reason}" for reason, count in counts.items()))


def num_feasible_nodes_to_find(num_all: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring (kube-scheduler's
    adaptive percentageOfNodesToScore: 50% - nodes/125, at least 5%, at least 100 nodes)."""
    if num_all < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all
    if percentage <= 0:
        percentage = max(DEFAULT_PERCENTAGE - num_all // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
    found = num_all * percentage // 100
    return max(found, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass
class ScheduleResult:
    node: str = ""
    error: FitError | None = None
    evaluated: int = 0
    feasible: int = 0


class Framework:
    """The plugins of one profile, in order, with their score weights."""

    def __init__(
        self,
        plugins: Sequence[Plugin],
        weights: dict[str, int],
        *,
        percentage_of_nodes_to_score: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.plugins = list(plugins)
        self.weights = weights
        self.percentage = percentage_of_nodes_to_score
        self._rng = rng or random.Random()
        self._next_start = 0
        self.pre_filters = [p for p in self.plugins if p.has("pre_filter")]
        self.filters = [p for p in self.plugins if p.has("filter")]
        self.scorers = [p for p in self.plugins if p.has("score") and weights.get(p.name, 0) > 0]
        self._order = {p.name: i for i, p in enumerate(self.plugins)}
        self._local = [(p, weights[p.name]) for p in self.scorers if p.node_local]
        self._local_memo: dict[str, tuple[int, tuple[Any, ...], int]] = {}

    def run_pre_filters(self, state: CycleState, pod: PodInfo, snapshot: Snapshot) -> Prepared:
        """What to check on each node for this pod, or the Status that rejects it everywhere."""
        skipped: set[str] = set()
        excluded: dict[str, tuple[int, Status]] = {}
        for plugin in self.pre_filters:
            result = plugin.pre_filter(state, pod, snapshot)
            if result is SKIP:
                skipped.add(plugin.name)
            elif isinstance(result, Exclusions):
                skipped.add(plugin.name)
                order = self._order[plugin.name]
                for name, status in result.statuses.items():
                    if name not in excluded or excluded[name][0] > order:
                        excluded[name] = (order, status)
            elif isinstance(result, Status):
                return Prepared([], {}, state, pod, rejected=result)
        filters: list[tuple[int, Filter]] = []
        for plugin in self.filters:
            if plugin.name not in skipped:
                filters.append((self._order[plugin.name], plugin.filter))
        return Prepared(filters, excluded, state, pod)

    def schedule(self, pod: PodInfo, snapshot: Snapshot) -> ScheduleResult:
        """One scheduling cycle for `pod`: the chosen node, or why none fits."""
        nodes = snapshot.node_list
        total = len(nodes)
        if total == 0:
            return ScheduleResult(error=FitError(0))
        state: CycleState = {}
        prepared = self.run_pre_filters(state, pod, snapshot)
        if prepared.rejected is not None:
            message = ", ".join(prepared.rejected.reasons)
            rejected_all = {n.name: prepared.rejected for n in nodes}
            return ScheduleResult(error=FitError(total, rejected_all, pre_filter_message=message))
        nominated = str(((pod.obj.get("status") or {}).get("nominatedNodeName")) or "")
        if nominated and nominated in snapshot.nodes:
            node = snapshot.nodes[nominated]
            if node.node is not None and prepared.check(node) is None:
                return ScheduleResult(node=nominated, evaluated=1, feasible=1)
        wanted = num_feasible_nodes_to_find(total, self.percentage)
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        start = self._next_start % total
        evaluated = 0
        excluded = prepared.excluded
        reserved = snapshot.nominated
        checks = [check for _, check in prepared.filters]
        special = excluded.keys() | reserved.keys() if excluded or reserved else ()
        only = checks[0] if len(checks) == 1 else None
        # The hot loop, in rotation from `start`: nodes named up front (ruled out by a
        # pre-filter, or keeping room for a nominated pod) take the slow path; the
        # rest run the per-node filters, inlined for the usual case of just one.
        for node in itertools.chain(nodes[start:], nodes[:start]):
            evaluated += 1
            if special and node.name in special:
                status = self._check_special(prepared, snapshot, pod, node)
            elif only is not None:
                status = only(state, pod, node)
            else:
                status = None
                for check in checks:
                    status = check(state, pod, node)
                    if status is not None:
                        break
            if status is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                statuses[node.name] = status
        self._next_start = (start + evaluated) % total
        if not feasible:
            return ScheduleResult(error=FitError(total, statuses), evaluated=evaluated)
        if len(feasible) == 1:
            return ScheduleResult(node=feasible[0].name, evaluated=evaluated, feasible=1)
        return ScheduleResult(
            node=self._select(state, pod, feasible, snapshot),
            evaluated=evaluated,
            feasible=len(feasible),
        )

    @staticmethod
    def _check_special(
        prepared: Prepared, snapshot: Snapshot, pod: PodInfo, node: NodeInfo
    ) -> Status | None:
        if node.name in prepared.excluded:
            return prepared.check(node)
        # Room kept for pods preemption made room for: they count as placed.
        waiting = snapshot.nominated_for(node.name, pod)
        return prepared.check(node.with_pods(waiting) if waiting else node)

    def _select(
        self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo], snapshot: Snapshot
    ) -> str:
        totals = self._node_local_totals(pod, feasible)
        for plugin in self.scorers:
            if plugin.node_local or not plugin.pre_score(state, pod, feasible, snapshot):
                continue
            score = plugin.score
            scores = [score(state, pod, node) for node in feasible]
            plugin.normalize(state, pod, scores)
            weight = self.weights[plugin.name]
            for i, value in enumerate(scores):
                totals[i] += value * weight
        # The best score; ties broken at random, as kube-scheduler does.
        best = max(totals)
        ties = [i for i, value in enumerate(totals) if value == best]
        return feasible[ties[self._rng.randrange(len(ties))] if len(ties) > 1 else ties[0]].name

    def _node_local_totals(self, pod: PodInfo, feasible: list[NodeInfo]) -> list[int]:
        """The weighted sum of the node-local scores, remembered per node.

        A node-local score depends only on the node's own state and the pod's
        `shape`; a node's state changes only when a pod lands on or leaves it
        (its generation), so for pods of one shape — the replicas of a
        Deployment — nearly every node's sum is the one computed last time.
        """
        local = self._local
        if not local:
            return [0] * len(feasible)
        shape = tuple(plugin.shape(pod) for plugin, _ in local)
        memo = self._local_memo
        totals: list[int] = []
        append = totals.append
        for node in feasible:
            known = memo.get(node.name)
            if known is not None and known[0] == node.generation and known[1] == shape:
                append(known[2])
                continue
            total = 0
            for plugin, weight in local:
                total += plugin.score({}, pod, node) * weight
            memo[node.name] = (node.generation, shape, total)
            append(total)
        return totals
