"""Hand-written Endpoints and EndpointSlices, defaulted and checked (endpoints_strategy.py)."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.endpoints_strategy import EndpointSliceStrategy, EndpointsStrategy

Obj = dict[str, Any]


def said(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def test_endpoints_ports_get_tcp_and_bad_addresses_and_ports_are_refused() -> None:
    strategy = EndpointsStrategy()
    good: Obj = {"subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]}
    strategy.default(good)
    assert good["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert strategy.validate(good) == []
    bad: Obj = {"subsets": [{"addresses": [{"ip": "nope"}], "notReadyAddresses": [{"ip": "::1"}],
                             "ports": [{"name": "a", "port": 99999, "protocol": "TCP"},
                                       {"port": 81, "protocol": "ICMP"}]}]}  # fmt: skip
    assert said(strategy.validate(bad)) == [
        'subsets[0].addresses[0].ip: Invalid value: "nope": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)",
        "subsets[0].ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive",
        "subsets[0].ports[1].name: Required value",
        'subsets[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", '
        '"TCP", "UDP"',
    ]


def test_slices_say_their_address_type_and_keep_it() -> None:
    strategy = EndpointSliceStrategy()
    eps: Obj = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}],
                "ports": [{"port": 80}]}  # fmt: skip
    strategy.default(eps)
    assert eps["ports"] == [{"port": 80, "protocol": "TCP", "name": ""}]
    assert strategy.validate(eps) == []
    assert said(strategy.validate({"endpoints": [{"addresses": ["not-an-ip"]}]})) == [
        "addressType: Required value"]  # fmt: skip
    wrong: Obj = {
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["fd00::1"]}, {}],
        "ports": [{"name": "x", "protocol": "TCP"}, {"name": "x", "protocol": "TCP"}],
    }
    assert said(strategy.validate(wrong)) == [
        'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
        "endpoints[1].addresses: Required value: must contain at least 1 address",
        'ports[1].name: Duplicate value: "x"',
    ]
    six = dict(eps, addressType="IPv6", endpoints=[{"addresses": ["fd00::1"]}])
    assert said(strategy.validate_update(six, eps)) == [
        'addressType: Invalid value: "IPv6": field is immutable']  # fmt: skip
    fqdn = dict(eps, addressType="FQDN", endpoints=[{"addresses": ["db.example.com"]}])
    assert strategy.validate(fqdn) == []
