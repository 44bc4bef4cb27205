"""StatefulSets as the conformance tests drive their API, with the official
Python client against a whole control plane on simulated nodes (checklist
T04, T05, T08)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tests.e2e.conftest import Plane, wait_for


async def test_statefulset_scale_status_patch_and_collection(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        headless = {"clusterIP": "None", "selector": {"app": "ss"}, "ports": [{"port": 80}]}
        core.create_namespaced_service("default", {"metadata": {"name": "ss"}, "spec": headless})
        pod = {
            "metadata": {"labels": {"app": "ss"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        }
        apps.create_namespaced_stateful_set("default", {
            "metadata": {"name": "ss", "labels": {"e2e": "ss"}},
            "spec": {"replicas": 1, "serviceName": "ss", "template": pod,
                     "selector": {"matchLabels": {"app": "ss"}}}})  # fmt: skip

        def ready(n: int) -> Callable[[], bool]:
            def check() -> bool:
                return apps.read_namespaced_stateful_set("ss", "default").status.ready_replicas == n

            return check

        wait_for(ready(1), what="ss-0 ready")
        # T04: the scale subresource, get, update and patch.
        scale = apps.read_namespaced_stateful_set_scale("ss", "default")
        assert scale.spec.replicas == 1 and scale.status.selector == "app=ss"
        scale.spec.replicas = 2
        apps.replace_namespaced_stateful_set_scale("ss", "default", scale)
        assert apps.read_namespaced_stateful_set("ss", "default").spec.replicas == 2
        apps.patch_namespaced_stateful_set_scale("ss", "default", {"spec": {"replicas": 3}})
        wait_for(ready(3), what="three ready")
        assert apps.read_namespaced_stateful_set_scale("ss", "default").status.replicas == 3
        # T08: the status subresource, replaced and patched.
        ss = apps.read_namespaced_stateful_set_status("ss", "default")
        ss.status.conditions = [
            client.V1StatefulSetCondition(
                type="StatusUpdate", status="True", reason="E2E", message="Set from e2e test"
            )
        ]
        apps.replace_namespaced_stateful_set_status("ss", "default", ss)
        read = apps.read_namespaced_stateful_set_status("ss", "default")
        assert [c.type for c in read.status.conditions] == ["StatusUpdate"]
        apps.patch_namespaced_stateful_set_status(
            "ss", "default", {"status": {"conditions": [{"type": "StatusPatched",
                                                         "status": "True"}]}},
        )  # fmt: skip
        read = apps.read_namespaced_stateful_set_status("ss", "default")
        assert "StatusPatched" in [c.type for c in read.status.conditions]
        assert read.spec.replicas == 3
        time.sleep(0.5)  # the controller writes its status only when its counts change
        read = apps.read_namespaced_stateful_set("ss", "default")
        assert {"StatusUpdate", "StatusPatched"} == {c.type for c in read.status.conditions}
        # T05: listed across namespaces, patched, deleted as a collection.
        apps.patch_namespaced_stateful_set("ss", "default", {"metadata": {"labels": {"p": "1"}},
                                                             "spec": {"replicas": 2}})  # fmt: skip
        listed = apps.list_stateful_set_for_all_namespaces(label_selector="e2e=ss,p=1")
        assert [s.metadata.name for s in listed.items] == ["ss"]
        wait_for(lambda: apps.read_namespaced_stateful_set("ss", "default").status.replicas == 2,
                 what="scaled to two")  # fmt: skip
        apps.delete_collection_namespaced_stateful_set("default", label_selector="e2e=ss")
        wait_for(lambda: not apps.list_namespaced_stateful_set("default").items,
                 what="the stateful set deleted")  # fmt: skip
        api.close()

    await asyncio.to_thread(scenario)
