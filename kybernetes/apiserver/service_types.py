"""What a Service's change of `type` takes away, as kube-apiserver's service strategy does.

A Service is a union with `type` as its discriminator: a ClusterIP belongs to
every type but ExternalName, nodePorts to NodePort and LoadBalancer, a load
balancer's class and status to LoadBalancer. When an update changes the type,
the fields the new type has no use for are cleared, but only when the client
left them as they were (kube's `dropTypeDependentFields`): `kubectl patch svc
web -p '{"spec":{"type":"ExternalName",...}}'` works without the user also
clearing the ClusterIP, while a client that changes such a field on purpose
gets validation's answer. What was allocated is released by admission after
the write (admission.py).
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.errors import Cause

__all__ = ["drop_type_dependent_fields", "external_name_causes", "needs_cluster_ip"]

Spec = dict[str, Any]


def needs_cluster_ip(spec: Spec) -> bool:
    return bool(spec.get("type", "ClusterIP") != "ExternalName")


def _needs_node_ports(spec: Spec) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _node_ports(spec: Spec) -> set[Any]:
    return {p.get("nodePort") for p in spec.get("ports") or []
            if isinstance(p, dict) and p.get("nodePort")}  # fmt: skip


def _same(new: Spec, old: Spec, field: str) -> bool:
    return new.get(field) == old.get(field)


def _normalize_cluster_ips(new: Spec, old: Spec) -> None:
    """A client that clears `clusterIP` and sends `clusterIPs` unchanged (a PUT of
    what it read) means both: kube's normalizeClusterIPs."""
    if not new.get("clusterIP") and new.get("clusterIPs") and _same(new, old, "clusterIPs"):
        del new["clusterIPs"]
    if new.get("clusterIP") == "":
        del new["clusterIP"]  # as Go's omitempty writes it


def drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Clear, in the updated Service `new`, what its new type does not use (mutates `new`)."""
    spec, old_spec = new.get("spec"), old.get("spec")
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return
    _normalize_cluster_ips(spec, old_spec)
    if needs_cluster_ip(old_spec) and not needs_cluster_ip(spec):
        if _same(spec, old_spec, "clusterIP") and _same(spec, old_spec, "clusterIPs"):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for field in ("ipFamilies", "ipFamilyPolicy"):
            if _same(spec, old_spec, field):
                spec.pop(field, None)
    if (_needs_node_ports(old_spec) and not _needs_node_ports(spec)
            and _node_ports(spec) <= _node_ports(old_spec)):  # fmt: skip
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)
    local_lb = {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    if (all(old_spec.get(k) == v for k, v in local_lb.items())
            and not all(spec.get(k) == v for k, v in local_lb.items())
            and _same(spec, old_spec, "healthCheckNodePort")):  # fmt: skip
        spec.pop("healthCheckNodePort", None)
    if old_spec.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if _same(spec, old_spec, field):
                spec.pop(field, None)
    if (_needs_node_ports(old_spec) and not _needs_node_ports(spec)
            and _same(spec, old_spec, "externalTrafficPolicy")):  # fmt: skip
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") != "LoadBalancer" and isinstance(new.get("status"), dict):
        # A load balancer's address goes with its type, as in kube (its teardown
        # may take a while, a user need not see that).
        new["status"]["loadBalancer"] = {}


def external_name_causes(spec: Spec) -> list[Cause]:
    """An ExternalName Service has no ClusterIP and no IP families (kube's ValidateService)."""
    if needs_cluster_ip(spec):
        return []
    forbidden = "Forbidden: may not be set for ExternalName services"
    causes = []
    if spec.get("clusterIPs") or spec.get("clusterIP"):
        causes.append(Cause("spec.clusterIPs", "FieldValueForbidden", forbidden))
    if spec.get("ipFamilies"):
        causes.append(Cause("spec.ipFamilies", "FieldValueForbidden", forbidden))
    if spec.get("ipFamilyPolicy"):
        causes.append(Cause("spec.ipFamilyPolicy", "FieldValueForbidden", forbidden))
    return causes
