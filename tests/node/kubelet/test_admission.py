"""The kubelet's admission of a pod new to the node (admission.py): resources, node
affinity, host ports, taints, the pod's OS."""

from __future__ import annotations

from typing import Any

from kybernetes.node.kubelet.admission import (
    NODE_AFFINITY,
    NODE_PORTS,
    OS_LABEL_MISMATCH,
    OS_NOT_SUPPORTED,
    TAINTED,
)
from kybernetes.node.kubelet.admission import admission_refusal as refusal_of

Obj = dict[str, Any]


# A node of 2 cpus, 4 GiB and room for 3 pods.
ALLOCATABLE = {"cpu": "2", "memory": "4Gi", "pods": "3", "ephemeral-storage": "10Gi"}
NODE = {"metadata": {"name": "node1", "labels": {"disk": "ssd", "kubernetes.io/os": "linux"}},
        "status": {"allocatable": ALLOCATABLE}}  # fmt: skip


def pod(*ports: Obj) -> Obj:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def asking(**requests: str) -> Obj:
    return {"spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]}}


def admission_refusal(new: Obj, admitted: list[Obj], node: Obj = NODE) -> Any:
    return refusal_of(new, admitted, node)


def test_a_pod_asking_more_than_the_node_has_left_is_refused() -> None:
    half = asking(cpu="1", memory="2Gi")
    assert admission_refusal(asking(cpu="1"), [half]) is None
    assert admission_refusal(asking(cpu="1001m"), [half]) == (
        "OutOfcpu", "Node didn't have enough resource: cpu, "
        "requested: 1001, used: 1000, capacity: 2000")  # fmt: skip
    reason, message = admission_refusal(asking(memory="3Gi"), [half])
    assert reason == "OutOfmemory"
    assert message.endswith(f"memory, requested: {3 << 30}, used: {2 << 30}, capacity: {4 << 30}")
    # Pods count first, as kube lists it; a pod asking nothing needs only room.
    full = [asking(), asking(), asking()]
    assert admission_refusal(asking(cpu="3"), full)[0] == "OutOfpods"
    assert admission_refusal(asking(), full)[1].endswith("pods, requested: 1, used: 3, capacity: 3")
    assert admission_refusal(asking(), full[:2]) is None
    # An extended resource the node does not have; init containers count as their largest.
    assert admission_refusal(asking(**{"example.com/gpu": "1"}), [])[0] == "OutOfexample.com/gpu"
    init = {"spec": {"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}],
                     "containers": [{"name": "c"}]}}  # fmt: skip
    assert admission_refusal(init, [])[0] == "OutOfcpu"
    # Before the node has registered, nothing holds the pod back.
    assert admission_refusal(asking(cpu="100"), [], {}) is None


def test_a_pod_whose_node_selector_or_affinity_the_node_fails_is_refused() -> None:
    def selecting(**spec: Any) -> Obj:
        return {"spec": {"containers": [{"name": "c"}], **spec}}

    assert admission_refusal(selecting(nodeSelector={"disk": "ssd"}), []) is None
    assert admission_refusal(selecting(nodeSelector={"disk": "hdd"}), []) == NODE_AFFINITY
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node2"]}]}
    required = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    assert admission_refusal(selecting(affinity={"nodeAffinity": required}), []) == NODE_AFFINITY
    assert NODE_AFFINITY[1] == ("Predicate NodeAffinity failed: node(s) "
                                "didn't match Pod's node affinity/selector")  # fmt: skip
    # Resources are looked at first, as kube orders its predicates.
    both = {"spec": {"nodeSelector": {"disk": "hdd"}, "containers": [
        {"name": "c", "resources": {"requests": {"cpu": "3"}}}]}}  # fmt: skip
    assert admission_refusal(both, [])[0] == "OutOfcpu"


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
    assert NODE_PORTS[1].startswith("Predicate NodePorts failed: ")


def test_a_pod_not_tolerating_a_no_execute_taint_is_refused() -> None:
    """Of the node's taints the kubelet looks only at NoExecute ones, as kube's."""
    taints = [{"key": "gone", "effect": "NoExecute"}, {"key": "busy", "effect": "NoSchedule"}]
    tainted = {**NODE, "spec": {"taints": taints}}
    assert admission_refusal(asking(), [], tainted) == TAINTED
    tolerant = {"spec": {"containers": [{"name": "c"}],
                         "tolerations": [{"key": "gone", "operator": "Exists"}]}}  # fmt: skip
    assert admission_refusal(tolerant, [], tainted) is None  # NoSchedule is the scheduler's
    assert TAINTED[1] == ("Predicate TaintToleration failed: node(s) had "
                          "taints that the pod didn't tolerate")  # fmt: skip


def test_a_pod_for_another_os_is_refused() -> None:
    windows = {"spec": {"os": {"name": "windows"}, "containers": [{"name": "c"}]}}
    assert admission_refusal(windows, []) == OS_NOT_SUPPORTED
    linux = {"spec": {"os": {"name": "linux"}, "containers": [{"name": "c"}]}}
    assert admission_refusal(linux, []) is None


def test_a_pod_labelled_for_another_os_is_refused_before_its_os_field_is_read() -> None:
    """kube's rejectPodAdmissionBasedOnOSSelector: the pod's own `kubernetes.io/os`
    label against the node's OS (linux even where the node's label says otherwise)."""

    def labelled(os_label: str, os_name: str | None = None) -> Obj:
        spec: Obj = {"containers": [{"name": "c"}]}
        if os_name:
            spec["os"] = {"name": os_name}
        return {"metadata": {"labels": {"kubernetes.io/os": os_label}}, "spec": spec}

    assert admission_refusal(labelled("windows"), []) == OS_LABEL_MISMATCH
    assert admission_refusal(labelled("windows", "windows"), []) == OS_LABEL_MISMATCH
    assert admission_refusal(labelled("linux", "windows"), []) == OS_NOT_SUPPORTED
    assert admission_refusal(labelled("linux"), []) is None
    mislabelled = {**NODE, "metadata": {"labels": {"kubernetes.io/os": "plan9"}}}
    assert admission_refusal(labelled("linux"), [], mislabelled) is None
    reason, message = OS_LABEL_MISMATCH
    assert reason == "PodOSSelectorNodeLabelDoesNotMatch"
    assert message == "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
