"""pods/NAME/ephemeralcontainers through the official Python client and kubectl
(the API side of checklist P52 and P53): added by every patch type and by a
replace, never removed or changed, listed in discovery and OpenAPI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]


def _pod(name: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}}  # fmt: skip


def _debugger(name: str, **fields: Any) -> Obj:
    return {"name": name, "image": "busybox:1.36", "command": ["sleep", "600"], **fields}


async def test_added_by_patch_and_replace_and_never_taken_back(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        created = core.create_namespaced_pod("default", _pod("target"))
        # P52: a strategic merge patch adds one (the client's default for a dict body).
        added = [_debugger("one", targetContainerName="app")]
        patched = core.patch_namespaced_pod_ephemeralcontainers(
            "target", "default", {"spec": {"ephemeralContainers": added}})  # fmt: skip
        [one] = patched.spec.ephemeral_containers
        assert (one.name, one.target_container_name) == ("one", "app")
        assert (one.image_pull_policy, one.termination_message_policy) == ("IfNotPresent", "File")
        assert patched.metadata.generation == created.metadata.generation + 1
        # P53: a replace with both entries; what else the body says is not taken.
        current = core.read_namespaced_pod_ephemeralcontainers("target", "default")
        current.spec.ephemeral_containers.append(client.V1EphemeralContainer(
            name="two", image="busybox:1.36", command=["sleep", "600"]))  # fmt: skip
        current.metadata.labels = {"app": "changed"}
        current.spec.containers[0].image = "busybox:1.37"
        replaced = core.replace_namespaced_pod_ephemeralcontainers("target", "default", current)
        names = [c.name for c in replaced.spec.ephemeral_containers]
        assert names == ["one", "two"]
        assert replaced.metadata.labels == {"app": "target"}
        assert replaced.spec.containers[0].image == "busybox:1.36"
        # A JSON patch adds a third; a JSON merge patch replaces the list, so drops two.
        core.patch_namespaced_pod_ephemeralcontainers("target", "default", [
            {"op": "add", "path": "/spec/ephemeralContainers/-", "value": _debugger("three")}],
            _content_type="application/json-patch+json")  # fmt: skip
        read = core.read_namespaced_pod("target", "default")
        assert [c.name for c in read.spec.ephemeral_containers] == ["one", "two", "three"]
        with pytest.raises(client.ApiException) as removed:
            core.patch_namespaced_pod_ephemeralcontainers(
                "target", "default", {"spec": {"ephemeralContainers": [_debugger("four")]}},
                _content_type="application/merge-patch+json")  # fmt: skip
        answer = json.loads(removed.value.body)
        assert (removed.value.status, answer["reason"]) == (422, "Invalid")
        assert ('spec.ephemeralContainers: Forbidden: existing ephemeral containers "one" may '
                "not be removed") in answer["message"]  # fmt: skip
        # Changed through the subresource, or touched through the pod itself: refused.
        changed = core.read_namespaced_pod("target", "default")
        changed.spec.ephemeral_containers[0].image = "alpine"
        with pytest.raises(client.ApiException) as refused:
            core.replace_namespaced_pod_ephemeralcontainers("target", "default", changed)
        message = json.loads(refused.value.body)["message"]
        assert 'existing ephemeral containers "one" may not be changed' in message
        with pytest.raises(client.ApiException) as refused:
            core.replace_namespaced_pod("target", "default", changed)
        message = json.loads(refused.value.body)["message"]
        assert "pod updates may not change fields other than" in message
        api.close()

    await asyncio.to_thread(scenario)


async def test_kube_validation_of_a_new_one(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", _pod("checked"))
        bad = _debugger("app", ports=[{"containerPort": 80}], targetContainerName="nope",
                        readinessProbe={"exec": {"command": ["true"]}})  # fmt: skip
        with pytest.raises(client.ApiException) as refused:
            core.patch_namespaced_pod_ephemeralcontainers(
                "checked", "default", {"spec": {"ephemeralContainers": [bad]}})  # fmt: skip
        causes = {(c["field"], c["message"]) for c in json.loads(refused.value.body)["details"]
                  ["causes"]}  # fmt: skip
        forbidden = "Forbidden: cannot be set for an Ephemeral Container"
        assert causes == {
            ("spec.ephemeralContainers[0].name", 'Duplicate value: "app"'),
            ("spec.ephemeralContainers[0].targetContainerName", 'Not found: "nope"'),
            ("spec.ephemeralContainers[0].ports", forbidden),
            ("spec.ephemeralContainers[0].readinessProbe", forbidden),
        }
        # Nor can a new pod carry one.
        with_one = _pod("born-with-one")
        with_one["spec"]["ephemeralContainers"] = [_debugger("early")]
        with pytest.raises(client.ApiException) as refused:
            core.create_namespaced_pod("default", with_one)
        message = json.loads(refused.value.body)["message"]
        assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in message
        api.close()

    await asyncio.to_thread(scenario)


async def test_kubectl_debug_adds_one_and_discovery_lists_it(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1",
                          "kind": "Pod", **_pod("web")}))  # fmt: skip
    await cluster.kubectl("debug", "web", "--image=busybox:1.36", "--target=app",
                          "--container=debugger", "--", "sleep", "600")  # fmt: skip
    pod = json.loads(await cluster.kubectl("get", "pod", "web", "-o", "json"))
    [added] = pod["spec"]["ephemeralContainers"]
    assert (added["name"], added["targetContainerName"], added["command"]) == (
        "debugger", "app", ["sleep", "600"])  # fmt: skip
    legacy = json.loads(await cluster.kubectl("get", "--raw", "/api/v1"))
    entry = next(r for r in legacy["resources"] if r["name"] == "pods/ephemeralcontainers")
    assert (entry["kind"], sorted(entry["verbs"])) == ("Pod", ["get", "patch", "update"])
    doc = json.loads(await cluster.kubectl("get", "--raw", "/openapi/v3/api/v1"))
    path = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers"]
    assert sorted(path) == ["get", "patch", "put"]
    assert path["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Pod"


async def test_server_side_apply_adds_one_owned_by_its_manager(cluster: Cluster) -> None:
    from kubernetes import client, config

    def scenario() -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", _pod("applied"))
        config_ = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "applied"},
                   "spec": {"ephemeralContainers": [_debugger("by-apply")]}}  # fmt: skip
        answer = core.patch_namespaced_pod_ephemeralcontainers(
            "applied", "default", config_, field_manager="debugger-tool",
            _content_type="application/apply-patch+yaml")  # fmt: skip
        assert [c.name for c in answer.spec.ephemeral_containers] == ["by-apply"]
        owners = {(m.manager, m.subresource) for m in answer.metadata.managed_fields}
        assert ("debugger-tool", "ephemeralcontainers") in owners
        api.close()

    await asyncio.to_thread(scenario)
