"""NoExecute taints put with `kubectl taint`, and Nodes made through the API,
as the conformance tests drive them, on three simulated nodes (checklist L01,
L02, L03).

Upstream's tolerations last 5 to 25 s; these last 2 to 6 s, with the same
shape: each pod goes at its own deadline, in order, and taking the taint off
in time cancels the eviction.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.e2e.conftest import Plane, wait_for

TAINT = "kubernetes.io/e2e-evict-taint-key"


def _api(plane: Plane) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))


def _tolerating(name: str, seconds: int | None) -> dict[str, Any]:
    toleration: dict[str, Any] = {"key": TAINT, "operator": "Equal", "value": "evictTaintVal",
                                  "effect": "NoExecute"}  # fmt: skip
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    pause = {"name": "pause", "image": "registry.k8s.io/pause:3.10"}
    return {"metadata": {"name": name},
            "spec": {"nodeName": "sim-0", "tolerations": [toleration],
                     "containers": [pause]}}  # fmt: skip


def _marked(core: Any, name: str) -> bool:
    pods = core.list_namespaced_pod("default", field_selector=f"metadata.name={name}").items
    return not pods or pods[0].metadata.deletion_timestamp is not None


async def test_each_pod_goes_when_its_toleration_runs_out(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        for name, seconds in (("short", 2), ("long", 6), ("forever", None)):
            core.create_namespaced_pod("default", _tolerating(name, seconds))
        for name in ("short", "long", "forever"):
            wait_for(lambda name=name: core.read_namespaced_pod(name, "default").status.phase
                     == "Running", what=name)  # fmt: skip

    await asyncio.to_thread(scenario)
    await plane.kubectl("taint", "node", "sim-0", f"{TAINT}=evictTaintVal:NoExecute")
    tainted = time.monotonic()

    def timings() -> dict[str, float]:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        gone: dict[str, float] = {}
        deadline = tainted + 20
        while len(gone) < 2 and time.monotonic() < deadline:
            for name in ("short", "long"):
                if name not in gone and _marked(core, name):
                    gone[name] = time.monotonic() - tainted
            time.sleep(0.1)
        assert not _marked(core, "forever")

        def events() -> list[str]:
            found = core.list_namespaced_event(
                "default", field_selector="involvedObject.name=short,reason=TaintManagerEviction"
            ).items
            return [e.message for e in found]

        wait_for(events, what="the TaintManagerEviction event")
        assert events() == ["Marking for deletion Pod default/short"]
        return gone

    gone = await asyncio.to_thread(timings)
    assert set(gone) == {"short", "long"}
    assert 1.5 < gone["short"] < 4.5 and 5.5 < gone["long"] < 9.5, gone


async def test_removing_the_taint_in_time_cancels_the_eviction(plane: Plane) -> None:
    def create() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        core.create_namespaced_pod("default", _tolerating("stays", 3))
        wait_for(lambda: core.read_namespaced_pod("stays", "default").status.phase == "Running",
                 what="the pod running")  # fmt: skip

    await asyncio.to_thread(create)
    await plane.kubectl("taint", "node", "sim-0", f"{TAINT}=evictTaintVal:NoExecute")
    await asyncio.sleep(1)
    await plane.kubectl("taint", "node", "sim-0", f"{TAINT}:NoExecute-")
    await asyncio.sleep(4)  # past the 3 s it tolerated

    def check() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        assert not _marked(core, "stays")
        events = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=stays,reason=TaintManagerEviction"
        ).items
        assert [e.message for e in events] == ["Cancelling deletion of Pod default/stays"]

    await asyncio.to_thread(check)


async def test_a_node_without_a_kubelet_through_its_lifecycle(plane: Plane) -> None:
    def scenario() -> None:
        from kubernetes import client

        core = client.CoreV1Api(_api(plane))
        made = core.create_node({"metadata": {"name": "e2e-fake-node",
                                              "labels": {"e2e": "true"}}})  # fmt: skip
        assert made.metadata.name == "e2e-fake-node"
        assert core.read_node("e2e-fake-node").metadata.uid == made.metadata.uid
        core.patch_node("e2e-fake-node", {"metadata": {"labels": {"patched": "true"}}})
        listed = core.list_node(label_selector="e2e=true").items
        assert [n.metadata.labels["patched"] for n in listed] == ["true"]
        for attempt in range(5):  # the node controllers write it too (podCIDR, taints): retry a 409
            node = core.read_node("e2e-fake-node")
            node.metadata.labels["updated"] = "true"
            try:
                replaced = core.replace_node("e2e-fake-node", node)
                break
            except client.ApiException as err:
                if err.status != 409 or attempt == 4:
                    raise
        assert replaced.metadata.labels["updated"] == "true"
        time.sleep(1)  # the node controllers see it and must leave it be
        assert core.read_node("e2e-fake-node").metadata.labels["updated"] == "true"
        core.delete_node("e2e-fake-node")
        wait_for(lambda: not core.list_node(label_selector="e2e=true").items,
                 what="the node deleted")  # fmt: skip

    await asyncio.to_thread(scenario)
