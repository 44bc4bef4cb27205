"""The ReplicationController manager: the ReplicaSet controller over core/v1
ReplicationControllers.

A ReplicationController is a ReplicaSet with an equality-based selector (a
plain map), so this is the ReplicaSet controller with its kind and selector
swapped, as Kubernetes' replication manager wraps its ReplicaSet
controller: every decision (how many pods, which to delete, adoption,
status) is `replicaset_decisions`, unchanged.
"""

from __future__ import annotations

from kybernetes.api.selectors import LabelSelector, label_selector_from_set
from kybernetes.controllers.replicaset import Obj, ReplicaSetController

__all__ = ["ReplicationManager"]


class ReplicationManager(ReplicaSetController):
    GROUP, VERSION, PLURAL = "", "v1", "replicationcontrollers"
    COMPONENT = "replication-controller"

    def selector(self, rs: Obj) -> LabelSelector:
        # An empty map would select everything; the API server never stores one.
        return label_selector_from_set((rs.get("spec") or {}).get("selector") or {"": ""})
