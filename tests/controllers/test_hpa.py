"""The horizontal pod autoscaler: its decisions, and a real sync through the API."""

from __future__ import annotations

import datetime
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, resource_path
from kybernetes.controllers.hpa import HorizontalPodAutoscalerController
from kybernetes.controllers.hpa_decisions import Observed, plan
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 11, 30, 6, tzinfo=datetime.UTC)
API_404 = "the server could not find the requested resource (get pods.metrics.k8s.io)"
NO_API = Observed(metrics_error=API_404)
CPU = {"type": "Resource", "resource": {"name": "cpu",
       "target": {"type": "Utilization", "averageUtilization": 70}}}  # fmt: skip


def hpa(low: int = 2, high: int = 5, **status: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"minReplicas": low, "maxReplicas": high, "metrics": [CPU]},
            "status": status}  # fmt: skip


def conditions(status: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_outside_the_bounds_the_target_goes_to_the_nearest_one() -> None:
    below = plan(hpa(), 1, NO_API, NOW)
    assert below.scale_to == 2
    reason = "Current number of replicas below Spec.MinReplicas"
    assert below.events == [("Normal", "SuccessfulRescale", f"New size: 2; reason: {reason}")]
    assert below.status["currentReplicas"] == 1 and below.status["desiredReplicas"] == 2
    assert below.status["lastScaleTime"] == "2026-11-30T06:00:00Z"
    assert conditions(below.status) == {"AbleToScale": ("True", "SucceededRescale")}
    above = plan(hpa(), 9, NO_API, NOW)
    assert above.scale_to == 5 and "above Spec.MaxReplicas" in above.reason


def test_inside_the_bounds_without_a_metrics_api() -> None:
    inside = plan(hpa(), 3, NO_API, NOW)
    assert inside.scale_to is None
    assert conditions(inside.status) == {
        "AbleToScale": ("True", "SucceededGetScale"),
        "ScalingActive": ("False", "FailedGetResourceMetric"),
    }
    assert inside.status["currentMetrics"] == [{"type": ""}]
    reasons = [reason for _, reason, _ in inside.events]
    assert reasons == ["FailedGetResourceMetric", "FailedComputeMetricsReplicas"]
    assert inside.events[1][2] == (
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
        "value: failed to get cpu utilization: unable to get metrics for resource cpu: unable to "
        f"fetch metrics from resource metrics API: {API_404}"
    )


def test_a_target_scaled_to_zero_is_left_alone() -> None:
    off = plan(hpa(), 0, NO_API, NOW)
    assert off.scale_to is None and off.events == []
    assert conditions(off.status)["ScalingActive"] == ("False", "ScalingDisabled")


def test_a_condition_keeps_its_transition_time_while_it_holds() -> None:
    first = plan(hpa(), 3, NO_API, NOW)
    again = plan(hpa(**first.status), 3, NO_API, NOW + datetime.timedelta(seconds=15))
    assert again.status["conditions"] == first.status["conditions"]


async def test_sync_scales_a_deployment_into_bounds(cluster: Cluster) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=1")
    await cluster.kubectl("autoscale", "deployment", "web", "--min=2", "--max=4")
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as client:
        informers = InformerFactory(client)
        controller = HorizontalPodAutoscalerController(
            informers, now=lambda: datetime.datetime(2026, 11, 30, 6, tzinfo=datetime.UTC)
        )
        informers.start()
        try:
            await InformerFactory.wait_synced(controller.hpas)
            await controller.sync("default/web")
            await controller.events.flush()
        finally:
            await informers.stop()
        deployment = await client.get(resource_path("apps", "v1", "deployments", "default", "web"))
        assert deployment["spec"]["replicas"] == 2
        got = await client.get(resource_path("autoscaling", "v2", "horizontalpodautoscalers",
                                             "default", "web"))  # fmt: skip
        assert got["status"]["desiredReplicas"] == 2 and got["status"]["currentReplicas"] == 1
        events = await client.get("/api/v1/namespaces/default/events")
        assert [e["reason"] for e in events["items"]] == ["SuccessfulRescale"]
        # An HPA whose target does not exist says so.
        await cluster.kubectl("autoscale", "deployment", "web", "--name=ghost", "--max=3")
        ghost = await client.get(resource_path("autoscaling", "v2", "horizontalpodautoscalers",
                                               "default", "ghost"))  # fmt: skip
        ghost["spec"]["scaleTargetRef"]["name"] = "nothing"
        await client.update(resource_path("autoscaling", "v2", "horizontalpodautoscalers",
                                          "default", "ghost"), ghost)  # fmt: skip
        informers = InformerFactory(client)
        controller = HorizontalPodAutoscalerController(informers)
        informers.start()
        try:
            await InformerFactory.wait_synced(controller.hpas)
            await controller.sync("default/ghost")
        finally:
            await informers.stop()
        ghost = await client.get(resource_path("autoscaling", "v2", "horizontalpodautoscalers",
                                               "default", "ghost"))  # fmt: skip
        (able,) = ghost["status"]["conditions"]
        assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
        assert able["message"] == (
            "the HPA controller was unable to get the target's current "
            'scale: deployments.apps "nothing" not found'
        )
