"""NodePorts: two pods cannot take the same host port and protocol on one node.

A hostIP of 0.0.0.0 (the default) conflicts with every hostIP for that
port and protocol; two different specific hostIPs do not conflict.
"""

from __future__ import annotations

from kybernetes.scheduler.framework import SKIP, CycleState, Plugin, Snapshot, Status, _Skip
from kybernetes.scheduler.types import NodeInfo, PodInfo

__all__ = ["NodePorts", "ports_conflict"]

NAME = "NodePorts"
CONFLICT = Status.unschedulable(
    "node(s) didn't have free ports for the requested pod ports", plugin=NAME
)
ANY_IP = "0.0.0.0"


def ports_conflict(pod: PodInfo, node: NodeInfo) -> bool:
    for ip, protocol, port in pod.host_ports:
        used = node.used_ports.get((protocol, port))
        if used and (ip == ANY_IP or ANY_IP in used or ip in used):
            return True
    return False


class NodePorts(Plugin):
    name = NAME

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> Status | _Skip | None:
        return None if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return CONFLICT if node.used_ports and ports_conflict(pod, node) else None
