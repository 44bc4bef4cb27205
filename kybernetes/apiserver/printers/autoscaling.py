"""Columns of HorizontalPodAutoscalers (as kube-apiserver 1.32 prints them).

kube-apiserver prints its internal (v2-shaped) object whatever the version
asked, so an autoscaling/v1 object is read as v2 first. TARGETS lists each
metric as `current/target`, a resource metric prefixed with its name
(`cpu: <unknown>/80%` until a value is measured), at most two then
`+ N more...`.
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.hpa_conversion import v1_to_v2
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import AGE, NAME, Column, get
from kybernetes.apiserver.printers.quantity import canonical_quantity

__all__ = ["COLUMNS", "format_metrics"]

UNKNOWN = "<unknown>"
SHOWN = 2


def _v2(obj: Obj) -> Obj:
    return v1_to_v2(obj) if obj.get("apiVersion") == "autoscaling/v1" else obj


def _quantity(target: Any, field: str) -> str:
    value = target.get(field) if isinstance(target, dict) else None
    return canonical_quantity(value) if value is not None else UNKNOWN


def _current(statuses: list[Any], i: int, source: str) -> dict[str, Any] | None:
    """The status of metric `i` from `source` (kube pairs spec and status by position)."""
    if i < len(statuses) and isinstance(statuses[i], dict):
        found = statuses[i].get(source)
        if isinstance(found, dict):
            return found.get("current") or {}
    return None


def _average_or_value(spec: Obj, current: dict[str, Any] | None) -> str:
    target = spec.get("target") or {}
    if target.get("averageValue") is not None:
        now = _quantity(current, "averageValue") if current is not None else UNKNOWN
        return f"{now}/{canonical_quantity(target['averageValue'])} (avg)"
    now = _quantity(current, "value") if current is not None else UNKNOWN
    return f"{now}/{canonical_quantity(target.get('value'))}"


def _resource(spec: Obj, current: dict[str, Any] | None) -> str:
    target = spec.get("target") or {}
    name = spec.get("name", "")
    if target.get("averageValue") is not None:
        now = _quantity(current, "averageValue") if current is not None else UNKNOWN
        return f"{name}: {now}/{canonical_quantity(target['averageValue'])}"
    utilization = (current or {}).get("averageUtilization")
    now = UNKNOWN if utilization is None else f"{utilization}%"
    wanted = target.get("averageUtilization")
    return f"{name}: {now}/{'<auto>' if wanted is None else f'{wanted}%'}"


def _one(metric: Any, statuses: list[Any], i: int) -> str:
    kind = metric.get("type") if isinstance(metric, dict) else None
    if kind in ("Resource", "ContainerResource"):
        field = "resource" if kind == "Resource" else "containerResource"
        return _resource(metric.get(field) or {}, _current(statuses, i, field))
    if kind in ("External", "Object"):
        field = kind.lower()
        return _average_or_value(metric.get(field) or {}, _current(statuses, i, field))
    if kind == "Pods":
        target = (metric.get("pods") or {}).get("target") or {}
        current = _current(statuses, i, "pods")
        now = _quantity(current, "averageValue") if current is not None else UNKNOWN
        return f"{now}/{canonical_quantity(target.get('averageValue'))}"
    return "<unknown type>"


def format_metrics(obj: Obj) -> str:
    """The TARGETS cell of a v2 HPA."""
    specs = get(obj, "spec", "metrics", default=None) or []
    if not specs:
        return "<none>"
    statuses = get(obj, "status", "currentMetrics", default=None) or []
    shown = [_one(metric, statuses, i) for i, metric in enumerate(specs)]
    text = ", ".join(shown[:SHOWN])
    return f"{text} + {len(shown) - SHOWN} more..." if len(shown) > SHOWN else text


def _reference(obj: Obj) -> str:
    ref = get(_v2(obj), "spec", "scaleTargetRef", default=None) or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _min_pods(obj: Obj) -> str:
    low = get(obj, "spec", "minReplicas", default=None)
    return "<unset>" if low is None else str(low)


COLUMNS = {
    ("autoscaling", "HorizontalPodAutoscaler"): [
        NAME,
        Column("Reference", _reference, description="The scale target: kind/name."),
        Column(
            "Targets",
            lambda obj: format_metrics(_v2(obj)),
            description="The metrics: current/target.",
        ),
        Column("MinPods", _min_pods, description="The lower limit of replicas."),
        Column(
            "MaxPods",
            lambda obj: get(obj, "spec", "maxReplicas", default=0),
            type="integer",
            description="The upper limit of replicas.",
        ),
        Column(
            "Replicas",
            lambda obj: get(obj, "status", "currentReplicas", default=0),
            type="integer",
            description="The current number of replicas.",
        ),
        AGE,
    ],
}
