"""scheduling.k8s.io/v1 PriorityClasses: the kind, the built-in classes, and pod priority admission.

- A PriorityClass maps a name to an integer `value`; `value` and
  `preemptionPolicy` are immutable (kube-apiserver's validation words).
- Every cluster has `system-cluster-critical` and `system-node-critical`
  (kube-apiserver's bootstrap PriorityClasses, same values).
- The Priority admission step: a pod naming `priorityClassName` gets that
  class's value in `spec.priority` and its `preemptionPolicy`; an unknown
  name is refused (403) as kube-apiserver refuses it. Pods without a class
  keep priority 0 (a `globalDefault` class is not applied: that would cost
  every pod create a list of the classes).
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceRegistry
from kybernetes.apiserver.storage import ObjectStorage
from kybernetes.apiserver.strategy import Strategy

__all__ = ["BUILTIN_PRIORITY_CLASSES", "PriorityClassStrategy", "admit_pod_priority"]

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
POLICIES = ("PreemptLowerPriority", "Never")

BUILTIN_PRIORITY_CLASSES: tuple[Obj, ...] = (
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": "system-node-critical"}, "value": 2_000_001_000,
     "description": "Used for system critical pods that must not be moved from their current "
                    "node."},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": "system-cluster-critical"}, "value": 2_000_000_000,
     "description": "Used for system critical pods that must run in the cluster, but can be "
                    "moved to another node if necessary."},
)  # fmt: skip
_BUILTIN_NAMES = {c["metadata"]["name"] for c in BUILTIN_PRIORITY_CLASSES}


class PriorityClassStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")

    def validate(self, obj: Obj) -> list[Cause]:
        value = obj.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            return [Cause("value", "FieldValueRequired", "Required value")]
        causes: list[Cause] = []
        name = (obj.get("metadata") or {}).get("name") or ""
        if value > HIGHEST_USER_DEFINABLE_PRIORITY and name not in _BUILTIN_NAMES:
            causes.append(Cause("value", "FieldValueForbidden", "Forbidden: maximum allowed "
                                f"value of a user defined priority is "
                                f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))  # fmt: skip
        policy = obj.get("preemptionPolicy")
        if policy not in POLICIES:
            causes.append(Cause("preemptionPolicy", "FieldValueNotSupported",
                                f'Unsupported value: "{policy}": supported values: '
                                '"Never", "PreemptLowerPriority"'))  # fmt: skip
        return causes

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(new)
        if new.get("value") != old.get("value"):
            causes.append(Cause("value", "FieldValueForbidden",
                                "Forbidden: may not be changed in an update."))  # fmt: skip
        if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
            causes.append(Cause("preemptionPolicy", "FieldValueInvalid",
                                "Invalid value: field is immutable"))  # fmt: skip
        return causes


async def admit_pod_priority(storage: ObjectStorage, registry: ResourceRegistry, pod: Obj) -> None:
    """Resolve `spec.priorityClassName` into `spec.priority` (mutates `pod`)."""
    spec: dict[str, Any] = pod.get("spec") or {}
    name = spec.get("priorityClassName")
    if not name:
        return
    rt = registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
    assert rt is not None
    try:
        found = await storage.cached_get(rt, "", str(name))
    except errors.ApiError as err:
        if err.code != 404:
            raise
        pod_name = (pod.get("metadata") or {}).get("name", "")
        raise errors.forbidden(f'pods "{pod_name}" is forbidden: no PriorityClass with name '
                               f"{name} was found") from None  # fmt: skip
    spec["priority"] = int(found.get("value") or 0)
    spec["preemptionPolicy"] = found.get("preemptionPolicy") or "PreemptLowerPriority"
