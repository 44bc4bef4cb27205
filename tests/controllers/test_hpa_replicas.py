"""The HPA's replica calculation and status, rule by rule, as kube's podautoscaler."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kybernetes.controllers.hpa_decisions import Observed, plan
from kybernetes.controllers.hpa_replicas import (
    MetricError,
    pod_usage,
    raw_replicas,
    utilization_replicas,
)

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 11, 30, 6, tzinfo=datetime.UTC)
LONG_AGO = "2026-11-30T05:00:00Z"


def pod(name: str, cpu: str | None = "100m", *, phase: str = "Running", ready: str = "True",
        started: str = LONG_AGO, deleting: bool = False) -> Obj:  # fmt: skip
    requests = {"cpu": cpu, "memory": "64Mi"} if cpu else {"memory": "64Mi"}
    meta: Obj = {"name": name, "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T05:59:00Z"
    return {"metadata": meta,
            "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]},
            "status": {"phase": phase, "startTime": started, "conditions": [
                {"type": "Ready", "status": ready, "lastTransitionTime": started}]}}  # fmt: skip


def usage(name: str, cpu: str, memory: str = "32Mi", stamp: str = "2026-11-30T05:59:50Z") -> Obj:
    return {"metadata": {"name": name}, "timestamp": stamp, "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}]}  # fmt: skip


def cpu_replicas(current: int, pods: list[Obj], metrics: list[Obj], target: int = 50) -> int:
    return utilization_replicas(current=current, target=target, resource="cpu", container="",
                                pods=pods, usage=pod_usage(metrics, "cpu"),
                                now=NOW).replicas  # fmt: skip


def test_usage_is_summed_over_a_pods_containers() -> None:
    item = usage("a", "30m")
    item["containers"].append({"name": "sidecar", "usage": {"cpu": "12m", "memory": "1Mi"}})
    assert pod_usage([item], "cpu")["a"].value == 42
    assert pod_usage([item], "cpu", "sidecar")["a"].value == 12
    assert pod_usage([item], "memory")["a"].value == 33 * 1024 * 1024 * 1000
    assert pod_usage([item], "memory")["a"].window == datetime.timedelta(seconds=15)


def test_ratio_times_ready_pods_rounded_up() -> None:
    pods = [pod("a"), pod("b")]
    # 90% of request against 50%: ceil(1.8 * 2) = 4.
    proposal = utilization_replicas(current=2, target=50, resource="cpu", container="", pods=pods,
                                    usage=pod_usage([usage("a", "90m"), usage("b", "90m")], "cpu"),
                                    now=NOW)  # fmt: skip
    assert (proposal.replicas, proposal.utilization, proposal.raw) == (4, 90, 90)
    assert cpu_replicas(4, pods, [usage("a", "10m"), usage("b", "10m")]) == 1


def test_within_the_tolerance_nothing_changes() -> None:
    pods = [pod("a"), pod("b")]
    assert cpu_replicas(2, pods, [usage("a", "54m"), usage("b", "54m")]) == 2  # ratio 1.08
    assert cpu_replicas(2, pods, [usage("a", "56m"), usage("b", "56m")]) == 3  # ratio 1.12


def test_a_container_without_a_request_stops_the_calculation() -> None:
    with pytest.raises(MetricError, match="missing request for cpu in container app of Pod b"):
        cpu_replicas(2, [pod("a"), pod("b", cpu=None)], [usage("a", "90m"), usage("b", "9m")])


def test_deleted_and_failed_pods_are_ignored() -> None:
    pods = [pod("a"), pod("gone", deleting=True), pod("dead", phase="Failed")]
    metrics = [usage("a", "100m"), usage("gone", "0"), usage("dead", "0")]
    assert cpu_replicas(1, pods, metrics) == 2


def test_missing_metrics_damp_a_scale_down_at_full_request() -> None:
    pods = [pod("a"), pod("b"), pod("c"), pod("new")]
    metrics = [usage("a", "10m"), usage("b", "10m"), usage("c", "10m")]
    # Ready pods at 10% of 50%: 1 pod; "new" taken at 100%: (30+100)/400 = 32% -> ceil(0.64*4) = 3.
    assert cpu_replicas(4, pods, metrics) == 3


def test_missing_metrics_damp_a_scale_up_at_zero() -> None:
    pods = [pod("a"), pod("b"), pod("new")]
    metrics = [usage("a", "100m"), usage("b", "100m")]
    # 100% against 50% over 2 pods would be 4; with "new" at 0: 66% -> ceil(1.32*3) = 4 still.
    assert cpu_replicas(3, pods, metrics) == 4
    # At 60%, the missing pod brings the ratio to 0.8 (below 1): no change.
    assert cpu_replicas(3, pods, [usage("a", "60m"), usage("b", "60m")]) == 3


def test_unready_cpu_pods_count_as_zero_on_scale_up() -> None:
    starting = pod("b", ready="False", started="2026-11-30T05:59:00Z")
    pending = pod("c", phase="Pending")
    metrics = [usage("a", "100m"), usage("b", "100m")]
    # Only "a" is ready (200% of 50% -> 4 on its own); b and c at 0: 33% of... ratio 0.66 < 1.
    assert cpu_replicas(3, [pod("a"), starting, pending], metrics) == 3
    # Ready pods at 100% and 200% of request, b at 0: 100% of 50% -> ceil(2 * 3) = 6.
    assert cpu_replicas(3, [pod("a"), pod("x"), starting],
                        [*metrics, usage("x", "200m")]) == 6  # fmt: skip


def test_average_value_targets_divide_usage_by_pods() -> None:
    memory = {"a": usage("a", "1m", "300Mi"), "b": usage("b", "1m", "100Mi")}
    proposal = raw_replicas(current=2, target=100 * 1024 * 1024 * 1000, resource="memory",
                            pods=[pod("a"), pod("b")],
                            usage=pod_usage(list(memory.values()), "memory"),
                            now=NOW)  # fmt: skip
    assert proposal.replicas == 4 and proposal.utilization is None


def hpa(*metrics: Obj, behavior: Obj | None = None, low: int = 1, high: int = 10) -> Obj:
    spec: Obj = {"minReplicas": low, "maxReplicas": high, "metrics": list(metrics)}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


CPU50 = {"type": "Resource", "resource": {"name": "cpu",
         "target": {"type": "Utilization", "averageUtilization": 50}}}  # fmt: skip
MEM = {"type": "Resource", "resource": {"name": "memory",
       "target": {"type": "AverageValue", "averageValue": "100Mi"}}}  # fmt: skip


def test_status_conditions_and_event_of_a_scale_up() -> None:
    observed = Observed([pod("a"), pod("b")], [usage("a", "90m"), usage("b", "80m")])
    decided = plan(hpa(CPU50), 2, observed, NOW)
    assert decided.scale_to == 4
    assert decided.events == [("Normal", "SuccessfulRescale", "New size: 4; reason: cpu resource "
                               "utilization (percentage of request) above target")]  # fmt: skip
    status = decided.status
    assert status["currentReplicas"] == 2 and status["desiredReplicas"] == 4
    assert status["lastScaleTime"] == "2026-11-30T06:00:00Z"
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageValue": "85m", "averageUtilization": 85}}}]  # fmt: skip
    found = {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}
    assert found == {
        "AbleToScale": ("True", "SucceededRescale",
                        "the HPA controller was able to update the target scale to 4"),
        "ScalingActive": ("True", "ValidMetricFound", "the HPA was able to successfully calculate "
                          "a replica count from cpu resource utilization (percentage of request)"),
        "ScalingLimited": ("False", "DesiredWithinRange",
                           "the desired count is within the acceptable range"),
    }  # fmt: skip


def test_the_largest_proposal_wins() -> None:
    observed = Observed([pod("a"), pod("b")], [usage("a", "50m", "300Mi"),
                                               usage("b", "50m", "300Mi")])  # fmt: skip
    decided = plan(hpa(CPU50, MEM, high=3), 2, observed, NOW)
    # Memory asks for 6 (3 x 100Mi), CPU for 2; 6 is beyond maxReplicas.
    assert decided.scale_to == 3
    assert decided.reason == "memory resource above target"
    assert decided.status["currentMetrics"][1] == {
        "type": "Resource",
        "resource": {"name": "memory", "current": {"averageValue": "314572800"}},
    }
    limited = next(c for c in decided.status["conditions"] if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")


def test_a_missing_request_is_reported_in_kubes_words() -> None:
    observed = Observed([pod("a", cpu=None)], [usage("a", "50m")])
    decided = plan(hpa(CPU50), 1, observed, NOW)
    assert decided.scale_to is None
    error = "failed to get cpu utilization: missing request for cpu in container app of Pod a"
    active = next(c for c in decided.status["conditions"] if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert active["message"] == f"the HPA was unable to compute the replica count: {error}"
    assert decided.events[0] == ("Warning", "FailedGetResourceMetric", error)
    assert decided.events[1][1] == "FailedComputeMetricsReplicas"
    assert decided.status["currentMetrics"] == [{"type": ""}]


def test_no_metrics_yet() -> None:
    decided = plan(hpa(CPU50), 1, Observed([pod("a")], []), NOW)
    assert decided.events[0][2] == (
        "failed to get cpu utilization: unable to get metrics for "
        "resource cpu: no metrics returned from resource metrics API"
    )


def test_a_failing_metric_does_not_let_the_others_shrink_the_target() -> None:
    observed = Observed([pod("a", cpu=None), pod("b", cpu=None)],
                        [usage("a", "1m", "10Mi"), usage("b", "1m", "10Mi")])  # fmt: skip
    decided = plan(hpa(CPU50, MEM), 2, observed, NOW)
    assert decided.scale_to is None
    assert decided.events[-1][2].startswith(
        "invalid metrics (1 invalid out of 2), first error "
        "is: failed to get cpu resource metric value:"
    )
