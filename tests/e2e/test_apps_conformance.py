"""ReplicaSets, ReplicationControllers and Deployments as the conformance
tests drive them, with the official Python client against a whole control
plane on simulated nodes (checklist R01, R02, R04, R06, R12, D01, D03, D04,
D07, D08)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Plane, until, wait_for

Obj = dict[str, Any]


def template(app: str, image: str = "busybox:1.36") -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}]}}  # fmt: skip


def conditions(obj: Any) -> list[str]:
    return [c.type for c in obj.status.conditions or []]


async def test_replicaset_replace_patch_scale_status_and_collection(plane: Plane) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps = client.AppsV1Api(api)
        body = {"metadata": {"name": "rs", "labels": {"e2e": "rs"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs"}},
                         "template": template("rs")}}  # fmt: skip
        apps.create_namespaced_replica_set("default", body)

        def ready(n: int) -> Callable[[], bool]:
            def check() -> bool:
                rs = apps.read_namespaced_replica_set("rs", "default")
                return rs.status.ready_replicas == n and rs.status.available_replicas == n

            return check

        wait_for(ready(1), what="one ready replica")
        # R01: replaced with 2 replicas, then patched.
        rs = apps.read_namespaced_replica_set("rs", "default")
        rs.spec.replicas = 2
        apps.replace_namespaced_replica_set("rs", "default", rs)
        wait_for(ready(2), what="two ready replicas")
        apps.patch_namespaced_replica_set(
            "rs", "default", {"metadata": {"labels": {"patched": "yes"}}, "spec": {"replicas": 3}}
        )
        rs = apps.read_namespaced_replica_set("rs", "default")
        assert rs.metadata.labels["patched"] == "yes" and rs.spec.replicas == 3
        wait_for(ready(3), what="three ready replicas")
        # R02: the scale subresource, get, update and patch.
        scale = apps.read_namespaced_replica_set_scale("rs", "default")
        assert scale.spec.replicas == 3 and scale.status.replicas == 3
        assert scale.status.selector == "app=rs"
        scale.spec.replicas = 2
        apps.replace_namespaced_replica_set_scale("rs", "default", scale)
        assert apps.read_namespaced_replica_set("rs", "default").spec.replicas == 2
        apps.patch_namespaced_replica_set_scale("rs", "default", {"spec": {"replicas": 4}})
        assert apps.read_namespaced_replica_set_scale("rs", "default").spec.replicas == 4
        wait_for(ready(4), what="four ready replicas")
        # R06: the status subresource; a condition someone else sets is kept.
        rs = apps.read_namespaced_replica_set_status("rs", "default")
        rs.status.conditions = [
            client.V1ReplicaSetCondition(
                type="StatusUpdate", status="True", reason="E2E", message="Set from e2e test"
            )
        ]
        apps.replace_namespaced_replica_set_status("rs", "default", rs)
        assert conditions(apps.read_namespaced_replica_set("rs", "default")) == ["StatusUpdate"]
        apps.patch_namespaced_replica_set_status(
            "rs",
            "default",
            {"status": {"conditions": [{"type": "StatusPatched", "status": "True"}]}},
        )
        read = apps.read_namespaced_replica_set_status("rs", "default")
        # A strategic merge: conditions merge on their type.
        assert conditions(read) == ["StatusPatched", "StatusUpdate"] and read.spec.replicas == 4
        time.sleep(0.5)  # the controller's next sync must not drop it
        apps.patch_namespaced_replica_set("rs", "default", {"spec": {"replicas": 3}})
        wait_for(ready(3), what="three ready replicas again")
        kept = conditions(apps.read_namespaced_replica_set("rs", "default"))
        assert kept == ["StatusPatched", "StatusUpdate"]
        # R04: listed across namespaces by label, deleted as a collection.
        listed = apps.list_replica_set_for_all_namespaces(label_selector="e2e=rs")
        assert [r.metadata.name for r in listed.items] == ["rs"]
        apps.delete_collection_namespaced_replica_set("default", label_selector="e2e=rs")
        assert apps.list_namespaced_replica_set("default", label_selector="e2e=rs").items == []
        api.close()

    await asyncio.to_thread(scenario)


def deployment(name: str, replicas: int, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "labels": {"e2e": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": template(name), **spec}}  # fmt: skip


async def test_deployment_lifecycle_scale_and_status(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps = client.AppsV1Api(api)
        listed = apps.list_namespaced_deployment("default")
        events = watch.Watch().stream(
            apps.list_namespaced_deployment, "default", label_selector="e2e=d",
            resource_version=listed.metadata.resource_version, timeout_seconds=20,
        )  # fmt: skip
        apps.create_namespaced_deployment("default", deployment("d", 1))
        assert next(events)["type"] == "ADDED"

        def available(n: int) -> Callable[[], bool]:
            def check() -> bool:
                s = apps.read_namespaced_deployment("d", "default").status
                return s.available_replicas == n and s.updated_replicas == n == s.replicas

            return check

        wait_for(available(1), what="one available replica")
        # D07: patched (labels and template), watched, scaled, its status read and patched.
        containers = [{"name": "c", "image": "busybox:1.37"}]
        patch = {"metadata": {"labels": {"patched": "yes"}},
                 "spec": {"template": {"spec": {"containers": containers}}}}  # fmt: skip
        apps.patch_namespaced_deployment("d", "default", patch)
        seen = next(e for e in events if e["object"].metadata.labels.get("patched") == "yes")
        assert seen["type"] == "MODIFIED"
        status = apps.read_namespaced_deployment_status
        wait_for(lambda: status("d", "default").status.observed_generation == 2
                 and available(1)(), what="rolled out")  # fmt: skip
        # D01: the scale subresource, get, update and patch.
        scale = apps.read_namespaced_deployment_scale("d", "default")
        assert scale.spec.replicas == 1 and scale.status.selector == "app=d"
        scale.spec.replicas = 2
        apps.replace_namespaced_deployment_scale("d", "default", scale)
        assert apps.read_namespaced_deployment("d", "default").spec.replicas == 2
        apps.patch_namespaced_deployment_scale("d", "default", {"spec": {"replicas": 3}})
        wait_for(available(3), what="three available replicas")
        assert apps.read_namespaced_deployment_scale("d", "default").status.replicas == 3
        # D08: the status subresource; a condition set by someone else stays.
        d = apps.read_namespaced_deployment_status("d", "default")
        assert {"Available", "Progressing"} <= set(conditions(d))
        d.status.conditions.append(
            client.V1DeploymentCondition(
                type="StatusUpdate", status="True", reason="E2E", message="Set from e2e test"
            )
        )
        apps.replace_namespaced_deployment_status("d", "default", d)
        apps.patch_namespaced_deployment_status(
            "d",
            "default",
            {"status": {"conditions": [{"type": "StatusPatched", "status": "True"}]}},
        )
        read = apps.read_namespaced_deployment_status("d", "default")
        assert {"StatusUpdate", "StatusPatched"} <= set(conditions(read))
        apps.patch_namespaced_deployment("d", "default", {"spec": {"replicas": 1}})
        wait_for(available(1), what="scaled back to one")
        kept = conditions(apps.read_namespaced_deployment("d", "default"))
        assert {"Available", "Progressing", "StatusUpdate", "StatusPatched"} <= set(kept)
        listed = apps.list_deployment_for_all_namespaces(label_selector="e2e=d")
        assert [d.metadata.name for d in listed.items] == ["d"]
        apps.delete_collection_namespaced_deployment("default", label_selector="e2e=d")
        assert next(e for e in events if e["type"] == "DELETED")["object"].metadata.name == "d"
        api.close()

    await asyncio.to_thread(scenario)


async def test_deployment_adopts_a_replicaset_and_keeps_no_history(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps = client.AppsV1Api(api)
        # D03: a ReplicaSet with the deployment's selector is adopted and rolled over.
        revision = {"deployment.kubernetes.io/revision": "3546343826724305832"}
        rs = {"metadata": {"name": "old", "labels": {"app": "d"}, "annotations": revision},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                       "template": template("d", "busybox:1.35")}}  # fmt: skip
        apps.create_namespaced_replica_set("default", rs)
        wait_for(lambda: apps.read_namespaced_replica_set("old", "default")
                 .status.ready_replicas == 2, what="the old set's pods")  # fmt: skip
        listed = apps.list_namespaced_replica_set("default")
        events = watch.Watch().stream(
            apps.list_namespaced_replica_set, "default", field_selector="metadata.name=old",
            resource_version=listed.metadata.resource_version, timeout_seconds=20,
        )  # fmt: skip
        apps.create_namespaced_deployment("default", deployment("d", 2, revisionHistoryLimit=0))
        adopted = next(e["object"] for e in events if e["object"].metadata.owner_references)
        ref = adopted.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.controller) == ("Deployment", "d", True)

        def done() -> bool:
            s = apps.read_namespaced_deployment("d", "default").status
            return s.updated_replicas == 2 == s.available_replicas == s.replicas

        wait_for(done, what="the rollout over the adopted set")
        # D04: with revisionHistoryLimit 0 the adopted set, now at 0, is deleted.
        wait_for(lambda: len(apps.list_namespaced_replica_set("default").items) == 1,
                 what="the old set deleted")  # fmt: skip
        (new,) = apps.list_namespaced_replica_set("default").items
        assert new.metadata.name != "old" and new.spec.replicas == 2
        assert new.metadata.owner_references[0].name == "d"
        # The next revision after the adopted set's.
        assert (
            new.metadata.annotations["deployment.kubernetes.io/revision"] == "3546343826724305833"
        )
        api.close()

    await asyncio.to_thread(scenario)


async def test_recreate_never_runs_both_templates(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        spec = {"strategy": {"type": "Recreate"}}
        apps.create_namespaced_deployment("default", deployment("d", 3, **spec))

        def done(generation: int) -> Callable[[], bool]:
            def check() -> bool:
                s = apps.read_namespaced_deployment("d", "default").status
                counts = (s.updated_replicas, s.available_replicas, s.replicas)
                return s.observed_generation == generation and counts == (3, 3, 3)

            return check

        wait_for(done(1), what="the first rollout")
        listed = core.list_namespaced_pod("default", label_selector="app=d")
        pods = {p.metadata.name: p.metadata.labels["pod-template-hash"] for p in listed.items}
        (old_hash,) = set(pods.values())
        events = watch.Watch().stream(
            core.list_namespaced_pod, "default", label_selector="app=d",
            resource_version=listed.metadata.resource_version, timeout_seconds=20,
        )  # fmt: skip
        apps.patch_namespaced_deployment(
            "d", "default", {"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}}
        )
        # D02: no pod of the new template exists while any old pod does.
        while True:
            event = next(events)
            pod = event["object"]
            if event["type"] == "DELETED":
                pods.pop(pod.metadata.name, None)
                continue
            pods[pod.metadata.name] = pod.metadata.labels["pod-template-hash"]
            assert len(set(pods.values())) == 1, f"old and new pods together: {pods}"
            if list(pods.values()).count(old_hash) == 0 and len(pods) == 3:
                break
        wait_for(done(2), what="the second rollout")
        api.close()

    await asyncio.to_thread(scenario)


async def test_replication_controller_lifecycle(plane: Plane) -> None:
    from kubernetes import client, config, watch

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(plane.cluster.kubeconfig))
        core = client.CoreV1Api(api)
        listed = core.list_replication_controller_for_all_namespaces(label_selector="e2e=rc")
        events = watch.Watch().stream(
            core.list_namespaced_replication_controller, "default", label_selector="e2e=rc",
            resource_version=listed.metadata.resource_version, timeout_seconds=20,
        )  # fmt: skip

        def until_event(kind: str, check: Callable[[Any], bool]) -> Any:
            return next(e["object"] for e in events if e["type"] == kind and check(e["object"]))

        spec = {"replicas": 1, "selector": {"app": "rc"}, "template": template("rc")}
        body = {"metadata": {"name": "rc", "labels": {"e2e": "rc"}}, "spec": spec}
        core.create_namespaced_replication_controller("default", body)
        until_event("ADDED", lambda rc: rc.metadata.name == "rc")
        # R12: each step is seen on the watch.
        until_event("MODIFIED", lambda rc: rc.status.ready_replicas == 1
                    and rc.status.available_replicas == 1)  # fmt: skip
        core.patch_namespaced_replication_controller(
            "rc", "default", {"metadata": {"labels": {"patched": "yes"}}}
        )
        until_event("MODIFIED", lambda rc: rc.metadata.labels.get("patched") == "yes")
        core.patch_namespaced_replication_controller_status(
            "rc", "default", {"status": {"readyReplicas": 0, "availableReplicas": 0}}
        )
        until_event("MODIFIED", lambda rc: not rc.status.ready_replicas)
        status = core.read_namespaced_replication_controller_status("rc", "default")
        assert status.spec.replicas == 1 and status.metadata.labels["patched"] == "yes"
        core.patch_namespaced_replication_controller_scale(
            "rc", "default", {"spec": {"replicas": 2}}
        )
        until_event("MODIFIED", lambda rc: rc.status.ready_replicas == 2)
        rc = core.read_namespaced_replication_controller("rc", "default")
        rc.metadata.labels["updated"] = "yes"
        core.replace_namespaced_replication_controller("rc", "default", rc)
        until_event("MODIFIED", lambda rc: rc.metadata.labels.get("updated") == "yes")
        found = core.list_replication_controller_for_all_namespaces(label_selector="e2e=rc")
        assert [rc.metadata.name for rc in found.items] == ["rc"]
        core.delete_collection_namespaced_replication_controller("default", label_selector="e2e=rc")
        until_event("DELETED", lambda rc: rc.metadata.name == "rc")
        api.close()

    await asyncio.to_thread(scenario)


async def test_deployment_releases_a_replicaset_that_stops_matching(plane: Plane) -> None:
    # The release half of the ControllerRefManager: a ReplicaSet relabelled out
    # of the selector is let go (its pods stay with it), and the Deployment makes
    # another for the same template, its name moved on by the collision count.
    await plane.kubectl("create", "deployment", "web", "--image=busybox:1.36", "--replicas=2")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    (first,) = (await plane.kubectl("get", "rs", "-o", "name")).split()
    await plane.kubectl("label", first, "app-")

    async def replaced() -> bool:
        sets = (await plane.client.get("/apis/apps/v1/namespaces/default/replicasets"))["items"]
        # (the Deployment's status follows its ReplicaSets' a moment later)
        deployment = (await plane.get("apps", "deployments", "web")).get("status") or {}
        return (
            len(sets) == 2
            and deployment.get("availableReplicas") == 2
            and all((s.get("status") or {}).get("readyReplicas") == 2 for s in sets)
        )

    await until(replaced, what="a second ReplicaSet")
    released = await plane.get("apps", "replicasets", first.split("/")[1])
    assert not released["metadata"].get("ownerReferences")
    status = (await plane.get("apps", "deployments", "web"))["status"]
    assert status["collisionCount"] == 1 and status["availableReplicas"] == 2


async def test_rollout_history_shows_the_change_cause(plane: Plane) -> None:
    # kubectl's documented way to record why (its --record flag is deprecated):
    # annotate the Deployment; its current ReplicaSet takes the annotation, and
    # kubectl rollout history reads it from each ReplicaSet.
    await plane.kubectl("create", "deployment", "web", "--image=busybox:1.36")
    await plane.kubectl("annotate", "deployment/web", "kubernetes.io/change-cause=first")
    await plane.kubectl("set", "image", "deployment/web", "busybox=busybox:1.37")
    await plane.kubectl("annotate", "deployment/web", "--overwrite",
                        "kubernetes.io/change-cause=to 1.37")  # fmt: skip
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=20s")

    async def history() -> bool:
        out = await plane.kubectl("rollout", "history", "deployment/web")
        return [line.split(None, 1) for line in out.splitlines()[2:4]] == [
            ["1", "first"], ["2", "to 1.37"]]  # fmt: skip

    await until(history, what="both change causes in the history")
    await plane.kubectl("rollout", "undo", "deployment/web")
    await plane.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    sets = (await plane.client.get("/apis/apps/v1/namespaces/default/replicasets"))["items"]
    back = next(s for s in sets if s["spec"]["template"]["spec"]["containers"][0]["image"]
                == "busybox:1.36")  # fmt: skip
    annotations = back["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert annotations["kubernetes.io/change-cause"] == "first"  # kubectl undo restores it
