"""The kubelet's admission of a pod new to the node (admission.py): host ports."""

from __future__ import annotations

from typing import Any

from kybernetes.node.kubelet.admission import NODE_PORTS, admission_refusal

Obj = dict[str, Any]


def pod(*ports: Obj) -> Obj:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_a_taken_host_port_refuses_the_pod() -> None:
    on_node = pod({"containerPort": 80, "hostPort": 8080, "hostIP": "198.18.0.10"})
    # The same address, or every address, is taken; another address, protocol or port is not.
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 8080, "hostIP": "198.18.0.10"}),
                             [on_node]) == NODE_PORTS  # fmt: skip
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 8080}), [on_node]) == NODE_PORTS
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 8080, "hostIP": "127.0.0.1"}),
                             [on_node]) is None  # fmt: skip
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 8080, "protocol": "UDP"}),
                             [on_node]) is None  # fmt: skip
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 8081}), [on_node]) is None
    # A port on every address takes it on each address.
    everywhere = pod({"containerPort": 80, "hostPort": 9090})
    assert admission_refusal(pod({"containerPort": 1, "hostPort": 9090, "hostIP": "127.0.0.1"}),
                             [everywhere]) == NODE_PORTS  # fmt: skip
    # No host port: nothing to check.
    assert admission_refusal(pod({"containerPort": 80}), [on_node, everywhere]) is None
    assert NODE_PORTS[1].startswith("Pod was rejected: Predicate NodePorts failed: ")
