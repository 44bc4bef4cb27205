"""The service environment variables, as the kubelet makes them."""

from __future__ import annotations

from typing import Any

from kybernetes.node.kubelet.containerspec import build_env
from kybernetes.node.kubelet.serviceenv import service_env, visible_services


def service(name: str, namespace: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": ip, "ports": list(ports)}}  # fmt: skip


API = service("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443})
FOO = service("fooservice", "shop", "10.96.7.7", {"port": 8765, "protocol": "TCP"})
DNS = service("kube-dns", "shop", "10.96.0.10", {"name": "dns", "port": 53, "protocol": "UDP"},
              {"name": "dns-tcp", "port": 53})  # fmt: skip
HEADLESS = service("headless", "shop", "None", {"port": 80})
ELSEWHERE = service("other", "default", "10.96.9.9", {"port": 80})


def test_the_variables_of_one_service() -> None:
    assert service_env([FOO]) == {
        "FOOSERVICE_SERVICE_HOST": "10.96.7.7",
        "FOOSERVICE_SERVICE_PORT": "8765",
        "FOOSERVICE_PORT": "tcp://10.96.7.7:8765",
        "FOOSERVICE_PORT_8765_TCP": "tcp://10.96.7.7:8765",
        "FOOSERVICE_PORT_8765_TCP_PROTO": "tcp",
        "FOOSERVICE_PORT_8765_TCP_PORT": "8765",
        "FOOSERVICE_PORT_8765_TCP_ADDR": "10.96.7.7",
    }
    dns = service_env([DNS])
    assert dns["KUBE_DNS_SERVICE_PORT_DNS"] == dns["KUBE_DNS_SERVICE_PORT_DNS_TCP"] == "53"
    assert dns["KUBE_DNS_PORT"] == "udp://10.96.0.10:53"
    assert dns["KUBE_DNS_PORT_53_TCP_PROTO"] == "tcp"
    assert service_env([service("1st.svc", "ns", "10.96.1.1", {"port": 1})])[
        "_1ST_SVC_SERVICE_HOST"] == "10.96.1.1"  # fmt: skip


def test_which_services_a_pod_sees() -> None:
    every = [API, FOO, DNS, HEADLESS, ELSEWHERE]
    assert visible_services(every, "shop", links=True) == [FOO, DNS, API]  # by name
    # Without links only the API server's own Service: in-cluster clients need it.
    assert visible_services(every, "shop", links=False) == [API]
    mine = service("kubernetes", "shop", "10.96.3.3", {"port": 80})
    assert visible_services([API, mine], "shop", links=True) == [mine]


def test_the_container_wins_and_may_refer_to_them() -> None:
    pod = {"metadata": {"name": "p", "namespace": "shop"}}
    container = {"name": "c", "env": [
        {"name": "URL", "value": "http://$(FOOSERVICE_SERVICE_HOST):$(FOOSERVICE_SERVICE_PORT)"},
        {"name": "FOOSERVICE_SERVICE_PORT", "value": "mine"}]}  # fmt: skip
    env = build_env(pod, container, sources={}, pod_ip="", host_ip="",
                    service_env=service_env([FOO]))  # fmt: skip
    assert env["URL"] == "http://10.96.7.7:8765"
    assert env["FOOSERVICE_SERVICE_PORT"] == "mine"
    assert env["FOOSERVICE_PORT_8765_TCP_ADDR"] == "10.96.7.7"
    assert list(env)[:2] == ["URL", "FOOSERVICE_SERVICE_PORT"]  # the container's own first
