"""Host-local IPAM: round-robin, exclusive, durable across restarts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from kybernetes.node.network.ipam import AddressesExhausted, HostLocalIpam, candidates, gateway_of


def test_candidates_skip_network_gateway_and_broadcast_and_start_after_the_last() -> None:
    assert [str(a) for a in candidates("10.244.1.0/29", None)] == [
        "10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.6"]  # fmt: skip
    assert [str(a) for a in candidates("10.244.1.0/29", "10.244.1.4")][:3] == [
        "10.244.1.5", "10.244.1.6", "10.244.1.2"]  # fmt: skip
    assert str(next(iter(candidates("10.244.1.0/29", "10.9.9.9")))) == "10.244.1.2"  # foreign
    assert gateway_of("10.244.1.0/24") == ipaddress.IPv4Interface("10.244.1.1/24")


def test_allocation_is_stable_exclusive_and_survives_a_restart(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.244.1.0/29")
    a = ipam.allocate("pod-a")
    assert ipam.allocate("pod-a") == a  # idempotent
    b = ipam.allocate("pod-b")
    assert a != b
    restarted = HostLocalIpam(tmp_path, "10.244.1.0/29")
    assert restarted.owned_by("pod-b") == b
    restarted.release("pod-a")
    c = restarted.allocate("pod-c")
    assert c not in (a, b)  # round-robin: the freed address is not reused at once
    assert restarted.allocations() == {b: "pod-b", c: "pod-c"}


def test_exhaustion_is_a_named_error(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.244.1.0/30")  # .0 net, .1 gw, .2 only, .3 broadcast
    ipam.allocate("one")
    with pytest.raises(AddressesExhausted, match=r"10\.244\.1\.0/30"):
        ipam.allocate("two")


def test_owners_are_remembered_but_changes_behind_its_back_are_noticed(tmp_path: Path) -> None:
    ipam = HostLocalIpam(tmp_path, "10.244.3.0/24")
    first = ipam.allocate("pod-a")
    assert ipam.allocate("pod-a") == first  # remembered
    # Another process (or an operator) frees and reuses the file for someone else.
    (tmp_path / str(first)).write_text("pod-z")
    second = ipam.allocate("pod-a")
    assert second != first and (tmp_path / str(second)).read_text() == "pod-a"
    # A fresh instance (a restarted kubelet) reads the owners from the files.
    again = HostLocalIpam(tmp_path, "10.244.3.0/24")
    assert again.allocate("pod-a") == second and again.owned_by("pod-z") == first
    again.release("pod-a")
    assert not (tmp_path / str(second)).exists() and again.owned_by("pod-a") is None
