"""Pods through the API as the conformance tests drive them, with the official Python
client against a whole control plane on simulated nodes (checklist P01, P02, P04,
P06, P07, P11, P15: the rows that need no real container)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import Plane, wait_for

Obj = dict[str, Any]


def pod(name: str, labels: dict[str, str], **container: Any) -> Obj:
    containers = [{"name": "c", "image": "busybox:1.36", **container}]
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": containers}}


async def test_pod_lifecycle_update_status_and_collection(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        core = client.CoreV1Api(api)

        def running(name: str) -> bool:
            return core.read_namespaced_pod(name, "default").status.phase == "Running"

        # P01: listed by selector, watched from the list through a graceful delete.
        core.create_namespaced_pod("default", pod("life", {"e2e": "life"}))
        listed = core.list_namespaced_pod("default", label_selector="e2e=life")
        assert [p.metadata.name for p in listed.items] == ["life"]
        wait_for(lambda: running("life"), what="life to run")
        life = core.read_namespaced_pod("life", "default")
        assert life.status.host_ip and life.status.host_ips[0].ip == life.status.host_ip  # P05
        core.delete_namespaced_pod("life", "default", grace_period_seconds=30)
        seen = []
        for event in watch.Watch().stream(
            core.list_namespaced_pod, "default", label_selector="e2e=life",
            resource_version=listed.metadata.resource_version, timeout_seconds=30,
        ):  # fmt: skip
            seen.append((event["type"], event["object"].metadata.deletion_timestamp is not None))
            if event["type"] == "DELETED":
                break
        assert ("MODIFIED", True) in seen and seen[-1][0] == "DELETED"
        assert seen.index(("MODIFIED", True)) < len(seen) - 1
        assert core.list_namespaced_pod("default", label_selector="e2e=life").items == []

        # P15: a client's generation is ignored on create; P02: a replaced label is found.
        body = pod("upd", {"e2e": "upd", "time": "1"})
        body["metadata"]["generation"] = 5
        created = core.create_namespaced_pod("default", body)
        assert created.metadata.generation == 1

        def relabel() -> bool:  # read, change, write: retried on a conflict, as upstream does
            fresh = core.read_namespaced_pod("upd", "default")
            fresh.metadata.labels["time"] = "2"
            try:
                core.replace_namespaced_pod("upd", "default", fresh)
            except client.ApiException as err:
                if err.status != 409:
                    raise
                return False
            return True

        wait_for(relabel, what="the label to be replaced")
        found = core.list_namespaced_pod("default", label_selector="time=2").items
        assert [p.metadata.name for p in found] == ["upd"]

        # P06, P07: the status subresource, patched and replaced; the node keeps what it
        # does not own (a condition of another writer).
        wait_for(lambda: running("upd"), what="upd to run")
        core.patch_namespaced_pod_status("upd", "default", {"status": {"conditions": [
            {"type": "PodReadyToStartContainers", "status": "True"},
            {"type": "e2e.example.com/checked", "status": "True", "reason": "E2E"}]}})  # fmt: skip
        status = core.read_namespaced_pod_status("upd", "default")
        kinds = [c.type for c in status.status.conditions]
        assert "e2e.example.com/checked" in kinds and "Ready" in kinds

        def replace_status() -> bool:
            fresh = core.read_namespaced_pod_status("upd", "default")
            fresh.status.message = "replaced by the test"
            try:
                core.replace_namespaced_pod_status("upd", "default", fresh)
            except client.ApiException as err:
                if err.status != 409:
                    raise
                return False
            return True

        wait_for(replace_status, what="the status to be replaced")
        again = core.read_namespaced_pod("upd", "default")
        assert again.status.message == "replaced by the test"
        assert again.status.phase == "Running"

        # P11: requests equal to limits make a Guaranteed pod.
        both = {"cpu": "100m", "memory": "32Mi"}
        guaranteed = core.create_namespaced_pod("default", pod(
            "qos", {"e2e": "qos"}, resources={"requests": both, "limits": both}))  # fmt: skip
        assert guaranteed.status.qos_class == "Guaranteed"

        # P04: a collection delete takes exactly the labelled pods.
        for index in range(3):
            core.create_namespaced_pod("default", pod(f"many-{index}", {"e2e": "many"}))
        core.create_namespaced_pod("default", pod("other", {"e2e": "other"}))
        core.delete_collection_namespaced_pod("default", label_selector="e2e=many",
                                              grace_period_seconds=0)  # fmt: skip

        def only_other() -> bool:
            names = {p.metadata.name for p in core.list_namespaced_pod("default").items}
            return not any(n.startswith("many-") for n in names) and "other" in names

        wait_for(only_other, what="the collection to be deleted")
        api.close()

    await asyncio.to_thread(scenario)
