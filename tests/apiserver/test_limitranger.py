"""LimitRange: defaults, min/max/ratio checks (pure) and the admission step
against a real API server with the real kubectl (checklist H01, H02)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kybernetes.apiserver.limitranger import LimitRangeStrategy, apply_defaults, violations
from kybernetes.apiserver.resources import builtin_registry
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from tests.apiserver.conftest import Cluster

REGISTRY = builtin_registry()
PODS_RT = REGISTRY.lookup("", "v1", "pods")
CLAIMS_RT = REGISTRY.lookup("", "v1", "persistentvolumeclaims")
LIMITS = resource_path("", "v1", "limitranges", "default")
PODS = resource_path("", "v1", "pods", "default")


def limit_range(*items: dict) -> dict:
    lr = {"metadata": {"name": "limits"}, "spec": {"limits": list(items)}}
    LimitRangeStrategy().default(lr)
    return lr


def pod(*containers: dict) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers)}}


CONTAINER = {
    "type": "Container",
    "min": {"cpu": "100m", "memory": "64Mi"},
    "max": {"cpu": "1", "memory": "1Gi"},
    "defaultRequest": {"cpu": "200m"},
    "maxLimitRequestRatio": {"cpu": "10"},
}


def test_strategy_defaults_follow_max_then_default_then_min() -> None:
    item = limit_range(dict(CONTAINER))["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1", "memory": "1Gi"}  # from max
    assert item["defaultRequest"] == {"cpu": "200m", "memory": "1Gi"}  # own, then default


def test_defaults_fill_only_what_a_container_leaves_out() -> None:
    lr = limit_range(dict(CONTAINER))
    p = pod({"name": "app"}, {"name": "side", "resources": {"limits": {"cpu": "300m"}}})
    apply_defaults(p, [lr])
    app, side = p["spec"]["containers"]
    assert app["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"},
                                "requests": {"cpu": "200m", "memory": "1Gi"}}  # fmt: skip
    assert side["resources"]["limits"] == {"cpu": "300m", "memory": "1Gi"}
    assert p["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for "
        "container app; cpu, memory request for container side; memory limit for container side"
    )
    assert violations(PODS_RT, p, [lr]) == []


def test_violations_as_kubernetes_words_them() -> None:
    lr = limit_range(dict(CONTAINER), {"type": "Pod", "max": {"cpu": "1500m"}})
    p = pod(
        {"name": "a", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "2", "memory": "64Mi"}}},
        {"name": "b", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"},
                                    "limits": {"cpu": "1", "memory": "64Mi"}}},
    )  # fmt: skip
    assert violations(PODS_RT, p, [lr]) == [
        "minimum cpu usage per Container is 100m, but request is 50m",
        "maximum cpu usage per Container is 1, but limit is 2",
        "cpu max limit to request ratio per Container is 10, but provided ratio is 40.000000",
        "maximum cpu usage per Pod is 1500m, but limit is 3",
    ]
    claim = {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}
    claims = limit_range({"type": "PersistentVolumeClaim", "max": {"storage": "5Gi"}})
    assert violations(CLAIMS_RT, claim, [claims]) == [
        "maximum storage usage per PersistentVolumeClaim is 5Gi.  No limit is specified"
    ]


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(cluster.kubeconfig) as api:
        yield api


async def test_limitrange_defaults_and_refuses_pods(cluster: Cluster, client: ApiClient) -> None:
    await client.create(LIMITS, {"metadata": {"name": "limits", "labels": {"team": "a"}},
                                 "spec": {"limits": [CONTAINER]}})  # fmt: skip
    await client.create(PODS, pod({"name": "app", "image": "pause"}))
    made = await client.get(f"{PODS}/p")
    assert made["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "200m", "memory": "1Gi"},
    }  # fmt: skip
    # An explicit value is kept.
    await client.create(
        PODS,
        {
            "metadata": {"name": "own"},
            "spec": {
                "containers": [
                    {"name": "app", "image": "pause", "resources": {"requests": {"cpu": "300m"}}}
                ]
            },
        },
    )
    own = await client.get(f"{PODS}/own")
    assert own["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "300m"
    big = {"metadata": {"name": "big"}, "spec": {"containers": [
        {"name": "app", "image": "pause",
         "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}}]}}  # fmt: skip
    with pytest.raises(ApiStatusError) as refused:
        await client.create(PODS, big)
    assert refused.value.code == 403
    assert refused.value.status["message"] == (
        'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    )
    # Table columns, and the shortname kubectl knows.
    out = await cluster.kubectl("get", "limits")
    assert out.split("\n")[0].split() == ["NAME", "CREATED", "AT"]
    assert out.split("\n")[1].startswith("limits ")
    # An update applies to new pods.
    await cluster.kubectl(
        "patch",
        "limitrange",
        "limits",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/limits/0/max/cpu","value":"3"}]',
    )
    await client.create(PODS, big)
    # Delete by collection, by label.
    await cluster.kubectl("delete", "limitranges", "-l", "team=a")
    assert (await client.get(LIMITS))["items"] == []
