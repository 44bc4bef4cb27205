"""HorizontalPodAutoscalers: autoscaling/v2 stored, autoscaling/v1 served by
conversion, with kube-apiserver's defaults, validation and columns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kybernetes.apiserver.hpa_conversion import default_v2, v1_to_v2, v2_to_v1
from kybernetes.apiserver.hpa_strategy import validate_hpa
from kybernetes.apiserver.printers.autoscaling import format_metrics
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa_v1(**spec: Any) -> Obj:
    return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": REF, "maxReplicas": 5, **spec}}  # fmt: skip


def memory(value: str) -> Obj:
    return {"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": value}}}  # fmt: skip


def test_v1_becomes_v2_with_v2_defaults() -> None:
    v2 = v1_to_v2(hpa_v1(targetCPUUtilizationPercentage=70))
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["minReplicas"] == 1
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]  # fmt: skip
    # No target at all: v2's default, CPU at 80%.
    bare = v1_to_v2(hpa_v1())
    assert bare["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80


def test_what_v1_cannot_say_round_trips_through_annotations() -> None:
    v2 = v1_to_v2(hpa_v1(minReplicas=2, targetCPUUtilizationPercentage=50))
    v2["spec"]["metrics"].append(memory("500Mi"))
    v2["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    default_v2(v2)  # as stored: the behavior's unset fields filled in
    assert v2["spec"]["behavior"]["scaleUp"]["policies"][0] == {
        "type": "Pods", "value": 4, "periodSeconds": 15}  # fmt: skip
    v2["status"] = {"currentReplicas": 3, "desiredReplicas": 4,
                    "currentMetrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "current": {"averageUtilization": 42}}}],
                    "conditions": [{"type": "AbleToScale", "status": "True"}]}  # fmt: skip
    v1 = v2_to_v1(v2)
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["status"] == {"currentReplicas": 3, "desiredReplicas": 4,
                            "currentCPUUtilizationPercentage": 42}  # fmt: skip
    annotations = v1["metadata"]["annotations"]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [memory("500Mi")]
    back = v1_to_v2(v1)
    assert back["spec"] == v2["spec"] and back["status"] == v2["status"]
    assert "annotations" not in back["metadata"]


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        ({"minReplicas": 0},
         "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
        ({"maxReplicas": 0}, "spec.maxReplicas: Invalid value: 0: must be greater than 0"),
        ({"minReplicas": 6},
         "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"),
        ({"scaleTargetRef": {"name": "web"}}, "spec.scaleTargetRef.kind: Required value"),
        # v1 is checked as the v2 object it becomes, at v2's paths.
        ({"targetCPUUtilizationPercentage": 0},
         "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: "
         "must be greater than 0"),
    ],
)  # fmt: skip
def test_validation_in_kube_apiservers_words(spec: Obj, cause: str) -> None:
    found = [f"{c.field}: {c.message}" for c in validate_hpa(v1_to_v2(hpa_v1(**spec)))]
    assert cause in found


def test_targets_column() -> None:
    v2 = v1_to_v2(hpa_v1(targetCPUUtilizationPercentage=70))
    assert format_metrics(v2) == "cpu: <unknown>/70%"
    v2["status"]["currentMetrics"] = [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 12}}}]  # fmt: skip
    v2["spec"]["metrics"] += [memory("512Mi"), memory("1Gi")]
    assert format_metrics(v2) == "cpu: 12%/70%, memory: <unknown>/512Mi + 1 more..."


async def test_kubectl_autoscale_then_every_version(cluster: Cluster) -> None:
    await cluster.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2")
    # kubectl 1.32 sends an autoscaling/v1 object as protobuf.
    await cluster.kubectl("autoscale", "deployment", "web", "--min=2", "--max=5",
                          "--cpu-percent=70")  # fmt: skip
    out = await cluster.kubectl("get", "hpa")
    head, row = out.splitlines()
    assert head.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row.split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/70%", "2", "5", "0"]
    v2 = json.loads(await cluster.kubectl("get", "hpa", "web", "-o", "json"))
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    v1 = json.loads(await cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling",
                                          "web", "-o", "json"))  # fmt: skip
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    assert v1["status"] == {"currentReplicas": 0, "desiredReplicas": 0}

    # A v2 write with two metrics reads back through v1 with the other in an annotation.
    v2["spec"]["metrics"].append(memory("256Mi"))
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(v2))
    v1 = json.loads(await cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling",
                                          "web", "-o", "json"))  # fmt: skip
    annotation = v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"]
    assert json.loads(annotation) == [memory("256Mi")]

    bad = hpa_v1(minReplicas=3, maxReplicas=2)
    bad["metadata"]["name"] = "bad"
    refused = await cluster.kubectl("create", "-f", "-", stdin=json.dumps(bad), check=False)
    assert (
        'The HorizontalPodAutoscaler "bad" is invalid: spec.maxReplicas: Invalid value: 2: '
        "must be greater than or equal to `minReplicas`"
    ) in refused
    resources = await cluster.kubectl("api-resources", "--api-group=autoscaling")
    assert "horizontalpodautoscalers" in resources
