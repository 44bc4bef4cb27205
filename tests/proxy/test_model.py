"""Services and EndpointSlices become service ports (pure)."""

from __future__ import annotations

from typing import Any

from kybernetes.proxy.host import stale_udp_flows
from kybernetes.proxy.model import Endpoint, ServicePort, service_ports


def svc(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": 8080}])
    return {"metadata": {"namespace": "default", "name": name}, "spec": spec}


def eps(service: str, *endpoints: dict[str, Any], port: int = 8080,
        port_name: str = "http") -> dict[str, Any]:  # fmt: skip
    return {"metadata": {"namespace": "default", "name": f"{service}-x",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": list(endpoints)}  # fmt: skip


def ep(ip: str, *, node: str = "n1", **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": node, "conditions": conditions}


def test_ready_endpoints_of_every_slice_with_their_locality() -> None:
    ports = service_ports(
        [svc("web", sessionAffinity="ClientIP", type="NodePort",
             ports=[{"name": "http", "port": 80, "nodePort": 30080}])],
        [eps("web", ep("10.244.0.3", ready=True), ep("10.244.0.4", node="n2")),
         eps("web", ep("10.244.0.5", ready=False)), eps("other", ep("10.244.0.9"))],
        node_name="n1",
    )  # fmt: skip
    assert ports == [ServicePort(
        namespace="default", name="web", port_name="http", protocol="tcp",
        cluster_ip="10.96.0.10", port=80, node_port=30080, affinity_timeout=10800,
        endpoints=(Endpoint("10.244.0.3", 8080, True), Endpoint("10.244.0.4", 8080, False)),
    )]  # fmt: skip
    assert ports[0].id == "default/web/tcp/http" and ports[0].external


def test_terminating_serving_endpoints_only_when_none_is_ready() -> None:
    draining = ep("10.244.0.3", ready=False, serving=True, terminating=True)
    ports = service_ports([svc("web")], [eps("web", draining)], node_name="n1")
    assert [e.ip for e in ports[0].endpoints] == ["10.244.0.3"]
    ports = service_ports([svc("web")], [eps("web", draining, ep("10.244.0.4"))], node_name="n1")
    assert [e.ip for e in ports[0].endpoints] == ["10.244.0.4"]


def test_headless_external_name_and_other_proxies_get_nothing() -> None:
    other = svc("mine")
    other["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": "theirs"}
    services = [svc("headless", clusterIP="None"), svc("ext", type="ExternalName"), other]
    assert service_ports(services, [], node_name="n1") == []


def test_ports_match_slices_by_name_and_protocol() -> None:
    service = svc("dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])  # fmt: skip
    ports = service_ports([service], [eps("dns", ep("10.244.0.3"), port=5353, port_name="dns-tcp")],
                          node_name="n1")  # fmt: skip
    assert [(p.protocol, p.endpoints) for p in ports] == [
        ("tcp", (Endpoint("10.244.0.3", 5353, True),)), ("udp", ())]  # fmt: skip


def test_load_balancer_addresses_and_policies() -> None:
    service = svc("lb", type="LoadBalancer", externalIPs=["192.0.2.9"],
                  internalTrafficPolicy="Local", externalTrafficPolicy="Local",
                  sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})  # fmt: skip
    service["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "x"}]}}
    [port] = service_ports([service], [], node_name="n1")
    assert (port.external_ips, port.load_balancer_ips) == (("192.0.2.9",), ("192.0.2.1",))
    assert (port.internal_local, port.external_local, port.affinity_timeout) == (True, True, 60)


def test_stale_udp_flows_name_the_endpoints_that_left() -> None:
    a, b = Endpoint("10.244.0.3", 53), Endpoint("10.244.0.4", 53)
    old = ServicePort(namespace="kube-system", name="dns", port_name="dns", protocol="udp",
                      cluster_ip="10.96.0.10", port=53, node_port=30053,
                      endpoints=(a, b))  # fmt: skip
    new = ServicePort(**{**old.__dict__, "endpoints": (b,)})
    assert stale_udp_flows([old], [new]) == [
        ["-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53", "--dst-nat", a.ip],
        ["-p", "udp", "--orig-port-dst", "30053", "--dst-nat", a.ip],
    ]
    assert len(stale_udp_flows([old], [])) == 4  # the service went: both endpoints
    tcp = ServicePort(**{**old.__dict__, "protocol": "tcp"})
    assert stale_udp_flows([tcp], []) == []  # TCP needs nothing: a dead endpoint resets


def test_endpoints_on_simulated_nodes_are_never_used() -> None:
    """Their addresses are made up and have no route: traffic would leave the machine."""
    from kybernetes.proxy.model import without_nodes

    eps = {"endpoints": [{"addresses": ["10.244.0.5"], "nodeName": "real"},
                         {"addresses": ["10.244.1.5"], "nodeName": "sim-0"}]}  # fmt: skip
    kept = without_nodes(eps, {"sim-0"})
    assert [e["nodeName"] for e in kept["endpoints"]] == ["real"]
    assert without_nodes(eps, set()) is eps
