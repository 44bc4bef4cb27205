"""What the horizontal pod autoscaler does with one HPA: pure decisions.

As kube-controller-manager's HPA controller (pkg/controller/podautoscaler):
with the target's replicas read from its `scale`, a target scaled to zero is
left alone (ScalingActive False, ScalingDisabled); one outside
[minReplicas, maxReplicas] is brought to the nearest bound; one inside is
scaled by its metrics. This cluster serves no resource metrics API (no
metrics-server), so inside the bounds the metrics cannot be read, and the
HPA says so as on any cluster without one: ScalingActive False with
FailedGetResourceMetric, `cpu: <unknown>/80%`, and the same two Warning
events. Conditions keep their lastTransitionTime while their status holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricFailure", "Plan", "metrics_failure", "plan", "set_condition"]

Obj = dict[str, Any]


@dataclass
class Plan:
    """The HPA's new status, whether to scale the target (and to what), and
    the Events to record (type, reason, message)."""

    status: Obj
    scale_to: int | None = None
    reason: str = ""
    events: list[tuple[str, str, str]] = field(default_factory=list)


def set_condition(
    conditions: list[Obj], type_: str, status: str, reason: str, message: str, now: str
) -> list[Obj]:
    """`conditions` with `type_` set (appended when new), as kube's setCondition."""
    out = [dict(c) for c in conditions]
    for condition in out:
        if condition.get("type") == type_:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = now
            condition.update(status=status, reason=reason, message=message)
            return out
    out.append({"type": type_, "status": status, "lastTransitionTime": now, "reason": reason,
                "message": message})  # fmt: skip
    return out


@dataclass(frozen=True)
class MetricFailure:
    reason: str  # the Event's and the ScalingActive condition's reason
    error: str  # what the Event says
    wrapped: str  # what the FailedComputeMetricsReplicas Event quotes


def metrics_failure(metric: Obj, api_error: str) -> MetricFailure:
    """How a metric that could not be read is reported, in kube's words."""
    kind = metric.get("type", "")
    if kind in ("Resource", "ContainerResource"):
        source = metric.get("resource" if kind == "Resource" else "containerResource") or {}
        name = source.get("name", "")
        error = (f"failed to get {name} utilization: unable to get metrics for resource {name}: "
                 f"unable to fetch metrics from resource metrics API: {api_error}")  # fmt: skip
        reason = (
            "FailedGetResourceMetric" if kind == "Resource" else "FailedGetContainerResourceMetric"
        )
        return MetricFailure(reason, error, f"failed to get {name} resource metric value: {error}")
    reasons = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
               "External": "FailedGetExternalMetric"}  # fmt: skip
    error = f"unable to get metric: {api_error}"
    return MetricFailure(reasons.get(kind, "InvalidMetricSourceType"), error, error)


def plan(hpa: Obj, replicas: int, metrics_api_error: str, now: str) -> Plan:
    """The HPA's reconciliation for a target at `replicas`, the metrics API
    having answered `metrics_api_error`."""
    spec = hpa.get("spec") or {}
    low = int(spec.get("minReplicas", 1))
    high = int(spec.get("maxReplicas", 0))
    before = hpa.get("status") or {}
    conditions = set_condition(before.get("conditions") or [], "AbleToScale", "True",
                               "SucceededGetScale",
                               "the HPA controller was able to get the target's current scale",
                               now)  # fmt: skip
    status: Obj = {"currentReplicas": replicas, "desiredReplicas": replicas}
    if "lastScaleTime" in before:
        status["lastScaleTime"] = before["lastScaleTime"]
    result = Plan(status)
    if replicas == 0 and low != 0:
        conditions = set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                   "scaling is disabled since the replica count of the target "
                                   "is zero", now)  # fmt: skip
    elif replicas > high or replicas < low:
        desired = high if replicas > high else low
        bound = "above Spec.MaxReplicas" if replicas > high else "below Spec.MinReplicas"
        result.scale_to, result.reason = desired, f"Current number of replicas {bound}"
        conditions = set_condition(conditions, "AbleToScale", "True", "SucceededRescale",
                                   "the HPA controller was able to update the target scale to "
                                   f"{desired}", now)  # fmt: skip
        result.events.append(("Normal", "SuccessfulRescale",
                              f"New size: {desired}; reason: {result.reason}"))  # fmt: skip
        status["desiredReplicas"] = desired
        status["lastScaleTime"] = now
    else:
        conditions = _unmeasured(result, spec.get("metrics") or [], metrics_api_error,
                                 conditions, now)  # fmt: skip
        status["desiredReplicas"] = before.get("desiredReplicas", 0)
    status["conditions"] = conditions
    return result


def _unmeasured(
    result: Plan, metrics: list[Obj], api_error: str, conditions: list[Obj], now: str
) -> list[Obj]:
    """Every metric failed to read: its Events, ScalingActive False, empty statuses."""
    first = ""
    for metric in metrics:
        failure = metrics_failure(metric, api_error)
        result.events.append(("Warning", failure.reason, failure.error))
        if not first:
            first = failure.wrapped
            conditions = set_condition(conditions, "ScalingActive", "False", failure.reason,
                                       "the HPA was unable to compute the replica count: "
                                       f"{failure.error}", now)  # fmt: skip
    result.status["currentMetrics"] = [{"type": ""} for _ in metrics]
    result.events.append(("Warning", "FailedComputeMetricsReplicas",
                          f"invalid metrics ({len(metrics)} invalid out of {len(metrics)}), "
                          f"first error is: {first}"))  # fmt: skip
    return conditions
