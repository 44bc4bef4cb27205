"""DaemonSets and ControllerRevisions as the conformance tests drive them,
with the official Python client against a whole control plane on three
simulated nodes (checklist S01, S02, S04, S05, S07, S08)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.e2e.conftest import Plane, wait_for

Obj = dict[str, Any]


def daemonset(name: str, **pod: Any) -> Obj:
    return {"metadata": {"name": name, "labels": {"e2e": name}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}],
                                           **pod}}}}  # fmt: skip


async def test_daemonset_pods_status_revisions_and_collection(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_daemon_set("default", daemonset("ds"))

        def live() -> list[Any]:
            pods = core.list_namespaced_pod("default", label_selector="app=ds").items
            return [p for p in pods if p.metadata.deletion_timestamp is None]

        def on_every_node() -> list[Any]:
            pods = live()
            ready = [p for p in pods if p.status.phase == "Running"]
            nodes = sorted(p.spec.node_name or "" for p in ready)
            return pods if len(pods) == 3 and nodes == sorted(plane.sim.names) else []

        # S05: one pod per node; a deleted one is replaced.
        pods = wait_for(on_every_node, what="a pod on every node")
        gone = pods[0]
        core.delete_namespaced_pod(gone.metadata.name, "default")

        def replaced(uid: str) -> list[Any]:
            found = on_every_node()
            return found if uid not in {p.metadata.uid for p in found} else []

        pods = wait_for(lambda: replaced(gone.metadata.uid), what="the pod replaced")
        # S02: a pod forced to Failed is deleted and re-created.
        failed = pods[0]
        failed.status.phase = "Failed"
        core.replace_namespaced_pod_status(failed.metadata.name, "default", failed)
        wait_for(lambda: replaced(failed.metadata.uid), what="the failed pod re-created")
        # S07: the status subresource; the controller keeps another's condition.
        ds = apps.read_namespaced_daemon_set_status("ds", "default")
        assert ds.status.desired_number_scheduled == 3
        ds.status.conditions = [
            client.V1DaemonSetCondition(
                type="StatusUpdate", status="True", reason="E2E", message="Set from e2e test"
            )
        ]
        apps.replace_namespaced_daemon_set_status("ds", "default", ds)
        apps.patch_namespaced_daemon_set_status(
            "ds", "default", {"status": {"conditions": [{"type": "StatusPatched",
                                                         "status": "True"}]}},
        )  # fmt: skip
        read = apps.read_namespaced_daemon_set("ds", "default")
        assert {c.type for c in read.status.conditions} == {"StatusUpdate", "StatusPatched"}
        assert read.status.desired_number_scheduled == 3
        # S08: the DaemonSet's ControllerRevisions, one per template; two
        # template changes make revision 3.
        for image in ("busybox:1.37", "busybox:1.38"):
            apps.patch_namespaced_daemon_set("ds", "default", {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": image}]}}}})  # fmt: skip

        def revisions() -> list[Any]:
            return apps.list_namespaced_controller_revision(
                "default", label_selector="app=ds"
            ).items

        wait_for(lambda: len(revisions()) == 3, what="three revisions")
        newest = max(revisions(), key=lambda r: r.revision)
        assert newest.revision == 3
        ref = newest.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.controller) == ("DaemonSet", "ds", True)
        wait_for(lambda: {p.metadata.labels["controller-revision-hash"] for p in
                          on_every_node()} == {newest.metadata.labels["controller-revision-hash"]},
                 what="every pod at revision 3")  # fmt: skip
        # apps/v1 controllerrevisions of one's own: created, patched, listed, deleted.
        mine = client.V1ControllerRevision(
            metadata=client.V1ObjectMeta(name="mine", labels={"e2e": "cr"}),
            data={"spec": {}}, revision=1)  # fmt: skip
        apps.create_namespaced_controller_revision("default", mine)
        apps.patch_namespaced_controller_revision("mine", "default", {"revision": 2})
        mine = apps.read_namespaced_controller_revision("mine", "default")
        assert mine.revision == 2 and mine.data == {"spec": {}}
        apps.delete_collection_namespaced_controller_revision("default", label_selector="e2e=cr")
        assert not apps.list_namespaced_controller_revision(
            "default", label_selector="e2e=cr"
        ).items
        # S01: listed across namespaces by label, deleted as a collection.
        listed = apps.list_daemon_set_for_all_namespaces(label_selector="e2e=ds")
        assert [d.metadata.name for d in listed.items] == ["ds"]
        apps.delete_collection_namespaced_daemon_set("default", label_selector="e2e=ds")
        wait_for(lambda: not apps.list_daemon_set_for_all_namespaces(label_selector="e2e=ds").items,
                 what="the daemon set deleted")  # fmt: skip
        wait_for(lambda: not live(), what="its pods deleted")
        api.close()

    await asyncio.to_thread(scenario)


async def test_daemonset_node_selector_then_node_affinity(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        node = plane.sim.names[0]

        def nodes() -> list[str]:
            pods = core.list_namespaced_pod("default", label_selector="app=sel").items
            return sorted(p.spec.node_name or "" for p in pods
                          if p.metadata.deletion_timestamp is None)  # fmt: skip

        # S04: no node is blue: no pod; label one blue: a pod there; green: gone.
        apps.create_namespaced_daemon_set(
            "default", daemonset("sel", nodeSelector={"color": "blue"})
        )
        time.sleep(0.5)
        assert nodes() == []
        core.patch_node(node, {"metadata": {"labels": {"color": "blue"}}})
        wait_for(lambda: nodes() == [node], what="a pod on the blue node")
        core.patch_node(node, {"metadata": {"labels": {"color": "green"}}})
        wait_for(lambda: nodes() == [], what="the pod gone from the green node")
        # Switched to a required node affinity for green: back on that node.
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "color", "operator": "In", "values": ["green"]}]}]}}}  # fmt: skip
        apps.patch_namespaced_daemon_set("sel", "default", {"spec": {"template": {
            "spec": {"nodeSelector": None, "affinity": affinity}}}})  # fmt: skip
        wait_for(lambda: nodes() == [node], what="a pod on the green node")
        core.patch_node(node, {"metadata": {"labels": {"color": None}}})
        api.close()

    await asyncio.to_thread(scenario)
