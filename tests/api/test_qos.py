"""A pod's QoS class from its containers' requests and limits (kybernetes/api/qos.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.api.qos import qos_class


def container(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Any:
    resources = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "i", "resources": resources}


BOTH = {"cpu": "1", "memory": "64Mi"}


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([container()], "BestEffort"),
        ([container(requests={"ephemeral-storage": "1Gi"})], "BestEffort"),  # cpu and memory only
        ([container(limits=BOTH)], "Guaranteed"),  # a request left out is the limit
        ([container(requests={"cpu": "1000m", "memory": "64Mi"}, limits=BOTH)], "Guaranteed"),
        ([container(requests={"cpu": "500m"}, limits=BOTH)], "Burstable"),
        ([container(limits={"memory": "64Mi"})], "Burstable"),  # cpu without a limit
        # Once one resource is short of Guaranteed, the later ones cannot restore it.
        ([container(requests={"cpu": "1"}, limits={"memory": "1Gi"})], "Burstable"),
        ([container(limits=BOTH), container()], "Burstable"),
        ([container(limits=BOTH), container(limits=BOTH)], "Guaranteed"),
    ],
)
def test_the_class_kube_gives_each_shape_of_resources(containers: list[Any], expected: str) -> None:
    assert qos_class({"containers": containers}) == expected


def test_init_containers_count_too() -> None:
    spec = {"initContainers": [container()], "containers": [container(limits=BOTH)]}
    assert qos_class(spec) == "Burstable"
    spec["initContainers"] = [container(limits=BOTH)]
    assert qos_class(spec) == "Guaranteed"
