"""A pod spec's checks and a pod's fixed spec, in kube-apiserver's words."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kybernetes.apiserver import podspec
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.podspec import UPDATABLE_POD_FIELDS, pod_update_causes, validate_pod_spec
from kybernetes.apiserver.strategy import default_pod_spec
from tests.apiserver.conftest import Cluster

Obj = dict[str, Any]


def spec(**changes: Any) -> Obj:
    base: Obj = {
        "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
    }  # fmt: skip
    return {**base, **changes}


def messages(causes: list[Cause]) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in causes]


def test_a_valid_spec_has_no_causes() -> None:
    assert validate_pod_spec(spec(), "spec") == []
    init = spec(initContainers=[{"name": "setup", "image": "busybox"}])
    assert validate_pod_spec(init, "spec.template.spec") == []


def test_a_spec_found_valid_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    check = podspec._spec_causes

    def counted(spec: Obj, path: str) -> list[Cause]:
        checked.append(path)
        return check(spec, path)

    monkeypatch.setattr(podspec, "_spec_causes", counted)
    valid = spec(hostname="checked-once")
    for path in ("spec", "spec.template.spec"):
        assert validate_pod_spec(copy.deepcopy(valid), path) == []
    assert checked == ["spec"]
    invalid = spec(hostname="checked-once", restartPolicy="Sometimes")
    for path in ("spec", "spec.template.spec"):  # what has causes is checked every time
        assert [c.field for c in validate_pod_spec(invalid, path)] == [f"{path}.restartPolicy"]
    assert checked == ["spec", "spec", "spec.template.spec"]


def test_containers_names_ports_and_images() -> None:
    bad = spec(containers=[
        {"name": "Web", "image": "nginx"},
        {"name": "side", "image": "", "ports": [
            {"containerPort": 99999, "protocol": "HTTP", "name": "http"},
            {"containerPort": 0, "hostPort": 70000, "name": "http"}]},
        {"name": "side", "image": "busybox"},
    ])  # fmt: skip
    label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
    found = messages(validate_pod_spec(bad, "spec"))
    assert found[0][0] == "spec.containers[0].name"
    assert found[0][1].startswith(f'Invalid value: "Web": {label}')
    assert found[1:] == [
        ("spec.containers[1].image", "Required value"),
        ("spec.containers[1].ports[0].containerPort",
         "Invalid value: 99999: must be between 1 and 65535, inclusive"),
        ("spec.containers[1].ports[0].protocol",
         'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
        ("spec.containers[1].ports[1].containerPort", "Required value"),
        ("spec.containers[1].ports[1].hostPort",
         "Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("spec.containers[1].ports[1].name", 'Duplicate value: "http"'),
        ("spec.containers[2].name", 'Duplicate value: "side"'),
    ]  # fmt: skip


def test_mounts_name_a_volume_and_volumes_are_named_once() -> None:
    bad = spec(volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}])
    bad["containers"][0]["volumeMounts"] += [{"name": "cache", "mountPath": "/data"}]
    assert messages(validate_pod_spec(bad, "spec")) == [
        ("spec.volumes[1].name", 'Duplicate value: "data"'),
        ("spec.containers[0].volumeMounts[1].name", 'Not found: "cache"'),
        ("spec.containers[0].volumeMounts[1].mountPath", 'Invalid value: "/data": must be unique'),
    ]


def test_policies_and_requests_within_limits() -> None:
    bad = spec(restartPolicy="Sometimes", dnsPolicy="Cluster")
    bad["containers"][0]["resources"] = {"requests": {"cpu": "2", "memory": "64Mi"},
                                         "limits": {"cpu": "1", "memory": "1Gi"}}  # fmt: skip
    assert messages(validate_pod_spec(bad, "spec")) == [
        ("spec.containers[0].resources.requests[cpu]",
         'Invalid value: "2": must be less than or equal to cpu limit of 1'),
        ("spec.restartPolicy",
         'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
        ("spec.dnsPolicy", 'Unsupported value: "Cluster": supported values: '
                           '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'),
    ]  # fmt: skip


def pod(**changes: Any) -> Obj:
    return {"metadata": {"name": "p"}, "spec": spec(**changes)}


def test_an_update_may_change_images_deadline_added_tolerations_and_a_negative_grace() -> None:
    old = pod(tolerations=[{"key": "a", "operator": "Exists"}], terminationGracePeriodSeconds=-1)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["activeDeadlineSeconds"] = 30
    new["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    new["spec"]["terminationGracePeriodSeconds"] = 1
    new["metadata"]["labels"] = {"any": "thing"}
    assert pod_update_causes(new, old) == []


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("restartPolicy", "Never", '  spec.restartPolicy: "Always" -> "Never"'),
        ("tolerations", [], None),  # a toleration removed
        ("terminationGracePeriodSeconds", 5, "  spec.terminationGracePeriodSeconds: <unset> -> 5"),
        ("nodeName", "elsewhere", '  spec.nodeName: <unset> -> "elsewhere"'),
    ],
)
def test_any_other_spec_change_is_forbidden(field: str, value: Any, shown: str | None) -> None:
    old = pod(tolerations=[{"key": "a", "operator": "Exists"}])
    new = copy.deepcopy(old)
    new["spec"][field] = value
    (cause,) = pod_update_causes(new, old)
    assert (cause.field, cause.reason) == ("spec", "FieldValueForbidden")
    first, *diff = cause.message.split("\n")
    assert (
        first == f"Forbidden: pod updates may not change fields other than {UPDATABLE_POD_FIELDS}"
    )
    if shown:
        assert diff == [shown]


async def test_kubectl_is_told_which_pod_fields_may_change(cluster: Cluster) -> None:
    await cluster.kubectl("run", "web", "--image=nginx:1.27", "--port=80")
    await cluster.kubectl("set", "image", "pod/web", "web=nginx:1.28")  # allowed
    patch = json.dumps([{"op": "replace", "path": "/spec/containers/0/ports/0/containerPort",
                         "value": 8080}])  # fmt: skip
    out = await cluster.kubectl("patch", "pod", "web", "--type=json", "-p", patch, check=False)
    assert 'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields' in out
    assert "spec.containers[0].ports[0].containerPort: 80 -> 8080" in out
    pod_json = json.loads(await cluster.kubectl("get", "pod", "web", "-o", "json"))
    assert pod_json["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_probes_and_hooks_get_kube_apiserver_defaults() -> None:
    container = {"name": "web", "image": "nginx",
                 "livenessProbe": {"grpc": {"port": 9000}},
                 "readinessProbe": {"httpGet": {"port": 80}, "periodSeconds": 2},
                 "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                 "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/bye"}}}}  # fmt: skip
    pod_spec: Obj = {"containers": [container]}
    default_pod_spec(pod_spec)
    defaults = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                "failureThreshold": 3}  # fmt: skip
    assert container["livenessProbe"] == {"grpc": {"port": 9000, "service": ""}, **defaults}
    assert container["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        **defaults,
        "periodSeconds": 2,
    }
    assert container["startupProbe"]["failureThreshold"] == 30
    assert container["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/bye",
                                                            "scheme": "HTTP"}  # fmt: skip


def test_malformed_sysctl_names_are_each_refused() -> None:
    """Each malformed name is named in its own cause (conformance P74)."""
    sysctls = [{"name": "foo-", "value": "bar"}, {"name": "kernel.shmmax", "value": "1"},
               {"name": "safe-and-unsafe", "value": "1"}, {"name": "bar..", "value": "42"},
               {"name": "net/ipv4/conf/eth0.100/rp_filter", "value": "1"},
               {"name": "kernel.shmmax", "value": "2"}, {"name": "", "value": "1"}]  # fmt: skip
    causes = messages(validate_pod_spec(spec(securityContext={"sysctls": sysctls}), "spec"))
    regex = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
    assert causes == [
        ("spec.securityContext.sysctls[0].name", 'Invalid value: "foo-": must have at most 253 '
         f"characters and match regex {regex}"),
        ("spec.securityContext.sysctls[3].name", 'Invalid value: "bar..": must have at most 253 '
         f"characters and match regex {regex}"),
        ("spec.securityContext.sysctls[5].name", 'Duplicate value: "kernel.shmmax"'),
        ("spec.securityContext.sysctls[6].name", "Required value"),
    ]  # fmt: skip


def test_a_pod_may_not_share_its_process_namespace_and_the_hosts() -> None:
    assert validate_pod_spec(spec(shareProcessNamespace=True), "spec") == []
    assert validate_pod_spec(spec(shareProcessNamespace=False, hostPID=True), "spec") == []
    causes = messages(validate_pod_spec(spec(shareProcessNamespace=True, hostPID=True), "spec"))
    assert causes == [
        ("spec.securityContext.shareProcessNamespace",
         "Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled"),
    ]  # fmt: skip


def test_a_pod_sharing_a_host_namespace_may_not_set_its_sysctls() -> None:
    sysctls = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
               {"name": "kernel/shm_rmid_forced", "value": "1"},
               {"name": "fs.mqueue.msg_max", "value": "10"}]  # fmt: skip
    context = {"securityContext": {"sysctls": sysctls}}
    assert validate_pod_spec(spec(**context), "spec") == []
    causes = messages(validate_pod_spec(spec(hostNetwork=True, hostIPC=True, **context), "spec"))
    assert causes == [
        ("spec.securityContext.sysctls[0].name",
         'Invalid value: "net.ipv4.ip_unprivileged_port_start": '
         "may not be specified when 'hostNetwork' is true"),
        ("spec.securityContext.sysctls[1].name", 'Invalid value: "kernel/shm_rmid_forced": '
         "may not be specified when 'hostIPC' is true"),
        ("spec.securityContext.sysctls[2].name", 'Invalid value: "fs.mqueue.msg_max": '
         "may not be specified when 'hostIPC' is true"),
    ]  # fmt: skip
