"""Preemption: which lower-priority pods to evict so a pending pod fits (pure).

kube-scheduler's DefaultPreemption, its decisions only:
- only nodes that rejected the pod as UNSCHEDULABLE are candidates (taints,
  node affinity … are not helped by evicting anything);
- on a candidate, take every lower-priority pod off; if the pod still does
  not fit, the node is out; otherwise put pods back, most important first
  (higher priority, then older), and keep as victims only those whose
  return makes the pod not fit — the minimal set, most important spared;
- among candidates, pick the node whose most important victim has the
  lowest priority, then the lowest sum of victim priorities, then the
  fewest victims.
The scheduler then nominates the node, marks and deletes the victims.

Once a node is chosen, the scheduler nominates the pod there and the cache
keeps that room: pods of lower priority are filtered as if the nominated pod
were already placed (cache.nominated_for), so the space freed by the
victims goes to the pod it was freed for.

Known gap: the affinity plugins' pre-computed counts still include the
victims (kube-scheduler adjusts them with AddPod/RemovePod extensions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kybernetes.scheduler.framework import (
    UNRESOLVABLE,
    UNSCHEDULABLE,
    CycleState,
    FitError,
    Status,
)
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = [
    "NOT_HELPFUL",
    "NO_VICTIMS",
    "Preemption",
    "pick_node",
    "plugins_of",
    "preempt",
    "select_victims",
]

NOT_HELPFUL = Status.unresolvable(
    "Preemption is not helpful for scheduling", plugin="DefaultPreemption"
)
NO_VICTIMS = Status.unresolvable(
    "No preemption victims found for incoming pod", plugin="DefaultPreemption"
)

Filters = Callable[[CycleState, PodInfo, NodeInfo], Status | None]


@dataclass
class Preemption:
    """A node and the pods to evict there, or (node "") why preemption cannot help."""

    node: str = ""
    victims: list[PodInfo] = field(default_factory=list)
    message: str = ""


def _importance(pod: PodInfo) -> tuple[int, str]:
    return (-pod.priority, pod.start_time)  # sorts the most important first


def select_victims(
    pod: PodInfo, node: NodeInfo, fits: Callable[[NodeInfo], Status | None]
) -> tuple[list[PodInfo], Status | None]:
    """The minimal set of lower-priority pods on `node` to evict, or the status why none works."""
    potential = sorted(
        (p for p in node.pods.values() if p.priority < pod.priority), key=_importance
    )
    if not potential:
        return [], NO_VICTIMS
    trial = node.without(potential)
    status = fits(trial)
    if status is not None:
        return [], status
    victims: list[PodInfo] = []
    for candidate in potential:
        trial.add_pod(candidate)
        if fits(trial) is not None:
            trial.add_pod(candidate, -1)
            victims.append(candidate)
    return victims, None


def pick_node(candidates: dict[str, list[PodInfo]]) -> str:
    def cost(name: str) -> tuple[int, int, int]:
        victims = candidates[name]
        return (max(v.priority for v in victims), sum(v.priority for v in victims), len(victims))

    return min(candidates, key=cost)


def preempt(
    pod: PodInfo,
    error: FitError,
    nodes: Sequence[NodeInfo],
    fits: Callable[[NodeInfo], Status | None],
) -> Preemption:
    """Where to preempt for `pod` after `error`; message set when nowhere."""
    spec = pod.obj.get("spec") or {}
    if spec.get("preemptionPolicy") == "Never":
        return Preemption(message="preemption: not eligible due to preemptionPolicy=Never.")
    nominated = str((pod.obj.get("status") or {}).get("nominatedNodeName") or "")
    status = error.statuses.get(nominated)
    if nominated and (status is None or status.code != UNRESOLVABLE):
        # Victims chosen earlier are still going: wait for them, do not pick more.
        for node in nodes:
            if node.name == nominated and any(
                p.priority < pod.priority and p.deleting for p in node.pods.values()
            ):
                return Preemption(message="preemption: not eligible due to a terminating pod "
                                  "on the nominated node.")  # fmt: skip
    statuses: dict[str, Status] = {}
    candidates: dict[str, list[PodInfo]] = {}
    for node in nodes:
        status = error.statuses.get(node.name)
        if status is None or status.code != UNSCHEDULABLE:
            statuses[node.name] = NOT_HELPFUL
            continue
        victims, failed = select_victims(pod, node, fits)
        if failed is not None:
            statuses[node.name] = failed
        elif victims:
            candidates[node.name] = victims
    if candidates:
        chosen = pick_node(candidates)
        return Preemption(node=chosen, victims=candidates[chosen])
    inner = FitError(error.num_all_nodes, statuses)
    return Preemption(message=f"preemption: {inner.message()}")


def plugins_of(error: FitError) -> set[str]:
    """The plugins that rejected the pod somewhere (what a cluster change must help)."""
    return {s.plugin for s in error.statuses.values() if s.plugin}
