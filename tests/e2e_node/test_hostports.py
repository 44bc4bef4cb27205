"""hostPort on a whole node (checklist H07's TCP half; the kind-style ingress recipe):
a container port reachable on the node's addresses, from the node, from its
loopback, from another pod and from the pod itself, per hostIP, and gone with
the pod. busybox here has no UDP client or server, so UDP is left to the unit
tests of the table (tests/node/network/test_hostports.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e_node.node import IMAGE, NODE_IP, Node, until

pytestmark = pytest.mark.root

Obj = dict[str, Any]
PORT = 18080


def serving(name: str, host_ip: str = "") -> Obj:
    """A pod answering its name on :8080, published on the node's PORT."""
    port = {"containerPort": 8080, "hostPort": PORT, **({"hostIP": host_ip} if host_ip else {})}
    script = (f"mkdir -p /tmp/w && echo {name} > /tmp/w/index.html && "
              "exec /bin/busybox httpd -f -p 8080 -h /tmp/w")  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "web", "image": IMAGE, "ports": [port],
                "command": ["/bin/busybox", "sh", "-c", script]}]}}  # fmt: skip


@pytest.fixture(scope="module")
def published(node: Node, client: str) -> Iterator[Node]:
    # Two pods share the port number on two addresses (H07): 127.0.0.1 and the node's IP.
    for pod in (serving("on-loopback", "127.0.0.1"), serving("on-node", NODE_IP)):
        node.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    node.kubectl("wait", "--for=condition=Ready", "pod/on-loopback", "pod/on-node",
                 "--timeout=90s")  # fmt: skip
    yield node


def test_one_port_on_two_addresses_reaches_two_pods(published: Node) -> None:
    until(lambda: published.fetch(f"http://{NODE_IP}:{PORT}/") == "on-node",
          what="the node's address to reach on-node")  # fmt: skip
    assert published.fetch(f"http://127.0.0.1:{PORT}/") == "on-loopback"
    # From another pod, and from the pod itself through its own host port (hairpin).
    assert published.from_pod("client", f"http://{NODE_IP}:{PORT}/") == "on-node"
    assert published.from_pod("on-node", f"http://{NODE_IP}:{PORT}/") == "on-node"


def test_the_port_goes_with_the_pod(published: Node) -> None:
    published.kubectl("delete", "pod", "on-node", "--wait=true", "--timeout=60s")
    until(lambda: published.fetch(f"http://{NODE_IP}:{PORT}/") == "", what="the port to go")
    assert published.fetch(f"http://127.0.0.1:{PORT}/") == "on-loopback"
    # Every address would take the loopback's port too: the scheduler says no (NodePorts).
    published.kubectl("apply", "-f", "-", stdin=json.dumps(serving("everywhere")))
    until(lambda: "free ports" in published.kubectl("get", "events", "--field-selector",
                                                    "involvedObject.name=everywhere"),
          what="everywhere to be refused a node")  # fmt: skip
    published.kubectl("delete", "pod", "everywhere", "--wait=false")
    # The node's address is free again for another pod.
    published.kubectl("apply", "-f", "-", stdin=json.dumps(serving("on-node-again", NODE_IP)))
    until(lambda: published.fetch(f"http://{NODE_IP}:{PORT}/") == "on-node-again",
          what="the new pod on the node's address")  # fmt: skip
    assert published.fetch(f"http://127.0.0.1:{PORT}/") == "on-loopback"


def test_a_pod_bound_past_the_scheduler_to_a_taken_port_fails(published: Node) -> None:
    """Checklist T03's first half: the kubelet's own admission (NodePorts)."""
    intruder = serving("intruder", NODE_IP)
    intruder["spec"]["nodeName"] = published.jsonpath("nodes", path="{.items[0].metadata.name}")
    published.kubectl("apply", "-f", "-", stdin=json.dumps(intruder))
    until(lambda: published.jsonpath("pod", "intruder", path="{.status.phase}") == "Failed",
          what="the intruder to be rejected")  # fmt: skip
    status = json.loads(published.kubectl("get", "pod", "intruder", "-o", "json"))["status"]
    assert status["reason"] == "NodePorts"
    assert status["message"].startswith("Pod was rejected: Predicate NodePorts failed")
    assert "containerStatuses" not in status  # it never started
    assert published.fetch(f"http://{NODE_IP}:{PORT}/") == "on-node-again"
    published.kubectl("delete", "pod", "intruder", "--wait=true", "--timeout=60s")


def test_a_stateful_pod_the_node_rejects_is_made_again_until_it_runs(published: Node) -> None:
    """Checklist T03: the StatefulSet deletes its Failed pod and creates it again; once
    the port is free, it runs."""
    node_name = published.jsonpath("nodes", path="{.items[0].metadata.name}")
    spec = serving("ss", NODE_IP)["spec"]
    template = {"metadata": {"labels": {"app": "ss"}}, "spec": {**spec, "nodeName": node_name}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "ss"},
           "spec": {"replicas": 1, "serviceName": "ss", "selector": {"matchLabels": {"app": "ss"}},
                    "template": template}}  # fmt: skip
    published.kubectl("apply", "-f", "-", stdin=json.dumps(sts))
    until(lambda: "RecreatingFailedPod" in published.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=ss"),
        what="the StatefulSet to recreate its rejected pod")  # fmt: skip
    published.kubectl("delete", "pod", "on-node-again", "--wait=true", "--timeout=60s")
    until(lambda: published.fetch(f"http://{NODE_IP}:{PORT}/") == "ss",
          what="the stateful pod to run on the freed port")  # fmt: skip
    published.kubectl("delete", "statefulset", "ss", "--wait=true", "--timeout=60s")
