"""What a Service's change of type clears (kybernetes/apiserver/service_types.py)."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.apiserver.service_types import drop_type_dependent_fields, external_name_causes

Obj = dict[str, Any]

NODE_PORT: Obj = {
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
             "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
             "ports": [{"port": 80, "nodePort": 30080}]},
    "status": {"loadBalancer": {}},
}  # fmt: skip


def changed(old: Obj, **spec: Any) -> Obj:
    new = copy.deepcopy(old)
    new["spec"].update(spec)
    drop_type_dependent_fields(new, old)
    return new


def test_to_external_name_drops_what_the_client_left_as_it_was() -> None:
    new = changed(NODE_PORT, type="ExternalName", externalName="foo.example.com")
    assert new["spec"] == {"type": "ExternalName", "externalName": "foo.example.com",
                           "internalTrafficPolicy": "Cluster", "ports": [{"port": 80}]}  # fmt: skip
    assert external_name_causes(new["spec"]) == []


def test_a_cleared_cluster_ip_clears_the_unchanged_cluster_ips() -> None:
    new = changed(NODE_PORT, type="ExternalName", externalName="x.example", clusterIP="")
    assert "clusterIP" not in new["spec"] and "clusterIPs" not in new["spec"]


def test_a_value_the_client_changed_stays_for_validation_to_refuse() -> None:
    new = changed(NODE_PORT, type="ExternalName", externalName="x.example", clusterIP="10.96.0.9")
    assert new["spec"]["clusterIP"] == "10.96.0.9"
    (cause,) = external_name_causes(new["spec"])
    assert (cause.field, cause.reason) == ("spec.clusterIPs", "FieldValueForbidden")
    new = changed(NODE_PORT, type="ClusterIP", ports=[{"port": 80, "nodePort": 30099}])
    assert new["spec"]["ports"] == [{"port": 80, "nodePort": 30099}]  # a new port: not dropped


def test_node_port_to_cluster_ip_keeps_the_ip_and_drops_the_ports() -> None:
    new = changed(NODE_PORT, type="ClusterIP")
    assert new["spec"]["clusterIP"] == "10.96.0.20"
    assert new["spec"]["ports"] == [{"port": 80}]
    assert "externalTrafficPolicy" not in new["spec"]


def test_leaving_load_balancer_drops_its_class_flags_and_status() -> None:
    old = copy.deepcopy(NODE_PORT)
    old["spec"].update(type="LoadBalancer", loadBalancerClass="example.com/lb",
                       allocateLoadBalancerNodePorts=True, externalTrafficPolicy="Local",
                       healthCheckNodePort=31000)  # fmt: skip
    old["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}
    new = changed(old, type="NodePort")
    for gone in ("loadBalancerClass", "allocateLoadBalancerNodePorts", "healthCheckNodePort"):
        assert gone not in new["spec"]
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert new["status"] == {"loadBalancer": {}}
    same = changed(old, ports=[{"port": 81, "nodePort": 30080}])  # no change of type
    assert same["status"] == old["status"] and same["spec"]["healthCheckNodePort"] == 31000
