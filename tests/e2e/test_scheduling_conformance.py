"""Scheduling as the conformance tests drive it, with the official Python client
against a whole control plane on three simulated nodes (checklist H02, H04,
H05, H06, H08, H10, H11, H12).

The preemption tests advertise a fake extended resource by patching only
`status.capacity`, as the older conformance tests do: the node's kubelet
must keep it and make it allocatable, or nothing could ever use it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import Plane, wait_for

Obj = dict[str, Any]
FOO = "scheduling.k8s.io/foo"
FINALIZER = "example.com/test-finalizer"


def _api(plane: Plane) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))


def _pod(name: str, *, node: str = "", foo: str = "", **spec: Any) -> Obj:
    container: Obj = {"name": "pause", "image": "registry.k8s.io/pause:3.10"}
    if foo:
        container["resources"] = {"requests": {FOO: foo}, "limits": {FOO: foo}}
    if node:
        spec.setdefault("nodeSelector", {"kubernetes.io/hostname": node})
    return {"metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def _advertise(core: Any, node: str, amount: str) -> None:
    core.patch_node_status(node, {"status": {"capacity": {FOO: amount}}})
    wait_for(lambda: (core.read_node(node).status.allocatable or {}).get(FOO) == amount,
             what=f"{FOO} allocatable on {node}")  # fmt: skip


def _scheduled_message(core: Any, name: str, namespace: str = "default") -> str:
    pod = core.read_namespaced_pod(name, namespace)
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return str(condition.message or "")
    return ""


def _events(core: Any, name: str, reason: str) -> list[Any]:
    found = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}")
    return [e for e in found.items if e.reason == reason]


def _running_on(core: Any, name: str, node: str, namespace: str = "default") -> bool:
    pod = core.read_namespaced_pod(name, namespace)
    return bool(pod.spec.node_name == node and pod.status.phase == "Running")


async def test_node_selector_and_host_port_conflicts(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        # H05: nothing carries the label; the pod waits and says why.
        core.create_namespaced_pod("default", _pod("picky", nodeSelector={"e2e-label": "42"}))
        waiting = ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
                   " preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
                   "scheduling.")  # fmt: skip
        wait_for(lambda: _scheduled_message(core, "picky") == waiting, what="Unschedulable")
        wait_for(lambda: [e for e in _events(core, "picky", "FailedScheduling")
                          if e.message == waiting and e.type == "Warning"],
                 what="the FailedScheduling event")  # fmt: skip
        # H04: the label arrives on one node; the pod goes there.
        core.patch_node("sim-1", {"metadata": {"labels": {"e2e-label": "42"}}})
        wait_for(lambda: _running_on(core, "picky", "sim-1"), what="picky on sim-1")
        scheduled = _events(core, "picky", "Scheduled")
        assert scheduled[0].message == "Successfully assigned default/picky to sim-1"
        # H06: port 54322 on every address of sim-2 blocks 127.0.0.1:54322 there.
        port = {"containerPort": 8080, "hostPort": 54322, "protocol": "TCP"}
        first = _pod("any-ip", node="sim-2")
        first["spec"]["containers"][0]["ports"] = [port]
        core.create_namespaced_pod("default", first)
        wait_for(lambda: _running_on(core, "any-ip", "sim-2"), what="the first pod")
        second = _pod("loopback", node="sim-2")
        second["spec"]["containers"][0]["ports"] = [{**port, "hostIP": "127.0.0.1"}]
        core.create_namespaced_pod("default", second)
        conflict = ("0/3 nodes are available: 1 node(s) didn't have free ports for the requested"
                    " pod ports, 2 node(s) didn't match Pod's node affinity/selector. preemption:"
                    " 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
                    "2 Preemption is not helpful for scheduling.")  # fmt: skip
        wait_for(lambda: _scheduled_message(core, "loopback") == conflict, what="the conflict")
        # Another protocol on the same port shares the node.
        udp = _pod("udp", node="sim-2")
        udp["spec"]["containers"][0]["ports"] = [{**port, "protocol": "UDP"}]
        core.create_namespaced_pod("default", udp)
        wait_for(lambda: _running_on(core, "udp", "sim-2"), what="the UDP pod")

    await asyncio.to_thread(scenario)


async def test_basic_preemption_marks_the_victim_before_it_goes(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        api = _api(plane)
        core, scheduling = client.CoreV1Api(api), client.SchedulingV1Api(api)
        for name, value in (("e2e-low", 1), ("e2e-medium", 100), ("e2e-high", 1000)):
            scheduling.create_priority_class(
                {"metadata": {"name": name}, "value": value, "description": "e2e"}
            )
        _advertise(core, "sim-0", "2")
        victim = _pod("low", node="sim-0", foo="1", priorityClassName="e2e-low")
        victim["metadata"]["finalizers"] = [FINALIZER]  # H12: it lingers, readable
        core.create_namespaced_pod("default", victim)
        core.create_namespaced_pod(
            "default", _pod("medium", node="sim-0", foo="1", priorityClassName="e2e-medium")
        )
        for name in ("low", "medium"):
            wait_for(lambda name=name: _running_on(core, name, "sim-0"), what=name)
        core.create_namespaced_pod(
            "default", _pod("high", node="sim-0", foo="1", priorityClassName="e2e-high")
        )

        def disrupted() -> Any:
            pod = core.read_namespaced_pod("low", "default")
            return [c for c in pod.status.conditions or [] if c.type == "DisruptionTarget"]

        (target,) = wait_for(disrupted, what="the DisruptionTarget condition")
        assert (target.status, target.reason) == ("True", "PreemptionByScheduler")
        assert target.message == "default-scheduler: preempting to accommodate a higher " \
            "priority pod"  # fmt: skip
        assert core.read_namespaced_pod("low", "default").metadata.deletion_timestamp
        assert core.read_namespaced_pod("medium", "default").metadata.deletion_timestamp is None
        wait_for(lambda: core.read_namespaced_pod("high", "default").status.nominated_node_name
                 == "sim-0", what="high nominated")  # fmt: skip
        core.patch_namespaced_pod("low", "default", {"metadata": {"finalizers": None}})
        wait_for(lambda: _running_on(core, "high", "sim-0"), what="high running on sim-0")
        preempted = _events(core, "low", "Preempted")
        uid = core.read_namespaced_pod("high", "default").metadata.uid
        assert preempted and preempted[0].message == f"Preempted by pod {uid} on node sim-0"

    await asyncio.to_thread(scenario)


async def test_a_critical_pod_preempts_in_kube_system(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        _advertise(core, "sim-2", "1")
        core.create_namespaced_pod("default", _pod("ordinary", node="sim-2", foo="1"))
        wait_for(lambda: _running_on(core, "ordinary", "sim-2"), what="the ordinary pod")
        critical = _pod("critical", node="sim-2", foo="1",
                        priorityClassName="system-cluster-critical")  # fmt: skip
        core.create_namespaced_pod("kube-system", critical)
        assert core.read_namespaced_pod("critical", "kube-system").spec.priority == 2000000000
        wait_for(lambda: _running_on(core, "critical", "sim-2", "kube-system"),
                 what="the critical pod running")  # fmt: skip

        def gone() -> bool:
            names = [p.metadata.name for p in core.list_namespaced_pod("default").items]
            return "ordinary" not in names

        wait_for(gone, what="the preempted pod deleted")

    await asyncio.to_thread(scenario)


async def test_limitranges_listed_patched_and_deleted_by_collection(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        core.create_namespace({"metadata": {"name": "e2e-other"}})
        limits = {"type": "Container", "default": {"cpu": "500m"},
                  "defaultRequest": {"cpu": "100m"}}  # fmt: skip
        for namespace in ("default", "e2e-other"):
            for name, label in (("mine", "yes"), ("theirs", "no")):
                core.create_namespaced_limit_range(namespace, {
                    "metadata": {"name": name, "labels": {"e2e-limitrange": label}},
                    "spec": {"limits": [limits]}})  # fmt: skip
        found = core.list_limit_range_for_all_namespaces(label_selector="e2e-limitrange=yes")
        assert sorted(lr.metadata.namespace for lr in found.items) == ["default", "e2e-other"]
        patched = core.patch_namespaced_limit_range(
            "mine", "default", {"metadata": {"labels": {"patched": "true"}}}
        )
        assert patched.metadata.labels == {"e2e-limitrange": "yes", "patched": "true"}
        core.delete_collection_namespaced_limit_range(
            "default", label_selector="e2e-limitrange=yes"
        )
        left = core.list_limit_range_for_all_namespaces()
        assert sorted((lr.metadata.namespace, lr.metadata.name) for lr in left.items) == [
            ("default", "theirs"), ("e2e-other", "mine"), ("e2e-other", "theirs")]  # fmt: skip

    await asyncio.to_thread(scenario)
