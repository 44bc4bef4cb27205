"""A pod spec's validation, for pods and every template of one (ValidatePodSpec's
most common checks), and what an update of a pod may change.

Decision: only rules whose breach Kubernetes refuses on every version we
serve, with its field paths and words, so a spec it accepts is never refused
here: container and volume names, ports, volume mounts that name a volume,
the restart and DNS policies, requests within limits, sysctl names. A pod's spec is then
fixed but for the few fields kube-apiserver lets an update change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, dns1123_label_causes
from kybernetes.util.memo import Memo, json_key

__all__ = [
    "EPHEMERAL_FORBIDDEN_FIELDS",
    "UPDATABLE_POD_FIELDS",
    "changed_paths",
    "pod_update_causes",
    "validate_pod_spec",
]

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PORT_RANGE = "must be between 1 and 65535, inclusive"
# A sysctl name: segments joined by "." or "/" (the kernel's /proc/sys path form).
_SYSCTL = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")
_SYSCTL_MAX = 253
# What a pod's update may change, in kube-apiserver's words.
UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
# The container fields an ephemeral container may not set, in the order of the Go
# struct (kube keeps a list of the allowed ones: a debugger gives the pod no service,
# so no ports, probes, hooks or resources, and it is never restarted).
EPHEMERAL_FORBIDDEN_FIELDS = (
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
)
_EPHEMERAL_FORBIDDEN = "Forbidden: cannot be set for an Ephemeral Container"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _unsupported(path: str, value: Any, supported: tuple[str, ...]) -> Cause:
    message = f'Unsupported value: "{value}": supported values: {_quoted(supported)}'
    return Cause(path, "FieldValueNotSupported", message)


def _label_causes(path: str, name: Any) -> list[Cause]:
    return dns1123_label_causes(name, path)


def _name_causes(path: str, name: Any, seen: set[str]) -> list[Cause]:
    """A container's or volume's name: given, unique among its kind (`seen`,
    which it joins), an RFC 1123 label."""
    if not name:
        return [Cause(path, "FieldValueRequired", "Required value")]
    if name in seen:
        return [Cause(path, "FieldValueDuplicate", f'Duplicate value: "{name}"')]
    seen.add(str(name))
    return _label_causes(path, name)


def _containers(spec: Obj, path: str) -> Iterator[tuple[str, Obj]]:
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field) or []):
            if isinstance(container, dict):
                yield f"{path}.{field}[{i}]", container


def validate_pod_spec(spec: Obj, path: str) -> list[Cause]:
    """The pod spec `spec` found at `path` (`spec`, `spec.template.spec`).

    A spec found valid is valid again wherever it is: kept by its JSON, so a
    ReplicaSet's pods, and every write of a pod that leaves its spec alone
    (status, labels), are not checked again (~9 us a pod).
    """
    key = json_key(spec)
    if key is not None and _VALID.get(key):
        return []
    causes = _spec_causes(spec, path)
    if key is not None and not causes:
        _VALID.put(key, True)
    return causes


_VALID: Memo[bytes, bool] = Memo(256)  # the JSON of specs found valid


def _spec_causes(spec: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not spec.get("containers"):
        causes.append(Cause(f"{path}.containers", "FieldValueRequired", "Required value"))
    volumes = _volume_names(spec, path, causes)
    names: set[str] = set()
    port_names: set[str] = set()
    for where, container in _containers(spec, path):
        causes += _name_causes(f"{where}.name", container.get("name"), names)
        if not container.get("image"):
            causes.append(Cause(f"{where}.image", "FieldValueRequired", "Required value"))
        causes += _ports(container, where, port_names)
        causes += _mounts(container, where, volumes)
        causes += _requests_within_limits(container, f"{where}.resources")
    causes += _ephemeral_containers(spec, f"{path}.ephemeralContainers", volumes, names)
    causes += _sysctls(spec, f"{path}.securityContext.sysctls")
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        # kube names the field where its internal API keeps it: the security context.
        message = "Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled"
        at = f"{path}.securityContext.shareProcessNamespace"
        causes.append(Cause(at, "FieldValueInvalid", message))
    for field, allowed in (("restartPolicy", _RESTART_POLICIES), ("dnsPolicy", _DNS_POLICIES)):
        value = spec.get(field)
        if value is not None and value not in allowed:
            causes.append(_unsupported(f"{path}.{field}", value, allowed))
    return causes


def _ephemeral_containers(spec: Obj, path: str, volumes: set[str], names: set[str]) -> list[Cause]:
    """validateEphemeralContainers: each one checked as a container, its name unique
    among every container of the pod (`names`: the others'), its target one of the
    pod's regular or init containers, and none of the fields a debugger has no use for."""
    targets = set(names)
    seen = set(names)
    causes: list[Cause] = []
    for i, container in enumerate(spec.get("ephemeralContainers") or []):
        if not isinstance(container, dict):
            continue
        at = f"{path}[{i}]"
        name = container.get("name")
        if not name:
            causes.append(Cause(f"{at}.name", "FieldValueRequired", "Required value"))
        else:
            causes += _label_causes(f"{at}.name", name)
        if not container.get("image"):
            causes.append(Cause(f"{at}.image", "FieldValueRequired", "Required value"))
        causes += _ports(container, at, set())
        causes += _mounts(container, at, volumes)
        causes += _requests_within_limits(container, f"{at}.resources")
        if name and name in seen:
            causes.append(Cause(f"{at}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        seen.add(str(name or ""))
        target = container.get("targetContainerName")
        if target and target not in targets:
            causes.append(Cause(f"{at}.targetContainerName", "FieldValueNotFound",
                                f'Not found: "{target}"'))  # fmt: skip
        causes += [Cause(f"{at}.{field}", "FieldValueForbidden", _EPHEMERAL_FORBIDDEN)
                   for field in EPHEMERAL_FORBIDDEN_FIELDS
                   if not _is_zero(container.get(field))]  # fmt: skip
        causes += _no_sub_paths(container, at)
    return causes


def _no_sub_paths(container: Obj, at: str) -> list[Cause]:
    """Sub-paths are bind mounts kept until the pod ends: no ephemeral container has one."""
    causes = []
    for i, mount in enumerate(container.get("volumeMounts") or []):
        for field in ("subPath", "subPathExpr"):
            if isinstance(mount, dict) and mount.get(field):
                causes.append(Cause(f"{at}.volumeMounts[{i}].{field}", "FieldValueForbidden",
                                    _EPHEMERAL_FORBIDDEN))  # fmt: skip
    return causes


def _is_zero(value: Any) -> bool:
    """Unset as Go sees a field: its zero value (`resources: {}` is a set of no limits)."""
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    return value is None or value in ("", [], 0, False)


def _sysctls(spec: Obj, path: str) -> list[Cause]:
    """Every malformed or repeated sysctl name, each with its index (validateSysctls)."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for index, sysctl in enumerate((spec.get("securityContext") or {}).get("sysctls") or []):
        at = f"{path}[{index}].name"
        name = str((sysctl or {}).get("name") or "")
        if not name:
            causes.append(Cause(at, "FieldValueRequired", "Required value"))
        elif len(name) > _SYSCTL_MAX or not _SYSCTL.match(name):
            rule = f"must have at most {_SYSCTL_MAX} characters and match regex {_SYSCTL.pattern}"
            causes.append(Cause(at, "FieldValueInvalid", f'Invalid value: "{name}": {rule}'))
        elif name in seen:
            causes.append(Cause(at, "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        elif shared := _host_namespace_of(spec, name):
            message = f"Invalid value: \"{name}\": may not be specified when '{shared}' is true"
            causes.append(Cause(at, "FieldValueInvalid", message))
        seen.add(name)
    return causes


_IPC_SYSCTLS = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")


def _host_namespace_of(spec: Obj, sysctl: str) -> str:
    """The host namespace the pod shares that `sysctl` would change ("" if none):
    a pod may not set the node's own kernel parameters."""
    name = sysctl.replace("/", ".")
    if spec.get("hostNetwork") is True and name.startswith("net."):
        return "hostNetwork"
    if spec.get("hostIPC") is True and name.startswith(_IPC_SYSCTLS):
        return "hostIPC"
    return ""


def _volume_names(spec: Obj, path: str, causes: list[Cause]) -> set[str]:
    names: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict):
            continue
        causes += _name_causes(f"{path}.volumes[{i}].name", volume.get("name"), names)
    return names


def _ports(container: Obj, where: str, names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    for i, port in enumerate(container.get("ports") or []):
        if not isinstance(port, dict):
            continue
        at = f"{where}.ports[{i}]"
        number = port.get("containerPort")
        if not number:
            causes.append(Cause(f"{at}.containerPort", "FieldValueRequired", "Required value"))
        elif not isinstance(number, int) or not 0 < number < 65536:
            causes.append(Cause(f"{at}.containerPort", "FieldValueInvalid",
                                f"Invalid value: {number}: {_PORT_RANGE}"))  # fmt: skip
        host = port.get("hostPort")
        if host and (not isinstance(host, int) or not 0 < host < 65536):
            causes.append(Cause(f"{at}.hostPort", "FieldValueInvalid",
                                f"Invalid value: {host}: {_PORT_RANGE}"))  # fmt: skip
        protocol = port.get("protocol")
        if protocol is not None and protocol not in _PROTOCOLS:
            causes.append(_unsupported(f"{at}.protocol", protocol, _PROTOCOLS))
        name = port.get("name")
        if name:
            if name in names:
                causes.append(Cause(f"{at}.name", "FieldValueDuplicate",
                                    f'Duplicate value: "{name}"'))  # fmt: skip
            names.add(str(name))
    return causes


def _mounts(container: Obj, where: str, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    paths: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        at = f"{where}.volumeMounts[{i}]"
        name = mount.get("name")
        if not name:
            causes.append(Cause(f"{at}.name", "FieldValueRequired", "Required value"))
        elif name not in volumes:
            causes.append(Cause(f"{at}.name", "FieldValueNotFound", f'Not found: "{name}"'))
        mount_path = mount.get("mountPath")
        if not mount_path:
            causes.append(Cause(f"{at}.mountPath", "FieldValueRequired", "Required value"))
        elif mount_path in paths:
            causes.append(Cause(f"{at}.mountPath", "FieldValueInvalid",
                                f'Invalid value: "{mount_path}": must be unique'))  # fmt: skip
        paths.add(str(mount_path))
    return causes


def _requests_within_limits(container: Obj, where: str) -> list[Cause]:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    causes: list[Cause] = []
    for name, request in requests.items():
        if name not in limits:
            continue
        wanted, limit = _quantity(request), _quantity(limits[name])
        if wanted is not None and limit is not None and wanted > limit:
            causes.append(Cause(f"{where}.requests[{name}]", "FieldValueInvalid",
                                f'Invalid value: "{request}": must be less than or equal to '
                                f"{name} limit of {limits[name]}"))  # fmt: skip
    return causes


def _quantity(raw: Any) -> Fraction | None:
    try:
        return parse_quantity(raw)
    except (ValueError, ZeroDivisionError):
        return None  # an unreadable quantity is another check's business


def pod_update_causes(new: Obj, old: Obj) -> list[Cause]:
    """What kube-apiserver refuses in an update of pod `old` to `new`: any change of
    the spec but the container images, activeDeadlineSeconds, added tolerations
    and a negative grace period set to 1."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if _comparable(new_spec, old_spec) == _comparable(old_spec, old_spec):
        return []
    changed = list(changed_paths(_comparable(new_spec, old_spec), _comparable(old_spec, old_spec),
                                 "spec"))  # fmt: skip
    return [Cause("spec", "FieldValueForbidden",
                  f"Forbidden: pod updates may not change fields other than "
                  f"{UPDATABLE_POD_FIELDS}\n" + "\n".join(changed))]  # fmt: skip


def _comparable(spec: Obj, old: Obj) -> Obj:
    """`spec` without what an update may change (compared against `old`)."""
    out = dict(spec)
    for field in ("containers", "initContainers"):
        out[field] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                      for c in spec.get(field) or []]  # fmt: skip
    out.pop("activeDeadlineSeconds", None)
    tolerations = spec.get("tolerations") or []
    before = old.get("tolerations") or []
    if all(t in tolerations for t in before):  # only additions
        out["tolerations"] = before
    grace, was = spec.get("terminationGracePeriodSeconds"), old.get("terminationGracePeriodSeconds")
    if grace == 1 and isinstance(was, int) and was < 0:
        out["terminationGracePeriodSeconds"] = was
    return out


def changed_paths(new: Any, old: Any, path: str) -> Iterator[str]:
    """Each field that differs, as `path: old -> new` (short, where Go prints a diff)."""
    if isinstance(new, dict) and isinstance(old, dict):
        for key in sorted(set(new) | set(old), key=str):
            yield from changed_paths(new.get(key), old.get(key), f"{path}.{key}")
    elif isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        for i, (n, o) in enumerate(zip(new, old, strict=True)):
            yield from changed_paths(n, o, f"{path}[{i}]")
    elif new != old:
        yield f"  {path}: {_short(old)} -> {_short(new)}"


def _short(value: Any) -> str:
    text = "<unset>" if value is None else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."
