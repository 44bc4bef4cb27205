"""Nodes end to end: a node that dies loses its pods; a pod that fits nowhere says why."""

from __future__ import annotations

import json

from tests.e2e.conftest import GRACE, NODES, Obj, Plane, is_ready, live, until

# Shortened from the 300 s the admission plugin would give (DefaultTolerationSeconds).
TOLERATIONS = [
    {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 1}
    for taint in ("not-ready", "unreachable")
]  # fmt: skip

DAEMONSET = {
    "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
    "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
        "metadata": {"labels": {"app": "agent"}},
        "spec": {"containers": [{"name": "agent", "image": "busybox:1.36"}]}}},
}  # fmt: skip


def ready_condition(node: Obj) -> Obj:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


async def test_a_node_that_stops_heartbeating_loses_its_pods_to_the_others(plane: Plane) -> None:
    await plane.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=6")
    patch = {"spec": {"template": {"spec": {"tolerations": TOLERATIONS}}}}
    await plane.kubectl("patch", "deployment/web", "-p", json.dumps(patch))
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    # A DaemonSet's pods tolerate an unreachable node for ever (the DaemonSet defaults).
    await plane.kubectl("apply", "-f", "-", stdin=json.dumps(DAEMONSET))
    await plane.kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    pods = live(await plane.pods(selector="app=web"))
    dead = pods[0]["spec"]["nodeName"]
    doomed = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == dead}

    plane.sim.stop_heartbeat(dead)

    async def not_ready() -> bool:
        node = await plane.get("", "nodes", dead, namespace="")
        return bool(ready_condition(node)["status"] == "Unknown")

    await until(not_ready, timeout=GRACE + 10, what=f"{dead} to go NotReady")
    node = await plane.get("", "nodes", dead, namespace="")
    assert ready_condition(node)["reason"] == "NodeStatusUnknown"
    assert ready_condition(node)["message"] == "Kubelet stopped posting node status."

    async def tainted() -> bool:
        node = await plane.get("", "nodes", dead, namespace="")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ("node.kubernetes.io/unreachable", "NoExecute") in taints

    await until(tainted, what=f"{dead} tainted unreachable:NoExecute")
    listed = await plane.kubectl("get", "node", dead)
    assert "NotReady" in listed

    async def replaced_elsewhere() -> bool:
        pods = live(await plane.pods(selector="app=web"))
        return (len(pods) == 6 and all(map(is_ready, pods))
                and all(p["spec"]["nodeName"] != dead for p in pods))  # fmt: skip

    await until(replaced_elsewhere, what="the dead node's pods to be replaced elsewhere")
    # The evicted pods stay Terminating: only their (dead) kubelet can finish them.
    terminating = {p["metadata"]["name"] for p in await plane.pods(selector="app=web")
                   if p["metadata"].get("deletionTimestamp")}  # fmt: skip
    assert terminating == doomed
    agents = {p["spec"]["nodeName"]: p for p in await plane.pods(selector="app=agent")}
    assert set(agents) == set(plane.sim.names)
    assert not agents[dead]["metadata"].get("deletionTimestamp")

    # The kubelet comes back: it finishes the evicted pods, the node is Ready again.
    plane.sim.resume(dead)

    async def recovered() -> bool:
        node = await plane.get("", "nodes", dead, namespace="")
        pods = await plane.pods(selector="app=web")
        return ready_condition(node)["status"] == "True" and len(pods) == 6

    await until(recovered, what=f"{dead} Ready again and the evicted pods gone")


async def test_a_pod_too_big_for_every_node_stays_pending_and_says_why(plane: Plane) -> None:
    await plane.kubectl("run", "huge", "--image=nginx:1.27",
                        '--overrides={"spec":{"containers":[{"name":"huge","image":"nginx:1.27",'
                        '"resources":{"requests":{"cpu":"64","memory":"1Gi"}}}]}}')  # fmt: skip
    message = (f"0/{NODES} nodes are available: {NODES} Insufficient cpu. preemption: "
               f"0/{NODES} nodes are available: {NODES} No preemption victims found for "
               "incoming pod.")  # fmt: skip

    async def unschedulable() -> bool:
        pod = await plane.get("", "pods", "huge")
        scheduled = [c for c in pod["status"].get("conditions") or []
                     if c["type"] == "PodScheduled"]  # fmt: skip
        return bool(scheduled) and scheduled[0]["reason"] == "Unschedulable"

    await until(unschedulable, what="the PodScheduled condition")
    pod = await plane.get("", "pods", "huge")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    condition = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert condition["message"] == message

    async def described() -> bool:
        out = await plane.kubectl("describe", "pod", "huge")
        return "FailedScheduling" in out and message in out

    await until(described, what="kubectl describe to show the FailedScheduling event")
    out = await plane.kubectl("describe", "pod", "huge")
    assert "Status:           Pending" in out
    assert "Warning  FailedScheduling" in out
    assert "default-scheduler" in out
