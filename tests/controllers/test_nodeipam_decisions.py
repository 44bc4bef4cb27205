"""Node IPAM's CIDR set: allocate, occupy (rebuild), release, exhaust."""

from __future__ import annotations

import pytest

from kybernetes.controllers.nodeipam_decisions import CidrSet, RangeExhausted, node_cidrs


def test_allocates_24s_from_the_cluster_cidr_in_order() -> None:
    cidrs = CidrSet()
    assert [cidrs.allocate() for _ in range(3)] == ["10.244.0.0/24", "10.244.1.0/24",
                                                    "10.244.2.0/24"]  # fmt: skip
    assert cidrs.size == 256 and len(cidrs) == 3


def test_rebuilt_set_never_hands_out_a_cidr_in_use() -> None:
    cidrs = CidrSet("10.244.0.0/22")
    assert cidrs.occupy("10.244.0.0/24") and cidrs.occupy("10.244.2.0/24")
    assert cidrs.allocate() == "10.244.1.0/24"
    assert cidrs.allocate() == "10.244.3.0/24"
    with pytest.raises(RangeExhausted, match="no remaining CIDRs"):
        cidrs.allocate()


def test_release_returns_a_cidr_but_last() -> None:
    cidrs = CidrSet("10.244.0.0/22")
    first = cidrs.allocate()
    cidrs.allocate()
    cidrs.release(first)
    assert not cidrs.in_use(first)
    # The cursor moves on: the freed one comes back only after the rest.
    assert cidrs.allocate() == "10.244.2.0/24"
    assert cidrs.allocate() == "10.244.3.0/24"
    assert cidrs.allocate() == first


def test_occupy_refuses_what_is_not_ours() -> None:
    cidrs = CidrSet("10.244.0.0/16")
    assert not cidrs.occupy("10.245.0.0/24")
    assert not cidrs.occupy("10.244.0.0/25")
    assert not cidrs.occupy("10.244.0.1/24")  # host bits set
    assert not cidrs.occupy("garbage")
    assert len(cidrs) == 0


def test_other_node_masks_and_ipv6() -> None:
    assert CidrSet("10.0.0.0/8", 16).allocate() == "10.0.0.0/16"
    assert CidrSet("fd00::/48", 64).allocate() == "fd00::/64"
    with pytest.raises(ValueError):
        CidrSet("10.244.0.0/16", 8)


def test_node_cidrs() -> None:
    assert node_cidrs({"spec": {"podCIDR": "10.244.3.0/24"}}) == ["10.244.3.0/24"]
    assert node_cidrs({"spec": {"podCIDRs": ["a", "b"], "podCIDR": "a"}}) == ["a", "b"]
    assert node_cidrs({}) == []
