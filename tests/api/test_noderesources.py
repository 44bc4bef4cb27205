"""A kubelet's capacity and allocatable written over what the Node already has."""

from __future__ import annotations

from kybernetes.api.noderesources import is_extended_resource, merged_resources

OWN = {"cpu": "4", "memory": "8Gi", "pods": "110"}
RESERVED = {"cpu": "4", "memory": "7Gi", "pods": "110"}


def test_extended_resource_names() -> None:
    assert is_extended_resource("scheduling.k8s.io/foo")
    assert is_extended_resource("example.com/dongle")
    assert not is_extended_resource("cpu")
    assert not is_extended_resource("kubernetes.io/whatever")
    assert not is_extended_resource("hugepages.kubernetes.io/2Mi")
    assert not is_extended_resource("requests.example.com/foo")


def test_an_advertised_resource_is_kept_and_made_allocatable() -> None:
    status = {"capacity": {**OWN, "cpu": "2", "scheduling.k8s.io/foo": "5"},
              "allocatable": dict(OWN)}  # fmt: skip
    capacity, allocatable = merged_resources(status, capacity=OWN, allocatable=RESERVED)
    assert capacity == {**OWN, "scheduling.k8s.io/foo": "5"}  # the kubelet's cpu wins
    assert allocatable == {**RESERVED, "scheduling.k8s.io/foo": "5"}


def test_a_resource_taken_out_of_capacity_leaves_allocatable() -> None:
    extra = {"scheduling.k8s.io/foo": "5", "vendor/other": "1"}
    status = {"capacity": dict(OWN), "allocatable": {**OWN, **extra}}
    capacity, allocatable = merged_resources(status, capacity=OWN, allocatable=RESERVED)
    assert capacity == OWN
    assert allocatable == RESERVED


def test_a_new_node_gets_its_own_figures() -> None:
    assert merged_resources({}, capacity=OWN, allocatable=RESERVED) == (OWN, RESERVED)
