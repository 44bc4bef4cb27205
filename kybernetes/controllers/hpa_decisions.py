"""What the horizontal pod autoscaler does with one HPA: pure decisions.

As kube-controller-manager's HPA controller (pkg/controller/podautoscaler,
horizontal.go): with the target's replicas read from its `scale`, a target
scaled to zero is left alone (ScalingActive False, ScalingDisabled); one
outside [minReplicas, maxReplicas] is brought to the nearest bound; one
inside is scaled by its metrics. Each Resource or ContainerResource metric
proposes a count (hpa_replicas.py) from the pods and their PodMetrics; the
largest proposal wins, and is then stabilized and rate-limited
(hpa_behavior.py). A metric that cannot be read is reported as kube does
(ScalingActive False, FailedGetResourceMetric, `cpu: <unknown>/80%`, two
Warning events); Pods, Object and External metrics need a custom or
external metrics API, which this cluster does not serve. Conditions keep
their lastTransitionTime while their status holds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.quantity import milli_value
from kybernetes.api.times import format_time
from kybernetes.controllers.hpa_behavior import DOWNSCALE_WINDOW, History, normalize, record_scale
from kybernetes.controllers.hpa_replicas import (
    MetricError,
    Proposal,
    pod_usage,
    raw_replicas,
    utilization_replicas,
)

__all__ = ["MetricFailure", "Observed", "Plan", "metrics_failure", "plan", "set_condition"]

Obj = dict[str, Any]


@dataclass
class Plan:
    """The HPA's new status, whether to scale the target (and to what), and
    the Events to record (type, reason, message)."""

    status: Obj
    scale_to: int | None = None
    reason: str = ""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    history: History = field(default_factory=History)


@dataclass(frozen=True)
class Observed:
    """What the controller read for the target: its pods (by the scale's
    selector) and their PodMetrics, or the metrics API's error."""

    pods: list[Obj] = field(default_factory=list)
    pod_metrics: list[Obj] = field(default_factory=list)
    metrics_error: str = ""


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


def _resource_failure(metric: Obj, error: str) -> MetricFailure:
    """A Resource or ContainerResource metric that gave no proposal: `error`
    is already prefixed with "failed to get <name> utilization|usage"."""
    if metric.get("type") == "Resource":
        name = (metric.get("resource") or {}).get("name", "")
        return MetricFailure("FailedGetResourceMetric", error,
                             f"failed to get {name} resource metric value: {error}")  # fmt: skip
    container = (metric.get("containerResource") or {}).get("container", "")
    return MetricFailure("FailedGetContainerResourceMetric", error,
                         f"failed to get {container} container metric value: {error}")  # fmt: skip


def _milli_quantity(milli: int) -> str:
    """resource.NewMilliQuantity(milli, DecimalSI).String(): "250m", "2", "5M"."""
    if milli % 1000:
        return f"{milli}m"
    value, suffix = milli // 1000, ""
    for bigger in "kMGTPE":
        if value == 0 or value % 1000:
            break
        value, suffix = value // 1000, bigger
    return f"{value}{suffix}"


@dataclass(frozen=True)
class _Measured:
    replicas: int
    name: str  # what the condition and the rescale reason call the metric
    status: Obj


def _measure(metric: Obj, current: int, observed: Observed, now: datetime.datetime) -> _Measured:
    """One metric's proposal and status; MetricFailure's words when it has none."""
    kind = metric.get("type", "")
    if kind not in ("Resource", "ContainerResource"):
        raise _Failed(metrics_failure(metric, _UNSERVED.get(kind, "invalid metric source type")))
    field_ = "resource" if kind == "Resource" else "containerResource"
    source = metric.get(field_) or {}
    name, container = str(source.get("name", "")), str(source.get("container", ""))
    target = source.get("target") or {}
    raw_target = target.get("averageValue")
    doing = f"failed to get {name} {'usage' if raw_target is not None else 'utilization'}"
    try:
        if observed.metrics_error or not observed.pod_metrics:
            fetched = (f"unable to fetch metrics from resource metrics API: "
                       f"{observed.metrics_error}" if observed.metrics_error
                       else "no metrics returned from resource metrics API")  # fmt: skip
            raise MetricError(f"unable to get metrics for resource {name}: {fetched}")
        usage = pod_usage(observed.pod_metrics, name, container)
        proposal = _propose(target, raw_target, current=current, resource=name, container=container,
                            pods=observed.pods, usage=usage, now=now)  # fmt: skip
    except MetricError as err:
        raise _Failed(_resource_failure(metric, f"{doing}: {err}")) from err
    current_: Obj = {"averageValue": _milli_quantity(proposal.raw)}
    label = f"{name} {'container ' if container else ''}resource"
    if proposal.utilization is not None:
        current_["averageUtilization"] = proposal.utilization
        label += " utilization (percentage of request)"
    status_source: Obj = {"name": name, "current": current_}
    if container:
        status_source = {"name": name, "container": container, "current": current_}
    return _Measured(proposal.replicas, label, {"type": kind, field_: status_source})


def _propose(target: Obj, raw_target: Any, **args: Any) -> Proposal:
    if raw_target is not None:
        args.pop("container")
        return raw_replicas(target=milli_value(raw_target), **args)
    if target.get("averageUtilization") is None:
        raise MetricError("invalid resource metric source: neither an average utilization "
                          "target nor an average value (usage) target was set")  # fmt: skip
    return utilization_replicas(target=int(target["averageUtilization"]), **args)


class _Failed(Exception):
    def __init__(self, failure: MetricFailure) -> None:
        super().__init__(failure.error)
        self.failure = failure


# What asking a metrics API this cluster does not serve answers, as kube-apiserver words a 404.
_UNSERVED = {
    "Pods": "the server could not find the requested resource (get pods.custom.metrics.k8s.io)",
    "Object": "the server could not find the requested resource (get custom.metrics.k8s.io)",
    "External": "the server could not find the requested resource (get external.metrics.k8s.io)",
}


def plan(hpa: Obj, replicas: int, observed: Observed, now: datetime.datetime, *,
         history: History | None = None,
         downscale_window: datetime.timedelta = DOWNSCALE_WINDOW) -> Plan:  # fmt: skip
    """The HPA's reconciliation for a target at `replicas`, given what was
    read of its pods and metrics, and its `history` (kept by the caller)."""
    spec = hpa.get("spec") or {}
    low = int(spec.get("minReplicas", 1))
    high = int(spec.get("maxReplicas", 0))
    stamp = format_time(now)
    before = hpa.get("status") or {}
    conditions = set_condition(before.get("conditions") or [], "AbleToScale", "True",
                               "SucceededGetScale",
                               "the HPA controller was able to get the target's current scale",
                               stamp)  # fmt: skip
    status: Obj = {"currentReplicas": replicas, "desiredReplicas": replicas}
    if "lastScaleTime" in before:
        status["lastScaleTime"] = before["lastScaleTime"]
    result = Plan(status, history=history or History())
    if replicas == 0 and low != 0:
        conditions = set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                   "scaling is disabled since the replica count of the target "
                                   "is zero", stamp)  # fmt: skip
    elif replicas > high or replicas < low:
        desired = high if replicas > high else low
        bound = "above Spec.MaxReplicas" if replicas > high else "below Spec.MinReplicas"
        result.reason = f"Current number of replicas {bound}"
        conditions = _rescaled(result, desired, conditions, stamp)
    else:
        conditions = _by_metrics(result, hpa, replicas, observed, now, conditions,
                                 downscale_window)  # fmt: skip
    if result.scale_to is not None:
        result.history = record_scale(hpa, result.history, before=replicas,
                                      after=result.scale_to, now=now)  # fmt: skip
    status["conditions"] = conditions
    return result


def _rescaled(result: Plan, desired: int, conditions: list[Obj], stamp: str) -> list[Obj]:
    result.scale_to = desired
    result.status["desiredReplicas"] = desired
    result.status["lastScaleTime"] = stamp
    result.events.append(("Normal", "SuccessfulRescale",
                          f"New size: {desired}; reason: {result.reason}"))  # fmt: skip
    return set_condition(conditions, "AbleToScale", "True", "SucceededRescale",
                         f"the HPA controller was able to update the target scale to {desired}",
                         stamp)  # fmt: skip


def _by_metrics(result: Plan, hpa: Obj, replicas: int, observed: Observed,
                now: datetime.datetime, conditions: list[Obj],
                window: datetime.timedelta) -> list[Obj]:  # fmt: skip
    """kube's computeReplicasForMetrics then normalizeDesiredReplicas(WithBehaviors)."""
    stamp = format_time(now)
    metrics = (hpa.get("spec") or {}).get("metrics") or []
    statuses: list[Obj] = []
    failures: list[MetricFailure] = []
    best: _Measured | None = None
    for metric in metrics:
        try:
            measured = _measure(metric, replicas, observed, now)
        except _Failed as failed:
            result.events.append(("Warning", failed.failure.reason, failed.failure.error))
            failures.append(failed.failure)
            statuses.append({"type": ""})
            continue
        statuses.append(measured.status)
        if best is None or measured.replicas > best.replicas:
            best = measured
    result.status["currentMetrics"] = statuses
    # Failed metrics may not shrink the target: a scale down needs every metric.
    if best is None or (failures and best.replicas < replicas):
        first = failures[0]
        result.status["desiredReplicas"] = (hpa.get("status") or {}).get("desiredReplicas", 0)
        result.events.append(("Warning", "FailedComputeMetricsReplicas",
                              f"invalid metrics ({len(failures)} invalid out of {len(metrics)}), "
                              f"first error is: {first.wrapped}"))  # fmt: skip
        return set_condition(conditions, "ScalingActive", "False", first.reason,
                             f"the HPA was unable to compute the replica count: {first.error}",
                             stamp)  # fmt: skip
    conditions = set_condition(conditions, "ScalingActive", "True", "ValidMetricFound",
                               "the HPA was able to successfully calculate a replica count "
                               f"from {best.name}", stamp)  # fmt: skip
    if best.replicas > replicas:
        result.reason = f"{best.name} above target"
    elif best.replicas < replicas:
        result.reason = "All metrics below target"
    normal = normalize(hpa, current=replicas, proposed=best.replicas, now=now,
                       history=result.history, downscale_window=window)  # fmt: skip
    result.history = normal.history
    conditions = set_condition(conditions, "AbleToScale", "True", *normal.able, stamp)
    conditions = set_condition(conditions, "ScalingLimited", "True" if normal.limited else "False",
                               *normal.limit, stamp)  # fmt: skip
    if normal.replicas == replicas:
        return conditions
    return _rescaled(result, normal.replicas, conditions, stamp)
