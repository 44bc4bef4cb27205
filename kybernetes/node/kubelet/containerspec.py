"""From a pod's container to what the runtime runs: environment, command, user, limits.

Pure functions. The environment follows Kubernetes' order (`envFrom` first,
then `env`, later entries winning), with values from ConfigMaps and
Secrets (`sources`, fetched by the caller), the downward API (`fieldRef`,
`resourceFieldRef`) and `$(VAR)` expansion in env values, command and args
(`$$` escapes). A missing ConfigMap, Secret or key that is not optional is a
`ConfigError` whose message is what kubectl shows with
CreateContainerConfigError; so is a container that `runAsNonRoot` forbids
to start (it would run as root), in the kubelet's words.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from kybernetes.api.quantity import int_value, milli_value, parse_quantity
from kybernetes.node.runtime.spec import ContainerConfig, Mount, Resources

__all__ = ["ConfigError", "build_env", "container_config", "expand", "field_ref_value",
           "needed_sources", "resource_ref_value", "sysctls", "verify_run_as_non_root"]  # fmt: skip

Obj = dict[str, Any]
Sources = Mapping[tuple[str, str], Mapping[str, str] | None]  # (kind, name) -> data, None: missing
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """The container cannot be configured (CreateContainerConfigError)."""


def needed_sources(container: Obj) -> set[tuple[str, str]]:
    """Every (kind, name) of ConfigMap or Secret the container's environment reads."""
    needed = set()
    for source in container.get("envFrom") or []:
        if source.get("configMapRef"):
            needed.add(("configmap", str(source["configMapRef"].get("name", ""))))
        if source.get("secretRef"):
            needed.add(("secret", str(source["secretRef"].get("name", ""))))
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        if value_from.get("configMapKeyRef"):
            needed.add(("configmap", str(value_from["configMapKeyRef"].get("name", ""))))
        if value_from.get("secretKeyRef"):
            needed.add(("secret", str(value_from["secretKeyRef"].get("name", ""))))
    return needed


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: unknown references stay as written, $$ is a $."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR.sub(replace, text)


def field_ref_value(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef path {path!r}")


def resource_ref_value(container: Obj, ref: Obj, node_allocatable: Mapping[str, str]) -> str:
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "limits":
        value = node_allocatable.get(name)  # no limit: the node's allocatable, as the kubelet
    if value is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    amount = parse_quantity(value) / divisor
    return str(-(-amount.numerator // amount.denominator))  # rounded up, as Kubernetes


def _lookup(sources: Sources, kind: str, ref: Obj, key: str | None,
            namespace: str = "") -> str | None:  # fmt: skip
    name = str(ref.get("name", ""))
    data = sources.get((kind, name))
    optional = bool(ref.get("optional"))
    label = "configmap" if kind == "configmap" else "secret"
    if data is None:
        if optional:
            return None
        raise ConfigError(f'{label} "{name}" not found')
    if key is None:
        return ""
    if key not in data:
        if optional:
            return None
        what = "ConfigMap" if kind == "configmap" else "Secret"
        raise ConfigError(f"couldn't find key {key} in {what} {namespace}/{name}")
    return data[key]


def build_env(
    pod: Obj,
    container: Obj,
    *,
    sources: Sources,
    pod_ip: str,
    host_ip: str,
    node_allocatable: Mapping[str, str] | None = None,
    service_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment, in Kubernetes' order.

    `service_env` (serviceenv.py) comes last, where the container sets nothing of
    that name, and `$(VAR)` in a value may refer to it.
    """
    services = service_env or {}
    env: dict[str, str] = {}
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, field in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(field)
            if not ref:
                continue
            if _lookup(sources, kind, ref, None) is None:
                continue  # optional and missing
            for key, text in (sources.get((kind, str(ref.get("name", "")))) or {}).items():
                env[prefix + key] = text
    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        value_from = var.get("valueFrom")
        if not value_from:
            env[name] = expand(str(var.get("value") or ""), ChainMap(env, dict(services)))
            continue
        value: str | None = None
        if value_from.get("fieldRef"):
            value = field_ref_value(pod, str(value_from["fieldRef"].get("fieldPath", "")), pod_ip,
                               host_ip)  # fmt: skip
        elif value_from.get("resourceFieldRef"):
            value = resource_ref_value(container, value_from["resourceFieldRef"],
                                  node_allocatable or {})  # fmt: skip
        elif value_from.get("configMapKeyRef"):
            ref = value_from["configMapKeyRef"]
            value = _lookup(sources, "configmap", ref, str(ref.get("key", "")), namespace)
        elif value_from.get("secretKeyRef"):
            ref = value_from["secretKeyRef"]
            value = _lookup(sources, "secret", ref, str(ref.get("key", "")), namespace)
        if value is not None:
            env[name] = value
    return {**env, **{k: v for k, v in services.items() if k not in env}}


def _security(pod: Obj, container: Obj) -> tuple[Obj, Obj]:
    return ((pod.get("spec") or {}).get("securityContext") or {},
            container.get("securityContext") or {})  # fmt: skip


def _groups(pod_security: Obj) -> list[int]:
    """The extra groups of the container's process: the pod's supplementalGroups and its
    fsGroup, as the kubelet adds it, so the process may use what the volumes gave it."""
    groups = [int(g) for g in pod_security.get("supplementalGroups") or []]
    fs_group = pod_security.get("fsGroup")
    if fs_group is not None and int(fs_group) not in groups:
        groups.append(int(fs_group))
    return groups


def _effective(pod: Obj, container: Obj, key: str) -> Any:
    """A security setting: the container's own, else the pod's."""
    pod_security, security = _security(pod, container)
    return security.get(key, pod_security.get(key))


def _pod_name(pod: Obj) -> str:
    """A pod as the kubelet names it in messages: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def verify_run_as_non_root(pod: Obj, container: Obj, image_config: Mapping[str, Any]) -> None:
    """Refuse a container that `runAsNonRoot` forbids (ConfigError), as the kubelet does.

    The user is runAsUser when set, else the image's `User`: empty is root, and a
    user name cannot be checked without the image's /etc/passwd, so it is refused.
    """
    if not _effective(pod, container, "runAsNonRoot"):
        return
    where = f'(pod: "{_pod_name(pod)}", container: {container.get("name", "")})'
    uid = _effective(pod, container, "runAsUser")
    if uid is not None:
        if int(uid) == 0:
            raise ConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    user = str(image_config.get("User") or "").partition(":")[0]
    if user and not user.isdigit():
        raise ConfigError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                          f"cannot verify user is non-root {where}")  # fmt: skip
    if not user or int(user) == 0:
        raise ConfigError(f"container has runAsNonRoot and image will run as root {where}")


def sysctls(pod: Obj) -> dict[str, str]:
    """The pod's securityContext.sysctls by their dotted names (`a/b.c` is `a.b/c`)."""
    pod_security = (pod.get("spec") or {}).get("securityContext") or {}
    out = {}
    for entry in pod_security.get("sysctls") or []:
        name = str(entry.get("name", ""))
        if "/" in name:  # the slash form: "/" separates, "." belongs to a name (eth0.100)
            name = name.translate(str.maketrans("/.", "./"))
        out[name] = str(entry.get("value", ""))
    return out


def _resources(container: Obj) -> Resources:
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))  # a limit alone is also the request
    return Resources(
        memory_limit=int_value(limits["memory"]) if "memory" in limits else None,
        cpu_request_millis=milli_value(cpu_request) if cpu_request is not None else None,
        cpu_limit_millis=milli_value(limits["cpu"]) if "cpu" in limits else None,
    )


def container_config(
    pod: Obj,
    container: Obj,
    image_config: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    mounts: tuple[Mount, ...] = (),
) -> ContainerConfig:
    """The runtime's view of one container (env already built)."""
    pod_security, security = _security(pod, container)
    capabilities = security.get("capabilities") or {}
    return ContainerConfig(
        name=str(container["name"]),
        image_config=image_config,
        command=[expand(str(a), env) for a in container.get("command") or []],
        args=[expand(str(a), env) for a in container.get("args") or []],
        env=dict(env),
        working_dir=str(container.get("workingDir") or ""),
        run_as_user=security.get("runAsUser", pod_security.get("runAsUser")),
        run_as_group=security.get("runAsGroup", pod_security.get("runAsGroup")),
        supplemental_groups=_groups(pod_security),
        privileged=bool(security.get("privileged")),
        add_capabilities=list(capabilities.get("add") or []),
        drop_capabilities=list(capabilities.get("drop") or []),
        read_only_root=bool(security.get("readOnlyRootFilesystem")),
        # Only an explicit false sets no_new_privs (securitycontext.AddNoNewPrivileges).
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        sysctls=sysctls(pod),
        mounts=mounts,
        resources=_resources(container),
        tty=bool(container.get("tty")),
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
    )
