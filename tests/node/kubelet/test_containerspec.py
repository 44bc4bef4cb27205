"""Environment (envFrom, env, downward API, $(VAR)), users and limits of a container."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.node.kubelet.containerspec import (
    ConfigError,
    build_env,
    container_config,
    expand,
    needed_sources,
    sysctls,
    verify_run_as_non_root,
)

POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                 "labels": {"app": "web"}, "annotations": {"team": "a"}},
    "spec": {"nodeName": "node-1", "serviceAccountName": "default",
             "securityContext": {"runAsUser": 1000, "supplementalGroups": [7]}},
}  # fmt: skip


def env_of(container: dict[str, Any], sources: Any = None) -> dict[str, str]:
    return build_env(POD, container, sources=sources or {}, pod_ip="10.244.0.5",
                     host_ip="198.18.0.10", node_allocatable={"cpu": "2"})  # fmt: skip


def test_expansion_rules() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$$(A) costs $$5", env) == "$(A) costs $5"


def test_env_order_sources_and_downward_api() -> None:
    container = {
        "name": "web",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                    {"secretRef": {"name": "creds"}}],
        "env": [
            {"name": "PASSWORD", "value": "override"},
            {"name": "GREETING", "value": "hello $(CFG_LANG)"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LEVEL"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }  # fmt: skip
    assert needed_sources(container) == {("configmap", "cfg"), ("secret", "creds")}
    sources = {("configmap", "cfg"): {"LANG": "en", "LEVEL": "debug"},
               ("secret", "creds"): {"PASSWORD": "s3cret", "token": "t0k"}}  # fmt: skip
    env = env_of(container, sources)
    assert env == {"CFG_LANG": "en", "CFG_LEVEL": "debug", "PASSWORD": "override",
                   "GREETING": "hello en", "POD_NAME": "web-1", "POD_IP": "10.244.0.5",
                   "APP": "web", "LEVEL": "debug", "TOKEN": "t0k", "CPUS": "2",
                   "token": "t0k"}  # fmt: skip


def test_missing_sources_are_config_errors_unless_optional() -> None:
    wants_map = {"name": "c", "envFrom": [{"configMapRef": {"name": "absent"}}]}
    with pytest.raises(ConfigError, match='configmap "absent" not found'):
        env_of(wants_map, {("configmap", "absent"): None})
    optional = {"name": "c", "envFrom": [{"configMapRef": {"name": "absent", "optional": True}}]}
    assert env_of(optional, {("configmap", "absent"): None}) == {}
    wants_key = {"name": "c", "env": [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}]}  # fmt: skip
    with pytest.raises(ConfigError, match=r"couldn't find key nope in Secret shop/s$"):
        env_of(wants_key, {("secret", "s"): {"other": "1"}})


def test_container_config_merges_security_and_limits() -> None:
    container = {
        "name": "web", "image": "nginx", "command": ["sh", "-c"], "args": ["echo $(GREETING)"],
        "securityContext": {"runAsGroup": 3000, "readOnlyRootFilesystem": True,
                            "capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]}},
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
    }  # fmt: skip
    config = container_config(POD, container, {}, env={"GREETING": "hi"})
    assert config.command == ["sh", "-c"] and config.args == ["echo hi"]
    assert (config.run_as_user, config.run_as_group, list(config.supplemental_groups)) == (
        1000, 3000, [7])  # fmt: skip
    assert config.read_only_root and list(config.add_capabilities) == ["NET_ADMIN"]
    assert config.resources.memory_limit == 128 << 20
    assert config.resources.cpu_limit_millis == 500
    assert config.resources.cpu_request_millis == 500  # a limit alone is the request too


def test_the_fs_group_is_one_of_the_process_groups() -> None:
    grouped = {**POD, "spec": {"securityContext": {"fsGroup": 1001, "supplementalGroups": [7]}}}
    config = container_config(grouped, {"name": "c"}, {}, env={})
    assert list(config.supplemental_groups) == [7, 1001]


def test_run_as_non_root_refuses_root_in_the_kubelet_words() -> None:
    def check(container_security: dict[str, Any], user: str = "") -> None:
        pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
               "spec": {"securityContext": {"runAsNonRoot": True}}}  # fmt: skip
        container = {"name": "c", "securityContext": container_security}
        verify_run_as_non_root(pod, container, {"User": user})

    where = '(pod: "p_ns(u-1)", container: c)'
    with pytest.raises(ConfigError) as root_image:
        check({})  # no User in the image: root
    assert str(root_image.value) == f"container has runAsNonRoot and image will run as root {where}"
    with pytest.raises(ConfigError, match="image will run as root"):
        check({}, "0:0")
    with pytest.raises(ConfigError) as root_user:
        check({"runAsUser": 0}, "1000")
    assert str(root_user.value) == f"container's runAsUser breaks non-root policy {where}"
    with pytest.raises(ConfigError, match=r"image has non-numeric user \(nginx\), cannot verify"):
        check({}, "nginx:nginx")
    check({"runAsUser": 1000})
    check({}, "1000:1000")
    check({"runAsNonRoot": False})  # the container's own setting wins over the pod's


def test_privilege_escalation_and_sysctls() -> None:
    def config(security: dict[str, Any]) -> Any:
        return container_config(POD, {"name": "c", "securityContext": security}, {}, env={})

    assert config({"allowPrivilegeEscalation": False}).no_new_privileges
    assert not config({"allowPrivilegeEscalation": True}).no_new_privileges
    assert not config({}).no_new_privileges  # unset: no_new_privs stays off, as Kubernetes
    pod = {"spec": {"securityContext": {"sysctls": [
        {"name": "kernel.shm_rmid_forced", "value": "1"},
        {"name": "net/ipv4/conf/eth0.100/rp_filter", "value": "2"}]}}}  # fmt: skip
    assert sysctls(pod) == {"kernel.shm_rmid_forced": "1",
                            "net.ipv4.conf.eth0/100.rp_filter": "2"}  # fmt: skip
