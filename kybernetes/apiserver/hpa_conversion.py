"""HorizontalPodAutoscaler: autoscaling/v1 <-> v2 (the storage version), and v2's defaults.

autoscaling/v1 has one metric, `targetCPUUtilizationPercentage`; v2 has a
list. As kube-apiserver's conversion does, v1 carries what it cannot say
(other metrics, their current values, conditions, `behavior`) in
annotations, so a v1 client that reads and writes an HPA back loses
nothing; the annotations are read back and removed on the way to v2.
Unlike kube-apiserver, the annotations hold those fields as v2 writes them.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.apiserver.objects import Obj

__all__ = ["ROUND_TRIP_ANNOTATIONS", "default_v2", "v1_to_v2", "v2_to_v1"]

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR)

DEFAULT_CPU_UTILIZATION = 80


def _cpu_metric(utilization: int) -> Obj:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": utilization}}}  # fmt: skip


def _is_cpu_utilization(metric: Any) -> bool:
    resource = metric.get("resource") if isinstance(metric, dict) else None
    return (
        metric.get("type") == "Resource"
        and isinstance(resource, dict)
        and resource.get("name") == "cpu"
        and isinstance(resource.get("target"), dict)
        and resource["target"].get("averageUtilization") is not None
    )


def _scale_rules(rules: Any, *, window: int, policies: list[Obj]) -> Obj:
    """kube's GenerateHPAScale{Up,Down}Rules: the rules given, each unset field defaulted."""
    out: Obj = dict(rules) if isinstance(rules, dict) else {}
    out.setdefault("stabilizationWindowSeconds", window)
    out.setdefault("selectPolicy", "Max")
    if not out.get("policies"):
        out["policies"] = policies
    return out


def default_v2(obj: Obj) -> None:
    """autoscaling/v2's defaults: minReplicas 1, a CPU target of 80% when no
    metric is given, and a `behavior`'s unset fields."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [_cpu_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scale_rules(behavior.get("scaleUp"), window=0, policies=[
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}])  # fmt: skip
        behavior["scaleDown"] = _scale_rules(behavior.get("scaleDown"), window=300, policies=[
            {"type": "Percent", "value": 100, "periodSeconds": 15}])  # fmt: skip


def _metadata(obj: Obj) -> tuple[Obj, dict[str, str]]:
    """A copy of the metadata without the round-trip annotations, and those annotations."""
    meta = copy.deepcopy(obj.get("metadata") or {})
    annotations = meta.get("annotations")
    carried: dict[str, str] = {}
    if isinstance(annotations, dict):
        for key in ROUND_TRIP_ANNOTATIONS:
            if key in annotations:
                carried[key] = annotations.pop(key)
        if not annotations:
            del meta["annotations"]
    return meta, carried


def _parsed(carried: dict[str, str], key: str) -> Any:
    try:
        return orjson.loads(carried[key]) if key in carried else None
    except orjson.JSONDecodeError:
        return None


def _common_spec(spec: Obj) -> Obj:
    """The spec fields both versions have alike."""
    shared = ("scaleTargetRef", "minReplicas", "maxReplicas")
    return {key: copy.deepcopy(spec[key]) for key in shared if key in spec}


def v1_to_v2(obj: Obj) -> Obj:
    meta, carried = _metadata(obj)
    spec1 = obj.get("spec") or {}
    spec = _common_spec(spec1)
    metrics = []
    if spec1.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(_cpu_metric(spec1["targetCPUUtilizationPercentage"]))
    metrics += _parsed(carried, METRICS) or []
    if metrics:
        spec["metrics"] = metrics
    behavior = _parsed(carried, BEHAVIOR)
    if behavior is not None:
        spec["behavior"] = behavior
    status1 = obj.get("status") or {}
    status: Obj = {k: status1[k] for k in ("observedGeneration", "lastScaleTime") if k in status1}
    if status1.get("currentReplicas"):
        status["currentReplicas"] = status1["currentReplicas"]
    status["desiredReplicas"] = status1.get("desiredReplicas", 0)
    current = _parsed(carried, CURRENT_METRICS)
    if current is None and status1.get("currentCPUUtilizationPercentage") is not None:
        current = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status1["currentCPUUtilizationPercentage"]}}}]  # fmt: skip
    if current:
        status["currentMetrics"] = current
    conditions = _parsed(carried, CONDITIONS)
    if conditions:
        status["conditions"] = conditions
    out = {"kind": obj.get("kind", "HorizontalPodAutoscaler"), "apiVersion": "autoscaling/v2",
           "metadata": meta, "spec": spec, "status": status}  # fmt: skip
    default_v2(out)
    return out


def _annotate(meta: Obj, key: str, value: Any) -> None:
    meta.setdefault("annotations", {})[key] = orjson.dumps(value).decode()


def v2_to_v1(obj: Obj) -> Obj:
    meta, _ = _metadata(obj)
    spec2 = obj.get("spec") or {}
    spec = _common_spec(spec2)
    metrics = spec2.get("metrics") or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    others = [m for m in metrics if m is not cpu]
    if others:
        _annotate(meta, METRICS, others)
    if spec2.get("behavior") is not None:
        _annotate(meta, BEHAVIOR, spec2["behavior"])
    status2 = obj.get("status") or {}
    status: Obj = {k: status2[k] for k in ("observedGeneration", "lastScaleTime") if k in status2}
    status["currentReplicas"] = status2.get("currentReplicas", 0)
    status["desiredReplicas"] = status2.get("desiredReplicas", 0)
    current = status2.get("currentMetrics") or []
    for metric in current:
        resource = metric.get("resource") or {}
        utilization = (resource.get("current") or {}).get("averageUtilization")
        if resource.get("name") == "cpu" and utilization is not None:
            status["currentCPUUtilizationPercentage"] = utilization
            break
    if current:
        _annotate(meta, CURRENT_METRICS, current)
    if status2.get("conditions"):
        _annotate(meta, CONDITIONS, status2["conditions"])
    return {"kind": obj.get("kind", "HorizontalPodAutoscaler"), "apiVersion": "autoscaling/v1",
            "metadata": meta, "spec": spec, "status": status}  # fmt: skip
