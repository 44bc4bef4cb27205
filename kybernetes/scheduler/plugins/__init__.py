"""The plugin registry: name -> plugin class, and the default profile.

One module per plugin (STYLE.md habit 7); adding one is a module and a line
here (habit 8). The default profile lists filters in kube-scheduler's order,
which decides which reason a node reports when several plugins reject it,
and the score weights kube-scheduler 1.32 uses.
"""

from __future__ import annotations

from kybernetes.scheduler.framework import Plugin
from kybernetes.scheduler.plugins.imagelocality import ImageLocality
from kybernetes.scheduler.plugins.interpodaffinity import InterPodAffinity
from kybernetes.scheduler.plugins.nodeaffinity import NodeAffinity
from kybernetes.scheduler.plugins.nodename import NodeName
from kybernetes.scheduler.plugins.nodeports import NodePorts
from kybernetes.scheduler.plugins.noderesources import (
    BalancedAllocation,
    LeastAllocated,
    NodeResourcesFit,
)
from kybernetes.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kybernetes.scheduler.plugins.podtopologyspread import PodTopologySpread
from kybernetes.scheduler.plugins.selectorspread import SelectorSpread
from kybernetes.scheduler.plugins.tainttoleration import TaintToleration

__all__ = ["DEFAULT_PROFILE", "DEFAULT_WEIGHTS", "REGISTRY", "make_plugins"]

REGISTRY: dict[str, type[Plugin]] = {
    plugin.name: plugin
    for plugin in (
        NodeUnschedulable,
        NodeName,
        TaintToleration,
        NodeAffinity,
        NodePorts,
        NodeResourcesFit,
        PodTopologySpread,
        InterPodAffinity,
        LeastAllocated,
        BalancedAllocation,
        ImageLocality,
        SelectorSpread,
    )
}

DEFAULT_PROFILE: tuple[str, ...] = tuple(REGISTRY)

DEFAULT_WEIGHTS: dict[str, int] = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesLeastAllocated": 1,
    "NodeResourcesBalancedAllocation": 1,
    "ImageLocality": 1,
    "SelectorSpread": 2,
}


def make_plugins(names: tuple[str, ...] = DEFAULT_PROFILE) -> list[Plugin]:
    return [REGISTRY[name]() for name in names]
