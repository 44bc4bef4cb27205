"""Ephemeral containers' checks and the ephemeralcontainers subresource's rules,
in kube-apiserver's words (validateEphemeralContainers, ValidatePodEphemeralContainersUpdate)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.apiserver import discovery
from kybernetes.apiserver.ephemeral import ephemeral_update_causes, with_ephemeral_containers
from kybernetes.apiserver.errors import ApiError, Cause
from kybernetes.apiserver.podspec import validate_pod_spec
from kybernetes.apiserver.resources import builtin_registry
from kybernetes.apiserver.strategy import PodStrategy
from kybernetes.apiserver.workloads import DeploymentStrategy

Obj = dict[str, Any]
PODS = builtin_registry().lookup("", "v1", "pods")
FORBIDDEN = "Forbidden: cannot be set for an Ephemeral Container"


def pod(*ephemeral: Obj) -> Obj:
    spec: Obj = {
        "containers": [{"name": "app", "image": "nginx"}],
        "initContainers": [{"name": "setup", "image": "busybox"}],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    if ephemeral:
        spec["ephemeralContainers"] = list(ephemeral)
    obj = {"apiVersion": "v1", "kind": "Pod", "spec": spec,
           "metadata": {"name": "p", "namespace": "default", "resourceVersion": "7"}}  # fmt: skip
    PodStrategy().default(obj)
    return obj


def debugger(name: str = "debugger", **fields: Any) -> Obj:
    return {"name": name, "image": "busybox", **fields}


def messages(causes: list[Cause]) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in causes]


def test_a_debugger_is_valid_and_may_target_a_regular_or_init_container() -> None:
    for target in ("app", "setup"):
        mounted = debugger(targetContainerName=target,
                           volumeMounts=[{"name": "data", "mountPath": "/data"}])  # fmt: skip
        assert validate_pod_spec(pod(mounted)["spec"], "spec") == []


def test_fields_a_debugger_may_not_set_are_refused_in_struct_order() -> None:
    bad = debugger(
        lifecycle={"preStop": {"exec": {"command": ["true"]}}},
        readinessProbe={"exec": {"command": ["true"]}},
        resources={"limits": {"cpu": "1"}},
        ports=[{"containerPort": 80}],
        restartPolicy="Always",
        livenessProbe={"tcpSocket": {"port": 80}},
        startupProbe={"tcpSocket": {"port": 80}},
    )
    found = messages(validate_pod_spec(pod(bad)["spec"], "spec"))
    at = "spec.ephemeralContainers[0]"
    assert found == [(f"{at}.{field}", FORBIDDEN) for field in (
        "ports", "resources", "restartPolicy", "livenessProbe", "readinessProbe",
        "startupProbe", "lifecycle")]  # fmt: skip


def test_an_empty_resources_is_unset_as_go_sees_it() -> None:
    unset = debugger(resources={}, ports=[], env=[])
    assert validate_pod_spec(pod(unset)["spec"], "spec") == []


def test_names_are_unique_across_every_container_and_targets_must_exist() -> None:
    spec = pod(debugger("app"), debugger("setup"), debugger("twice"), debugger("twice"),
               debugger("lost", targetContainerName="twice"),
               debugger("Bad_Name", image=""))["spec"]  # fmt: skip
    found = messages(validate_pod_spec(spec, "spec"))
    assert found[:4] == [
        ("spec.ephemeralContainers[0].name", 'Duplicate value: "app"'),
        ("spec.ephemeralContainers[1].name", 'Duplicate value: "setup"'),
        ("spec.ephemeralContainers[3].name", 'Duplicate value: "twice"'),
        # An ephemeral container is no target: only the pod's own containers are.
        ("spec.ephemeralContainers[4].targetContainerName", 'Not found: "twice"'),
    ]
    assert found[4][0] == "spec.ephemeralContainers[5].name"
    assert found[4][1].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 label')
    assert found[5] == ("spec.ephemeralContainers[5].image", "Required value")


def test_mounts_name_a_volume_and_take_no_sub_path() -> None:
    mounts = [{"name": "data", "mountPath": "/a", "subPath": "x"},
              {"name": "data", "mountPath": "/b", "subPathExpr": "$(POD)"},
              {"name": "nothing", "mountPath": "/c"}]  # fmt: skip
    found = messages(validate_pod_spec(pod(debugger(volumeMounts=mounts))["spec"], "spec"))
    at = "spec.ephemeralContainers[0].volumeMounts"
    assert found == [(f"{at}[2].name", 'Not found: "nothing"'), (f"{at}[0].subPath", FORBIDDEN),
                     (f"{at}[1].subPathExpr", FORBIDDEN)]  # fmt: skip


def test_defaults_are_a_containers() -> None:
    added = pod(debugger(image="busybox:1.36"))["spec"]["ephemeralContainers"][0]
    assert added["imagePullPolicy"] == "IfNotPresent"
    assert added["terminationMessagePath"] == "/dev/termination-log"
    assert added["terminationMessagePolicy"] == "File"


def test_a_new_pod_and_a_template_cannot_have_them() -> None:
    found = messages(PodStrategy().validate(pod(debugger())))
    assert found == [("spec.ephemeralContainers", "Forbidden: cannot be set on create")]
    template = {"metadata": {"labels": {"a": "b"}}, "spec": pod(debugger())["spec"]}
    deployment = {"metadata": {"name": "d"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": template}}  # fmt: skip
    found = messages(DeploymentStrategy().validate(deployment))
    assert ("spec.template.spec.ephemeralContainers",
            "Forbidden: ephemeral containers not allowed in pod template") in found  # fmt: skip


def test_the_main_pod_endpoint_cannot_change_them() -> None:
    old = pod(debugger())
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"].append(debugger("another"))
    [cause] = PodStrategy().validate_update(new, old)
    assert cause.field == "spec"
    assert cause.message.startswith("Forbidden: pod updates may not change fields other than")
    assert "spec.ephemeralContainers" in cause.message


def test_only_the_ephemeral_containers_of_the_body_are_taken() -> None:
    old = pod(debugger())
    body = copy.deepcopy(old)
    body["metadata"]["labels"] = {"sneaked": "in"}
    body["spec"]["containers"][0]["image"] = "evil"
    body["spec"]["ephemeralContainers"].append(debugger("second"))
    body["status"] = {"phase": "Failed"}
    new = with_ephemeral_containers(body, old, PODS)  # type: ignore[arg-type]
    assert "labels" not in new["metadata"] and "status" not in new
    assert new["spec"]["containers"] == old["spec"]["containers"]
    assert [c["name"] for c in new["spec"]["ephemeralContainers"]] == ["debugger", "second"]
    with pytest.raises(ApiError) as refused:
        with_ephemeral_containers({**body, "kind": "Service"}, old, PODS)  # type: ignore[arg-type]
    assert refused.value.code == 400


def test_existing_ones_may_be_neither_removed_nor_changed_but_may_move() -> None:
    old = pod(debugger("one"), debugger("two"))
    moved = pod(debugger("two"), debugger("one"), debugger("three"))
    assert ephemeral_update_causes(moved, old) == []
    removed = pod(debugger("two"))
    assert messages(ephemeral_update_causes(removed, old)) == [
        ("spec.ephemeralContainers",
         'Forbidden: existing ephemeral containers "one" may not be removed\n')]  # fmt: skip
    changed = pod(debugger("one", image="alpine"), debugger("two"))
    [(field, message)] = messages(ephemeral_update_causes(changed, old))
    assert field == "spec.ephemeralContainers"
    assert message.startswith('Forbidden: existing ephemeral containers "one" may not be changed\n')
    assert '"busybox" -> "alpine"' in message


def test_a_new_one_is_checked_as_any_and_a_static_pod_takes_none() -> None:
    old = pod()
    bad = pod(debugger("app"))
    assert messages(ephemeral_update_causes(bad, old)) == [
        ("spec.ephemeralContainers[0].name", 'Duplicate value: "app"')]  # fmt: skip
    static = pod()
    static["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    assert messages(ephemeral_update_causes(pod(debugger()), static)) == [
        ("", "Forbidden: static pods do not support ephemeral containers")]  # fmt: skip


def test_aggregated_discovery_lists_the_subresource() -> None:
    document = discovery.aggregated(builtin_registry(), core=True,
                                    content_type=discovery.AGGREGATED_CONTENT_TYPE)  # fmt: skip
    [core] = document["items"]
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    found = next(s for s in pods["subresources"] if s["subresource"] == "ephemeralcontainers")
    assert found == {"subresource": "ephemeralcontainers",
                     "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
                     "verbs": ["get", "patch", "update"]}  # fmt: skip
