"""A pod's quality-of-service class from its containers' requests and limits.

kube-apiserver sets `status.qosClass` when the pod is created (after
LimitRanger's defaults) and the kubelet reports the same value; both use
this one function. Only cpu and memory count, compared as quantities (a
request of 1000m equals a limit of 1); a request left out is the limit.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.quantity import parse_quantity

__all__ = ["qos_class"]

Obj = dict[str, Any]
_RESOURCES = ("cpu", "memory")


def _same(request: Any, limit: Any) -> bool:
    try:
        return parse_quantity(str(request)) == parse_quantity(str(limit))
    except ValueError:
        return str(request) == str(limit)


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    requests_any = limits_all = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if any(r in requests or r in limits for r in _RESOURCES):
            requests_any = True
        for resource in _RESOURCES:
            if not guaranteed:
                break  # (Burstable or BestEffort now: no quantity to parse)
            limit = limits.get(resource)
            request = requests.get(resource, limit)
            if limit is None or not _same(request, limit):
                guaranteed = False
        limits_all = limits_all or bool(limits)
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed and limits_all else "Burstable"
