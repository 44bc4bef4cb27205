"""Node rules: a node's pod CIDR is set once and then never changes.

The node IPAM controller (and the pod network on each node, which routes
by it) relies on `spec.podCIDR` never moving under a running pod, so an
update may set `podCIDR`/`podCIDRs` from empty but not change or clear
them afterwards, as Kubernetes' node validation has it. A Node keeps the
status it is created with: the kubelet registers a node with its status.
"""

from __future__ import annotations

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.strategy import Strategy

__all__ = ["NodeStrategy"]

_CHANGED = 'Forbidden: node updates may not change podCIDR except from "" to valid'


def _cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return [str(c) for c in cidrs]


class NodeStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        # podCIDR is podCIDRs[0]: a client that sets only one gets both.
        if isinstance(spec, dict):
            if spec.get("podCIDR") and not spec.get("podCIDRs"):
                spec["podCIDRs"] = [spec["podCIDR"]]
            elif spec.get("podCIDRs") and not spec.get("podCIDR"):
                spec["podCIDR"] = spec["podCIDRs"][0]

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        cidrs = spec.get("podCIDRs") or []
        if spec.get("podCIDR") and cidrs and cidrs[0] != spec["podCIDR"]:
            return [Cause("spec.podCIDRs", "FieldValueInvalid",
                          f'Invalid value: "{cidrs[0]}": must match podCIDR')]  # fmt: skip
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        before = _cidrs(old)
        spec = new.get("spec") or {}
        after = [str(c) for c in spec.get("podCIDRs") or []]
        if before and (after != before or spec.get("podCIDR") != before[0]):
            return [Cause("spec.podCIDRs", "FieldValueForbidden", _CHANGED)]
        return self.validate(new)
