"""What the proxy needs from Services and EndpointSlices, as plain values (pure).

One `ServicePort` per port of every Service that gets rules: its frontends
(cluster IP, node port, external IPs, load-balancer addresses), its
policies, and its endpoints merged from every EndpointSlice labelled with
the service's name. As kube-proxy does, headless services, ExternalName
services, services that name another proxy
(`service.kubernetes.io/service-proxy-name`) and services with no cluster IP
get nothing. Endpoints are taken when `ready` (a missing condition means
ready); when a service has no ready endpoint at all, its serving
terminating ones are used instead, so a rolling update that drains the
last pod does not refuse connections before the pod has stopped serving
(kube-proxy's terminating-endpoint fallback).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_AFFINITY_TIMEOUT",
    "SIMULATED_LABEL",
    "SERVICE_NAME_LABEL",
    "Endpoint",
    "ServicePort",
    "ports_of",
    "service_ports",
    "without_nodes",
    "slice_service",
]

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
HEADLESS_LABEL = "service.kubernetes.io/headless"
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds: kubernetes' default for ClientIP affinity
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    local: bool = False  # on this node (for the Local traffic policies)


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # nft's word: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0  # seconds of ClientIP affinity; 0 = none
    internal_local: bool = False  # internalTrafficPolicy: Local
    external_local: bool = False  # externalTrafficPolicy: Local
    endpoints: tuple[Endpoint, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """`ns/name/proto/port`: unique per service port, readable in `nft list`."""
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name or self.port}"

    @property
    def external(self) -> bool:
        """Reachable from outside the cluster network (NodePort, external IPs, LB)."""
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def local_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.local)


def gets_rules(service: Obj) -> bool:
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    labels = meta.get("labels") or {}
    if PROXY_NAME_LABEL in labels or HEADLESS_LABEL in labels:
        return False
    if spec.get("type") == "ExternalName":
        return False
    return spec.get("clusterIP") not in (None, "", "None")


SIMULATED_LABEL = "kybernetes.io/simulated"  # as kybernetes.simnode labels its nodes


def without_nodes(eps: Obj, nodes: set[str]) -> Obj:
    """An EndpointSlice without the endpoints on `nodes` (the same object when none are)."""
    if not nodes:
        return eps
    kept = [e for e in eps.get("endpoints") or [] if e.get("nodeName") not in nodes]
    return eps if len(kept) == len(eps.get("endpoints") or []) else {**eps, "endpoints": kept}


def _slice_endpoints(slices: Iterable[Obj], *, port_name: str, protocol: str,
                     node_name: str) -> tuple[Endpoint, ...]:  # fmt: skip
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    for eps in slices:
        if eps.get("addressType", "IPv4") != "IPv4":
            continue
        number = 0
        for port in eps.get("ports") or []:
            if (port.get("name") or "") == port_name and port.get("protocol", "TCP") == protocol:
                number = int(port.get("port") or 0)
        if not number:
            continue
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            addresses = endpoint.get("addresses") or []
            if not addresses:
                continue
            value = Endpoint(str(addresses[0]), number, endpoint.get("nodeName") == node_name)
            if conditions.get("ready") is not False:
                ready.add(value)
            elif conditions.get("serving") and conditions.get("terminating"):
                terminating.add(value)
    return tuple(sorted(ready or terminating))


def slice_service(eps: Obj) -> str:
    """`namespace/service` of an EndpointSlice ("" when it names none)."""
    meta = eps.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace', '')}/{service}" if service else ""


def service_ports(services: Iterable[Obj], slices: Iterable[Obj], *,
                  node_name: str) -> list[ServicePort]:  # fmt: skip
    """Every service port that gets rules on node `node_name`, in a stable order."""
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for eps in slices:
        meta = eps.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            by_service.setdefault((meta.get("namespace", ""), service), []).append(eps)
    result = []
    for service in services:
        result.extend(ports_of(service, by_service, node_name=node_name))
    return sorted(result, key=lambda p: p.id)


def ports_of(service: Obj, slices: Mapping[tuple[str, str], list[Obj]], *,
             node_name: str) -> list[ServicePort]:  # fmt: skip
    """The service ports of one Service (none if it gets no rules); `slices` by service."""
    if not gets_rules(service):
        return []
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    namespace, name = meta.get("namespace", ""), meta["name"]
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = (
        tuple(i["ip"] for i in ingress if i.get("ip")) if spec.get("type") == "LoadBalancer" else ()
    )
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    result = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            continue
        port_name = port.get("name") or ""
        result.append(ServicePort(
            namespace=namespace,
            name=name,
            port_name=port_name,
            protocol=PROTOCOLS[protocol],
            cluster_ip=str(spec["clusterIP"]),
            port=int(port["port"]),
            node_port=int(port.get("nodePort") or 0)
            if spec.get("type") in ("NodePort", "LoadBalancer") else 0,
            external_ips=tuple(spec.get("externalIPs") or ()),
            load_balancer_ips=lb_ips,
            affinity_timeout=affinity,
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            external_local=spec.get("externalTrafficPolicy") == "Local",
            endpoints=_slice_endpoints(slices.get((namespace, name), ()), port_name=port_name,
                                       protocol=protocol, node_name=node_name),
        ))  # fmt: skip
    return result
