"""The HorizontalPodAutoscaler strategies: autoscaling/v2 (stored) and autoscaling/v1.

kube-apiserver validates an HPA as its internal (v2-shaped) object whatever
version it came in, so a v1 `targetCPUUtilizationPercentage: 0` is refused
at `spec.metrics[0].resource.target.averageUtilization`; the v1 strategy
converts and validates the same way. The rules are kube-apiserver's, in its
words (pkg/apis/autoscaling/validation).
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.hpa_conversion import default_v2, v1_to_v2
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.strategy import Strategy

__all__ = ["HorizontalPodAutoscalerStrategy", "HorizontalPodAutoscalerV1Strategy", "validate_hpa"]

METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
TARGET_TYPES = ("Utilization", "Value", "AverageValue")


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, "FieldValueInvalid", f"Invalid value: {_go(value)}: {detail}")


def _required(path: str, detail: str = "") -> Cause:
    return Cause(
        path, "FieldValueRequired", f"Required value: {detail}" if detail else "Required value"
    )


def _go(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _path_segment(path: str, value: str) -> list[Cause]:
    if value in (".", ".."):
        return [_invalid(path, value, f"may not be '{value}'")]
    return [_invalid(path, value, f"may not contain '{c}'") for c in "/%" if c in value]


def _target(target: Any, path: str) -> list[Cause]:
    target = _dict(target)
    causes = []
    kind = target.get("type")
    if not kind:
        causes.append(_required(f"{path}.type", "must specify a metric target type"))
    elif kind not in TARGET_TYPES:
        causes.append(
            _invalid(f"{path}.type", kind, "must be either Utilization, Value, or AverageValue")
        )
    utilization = _int(target.get("averageUtilization"))
    if utilization is not None and utilization < 1:
        causes.append(_invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return causes


def _resource_source(source: Obj, path: str) -> list[Cause]:
    causes = []
    if not source.get("name"):
        causes.append(_required(f"{path}.name", "must specify a resource name"))
    target = _dict(source.get("target"))
    causes += _target(target, f"{path}.target")
    has_utilization = target.get("averageUtilization") is not None
    has_value = target.get("averageValue") is not None
    if not has_utilization and not has_value:
        detail = "must set either a target raw value or a target utilization"
        causes.append(_required(f"{path}.target.averageUtilization", detail))
    if has_utilization and has_value:
        causes.append(Cause(f"{path}.target.averageValue", "FieldValueForbidden",
                            "Forbidden: may not set both a target raw value and a target "
                            "utilization"))  # fmt: skip
    return causes


def _metric(metric: Any, path: str) -> list[Cause]:
    metric = _dict(metric)
    kind = metric.get("type")
    if not kind:
        return [_required(f"{path}.type", "must specify a metric source type")]
    if kind not in METRIC_TYPES:
        listed = ", ".join(f'"{t}"' for t in METRIC_TYPES)
        return [Cause(f"{path}.type", "FieldValueNotSupported",
                      f'Unsupported value: "{kind}": supported values: {listed}')]  # fmt: skip
    field = (
        kind[0].lower() + kind[1:]
    )  # Resource -> resource, ContainerResource -> containerResource
    source = metric.get(field)
    if not isinstance(source, dict):
        return [
            _required(f"{path}.{field}", "must populate information for the given metric source")
        ]
    if kind in ("Resource", "ContainerResource"):
        return _resource_source(source, f"{path}.{field}")
    return _target(source.get("target"), f"{path}.{field}.target")


def validate_hpa(obj: Obj) -> list[Cause]:
    """An autoscaling/v2 HPA's spec checked as kube-apiserver checks it."""
    spec = _dict(obj.get("spec"))
    causes = []
    low, high = _int(spec.get("minReplicas")), _int(spec.get("maxReplicas")) or 0
    if low is not None and low < 1:
        causes.append(_invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if high < 1:
        causes.append(_invalid("spec.maxReplicas", high, "must be greater than 0"))
    if low is not None and high < low:
        causes.append(
            _invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`")
        )
    ref = _dict(spec.get("scaleTargetRef"))
    ref_causes = []
    for field in ("kind", "name"):
        value = ref.get(field)
        path = f"spec.scaleTargetRef.{field}"
        ref_causes += _path_segment(path, value) if value else [_required(path)]
    if ref_causes:
        return causes + ref_causes
    for i, metric in enumerate(spec.get("metrics") or []):
        causes += _metric(metric, f"spec.metrics[{i}]")
    return causes


class HorizontalPodAutoscalerStrategy(Strategy):
    """autoscaling/v2, the storage version."""

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"desiredReplicas": 0}

    def default(self, obj: Obj) -> None:
        default_v2(obj)

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_hpa(obj)


class HorizontalPodAutoscalerV1Strategy(Strategy):
    """autoscaling/v1: defaulted as v1 (minReplicas 1), validated as v2."""

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("minReplicas", 1)

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_hpa(v1_to_v2(obj))
