"""What an object costs against a ResourceQuota, and whether a quota admits it.

Shared by the API server's quota admission (which charges a create before
it is stored) and the resource quota controller (which recomputes
`status.used` from what exists): both must price an object the same way,
so the pricing lives here, below both, as pure functions over plain dicts.

The rules follow Kubernetes' quota evaluators:
- every object costs `count/<plural>[.<group>]`, and the kinds that had
  quota before that spelling existed also their legacy name (`pods`,
  `services`, `secrets`, ...);
- a pod that has finished (Succeeded or Failed) costs nothing; a running
  one costs its requests and limits (each the larger of the containers' sum
  and the largest init container), `cpu`/`memory`/`ephemeral-storage`
  being the same as their `requests.` spelling, extended resources only
  as `requests.<name>`. A request left out defaults to the limit, as the
  API's defaulting makes it;
- scopes (BestEffort, NotBestEffort, Terminating, NotTerminating,
  PriorityClass) select pods; a quota with any scope never charges another kind.
Amounts are exact fractions; `format_quantity` spells them back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kybernetes.api.quantity import parse_quantity

__all__ = [
    "COMPUTE_VALIDATION",
    "Refusal",
    "Usage",
    "add_usage",
    "evaluate",
    "format_quantity",
    "format_usage",
    "is_best_effort",
    "matches_scopes",
    "missing_compute",
    "object_usage",
    "parse_usage",
    "pod_counts",
    "quota_used",
]

Obj = Mapping[str, Any]
Usage = dict[str, Fraction]

# Kinds whose count had a name before `count/<resource>` existed.
LEGACY_COUNTS = {
    ("", "pods"): "pods",
    ("", "services"): "services",
    ("", "secrets"): "secrets",
    ("", "configmaps"): "configmaps",
    ("", "replicationcontrollers"): "replicationcontrollers",
    ("", "resourcequotas"): "resourcequotas",
    ("", "persistentvolumeclaims"): "persistentvolumeclaims",
}
# With a quota on any of these, every container must state it (a historical
# coupling Kubernetes keeps for compatibility; other resources never require it).
COMPUTE_VALIDATION = (
    "cpu", "limits.cpu", "limits.memory", "memory", "requests.cpu", "requests.memory",
)  # fmt: skip
_STANDARD = ("cpu", "memory", "ephemeral-storage")
_BYTES = ("memory", "storage", "ephemeral-storage", "hugepages-")
# What a pod can be charged for, besides hugepages and extended resources
# (`requests.<domain>/<name>`).
_POD_RESOURCES = frozenset(
    ["pods", "count/pods", *_STANDARD]
    + [f"{kind}.{name}" for kind in ("requests", "limits") for name in _STANDARD]
)


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def _quantity(raw: Any) -> Fraction:
    try:
        return parse_quantity(raw)
    except ValueError:
        return Fraction(0)


def _containers(spec: Obj, field: str) -> list[Obj]:
    return [c for c in spec.get(field) or [] if isinstance(c, Mapping)]


def _container_amounts(container: Obj, kind: str) -> Usage:
    """A container's requests (a missing one defaults to its limit) or limits."""
    resources = container.get("resources") or {}
    limits = resources.get("limits") or {}
    amounts = {name: _quantity(v) for name, v in limits.items()} if kind == "limits" else {}
    if kind == "requests":
        amounts = {name: _quantity(v) for name, v in limits.items()}
        amounts.update(
            {name: _quantity(v) for name, v in (resources.get("requests") or {}).items()}
        )
    return amounts


def _pod_amounts(spec: Obj, kind: str) -> Usage:
    """max(sum over containers, each init container) + overhead, per resource."""
    total: Usage = {}
    for container in _containers(spec, "containers"):
        for name, value in _container_amounts(container, kind).items():
            total[name] = total.get(name, Fraction(0)) + value
    for container in _containers(spec, "initContainers"):
        for name, value in _container_amounts(container, kind).items():
            total[name] = max(total.get(name, Fraction(0)), value)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, Fraction(0)) + _quantity(value)
    return total


def pod_counts(pod: Obj) -> bool:
    """Whether a pod is charged at all: finished pods release their quota."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _pod_usage(pod: Obj) -> Usage:
    usage: Usage = {"pods": Fraction(1), "count/pods": Fraction(1)}
    if not pod_counts(pod):
        return {}
    spec = pod.get("spec") or {}
    for name, value in _pod_amounts(spec, "requests").items():
        usage[f"requests.{name}"] = value
        if name in _STANDARD:
            usage[name] = value
    for name, value in _pod_amounts(spec, "limits").items():
        if name in _STANDARD:
            usage[f"limits.{name}"] = value
    return usage


def _service_usage(service: Obj) -> Usage:
    spec = service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    ports = len(spec.get("ports") or [])
    usage: Usage = {}
    if kind == "NodePort" or (
        kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True)
    ):
        usage["services.nodeports"] = Fraction(ports)
    if kind == "LoadBalancer":
        usage["services.loadbalancers"] = Fraction(1)
    return usage


def _claim_usage(claim: Obj) -> Usage:
    spec = claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    usage: Usage = {}
    if storage is not None:
        usage["requests.storage"] = _quantity(storage)
        if spec.get("storageClassName"):
            cls = spec["storageClassName"]
            usage[f"{cls}.storageclass.storage.k8s.io/requests.storage"] = usage["requests.storage"]
            usage[f"{cls}.storageclass.storage.k8s.io/persistentvolumeclaims"] = Fraction(1)
    return usage


def object_usage(group: str, plural: str, obj: Obj) -> Usage:
    """What one object costs (an empty dict: nothing)."""
    if not group and plural == "pods":
        return _pod_usage(obj)
    usage: Usage = {count_name(group, plural): Fraction(1)}
    legacy = LEGACY_COUNTS.get((group, plural))
    if legacy:
        usage[legacy] = Fraction(1)
    if not group and plural == "services":
        usage.update(_service_usage(obj))
    if not group and plural == "persistentvolumeclaims":
        usage.update(_claim_usage(obj))
    return usage


def add_usage(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> Usage:
    out = dict(a)
    for name, value in b.items():
        out[name] = out.get(name, Fraction(0)) + value
    return out


# -- scopes ---------------------------------------------------------------------------


def is_best_effort(pod: Obj) -> bool:
    """QoS BestEffort: no container asks for or limits cpu or memory."""
    spec = pod.get("spec") or {}
    for container in [*_containers(spec, "containers"), *_containers(spec, "initContainers")]:
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            if any(name in ("cpu", "memory") for name in resources.get(part) or {}):
                return False
    return True


def _terminating(pod: Obj) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def _priority_matches(pod: Obj, expression: Obj) -> bool:
    value = (pod.get("spec") or {}).get("priorityClassName") or ""
    operator = expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return bool(value)
    if operator == "DoesNotExist":
        return not value
    return False


def _scope_matches(scope: str, pod: Obj, expression: Obj | None = None) -> bool:
    if scope == "BestEffort":
        return is_best_effort(pod)
    if scope == "NotBestEffort":
        return not is_best_effort(pod)
    if scope == "Terminating":
        return _terminating(pod)
    if scope == "NotTerminating":
        return not _terminating(pod)
    if scope == "PriorityClass":
        return _priority_matches(pod, expression or {"operator": "Exists"})
    return False  # CrossNamespacePodAffinity and unknown scopes: never


def _scope_terms(quota: Obj) -> list[tuple[str, Obj | None]]:
    spec = quota.get("spec") or {}
    terms: list[tuple[str, Obj | None]] = [(s, None) for s in spec.get("scopes") or []]
    for expression in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        operator = expression.get("operator")
        if expression.get("scopeName") == "PriorityClass":
            terms.append(("PriorityClass", expression))
        elif operator == "DoesNotExist":
            terms.append((f"Not{expression.get('scopeName')}", None))
        else:
            terms.append((str(expression.get("scopeName")), None))
    return terms


def matches_scopes(quota: Obj, group: str, plural: str, obj: Obj) -> bool:
    """Whether the quota's scopes select this object (every scope must)."""
    terms = _scope_terms(quota)
    if not terms:
        return True
    if group or plural != "pods":
        return False  # scopes only ever select pods
    return all(_scope_matches(scope, obj, expr) for scope, expr in terms)


# -- admission ------------------------------------------------------------------------


def parse_usage(raw: Mapping[str, Any] | None) -> Usage:
    return {name: _quantity(value) for name, value in (raw or {}).items()}


def _is_bytes(name: str) -> bool:
    tail = name.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
    return any(tail.startswith(b) for b in _BYTES)


def format_quantity(value: Fraction, *, binary: bool = False) -> str:
    """Canonical spelling: "500m", "2", "5k", "128Mi" (binary for whole KiB amounts)."""
    if binary and value.denominator == 1 and value >= 1024 and value % 1024 == 0:
        number = int(value)
        for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
            number //= 1024
            if number % 1024 or suffix == "Ei":
                return f"{number}{suffix}"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value.denominator != 1:
        for exponent, suffix in ((3, "m"), (6, "u"), (9, "n")):
            scaled = value * 10**exponent
            if scaled.denominator == 1:
                return f"{sign}{int(scaled)}{suffix}"
        return f"{sign}{math.ceil(value * 10**9)}n"  # finer than 1n rounds up
    number, suffix = int(value), ""
    for bigger in ("k", "M", "G", "T", "P", "E"):
        if number % 1000:
            break
        number //= 1000
        suffix = bigger
    return f"{sign}{number}{suffix}"


def format_usage(usage: Mapping[str, Fraction]) -> dict[str, str]:
    return {name: format_quantity(value, binary=_is_bytes(name)) for name, value in usage.items()}


def _pretty(usage: Mapping[str, Fraction]) -> str:
    return ",".join(f"{k}={format_quantity(usage[k], binary=_is_bytes(k))}" for k in sorted(usage))


def missing_compute(required: Iterable[str], pod: Obj) -> str:
    """`must specify limits.cpu for: app; ...` when a quota needs what a container omits."""
    wanted = sorted(set(required) & set(COMPUTE_VALIDATION))
    spec = pod.get("spec") or {}
    missing: dict[str, list[str]] = {}
    for container in [*_containers(spec, "containers"), *_containers(spec, "initContainers")]:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in wanted:
            resource = name.rsplit(".", 1)[-1]
            if name.startswith("limits."):
                absent = resource not in limits
            else:
                absent = resource not in requests and resource not in limits
            if absent:
                missing.setdefault(name, []).append(str(container.get("name", "")))
    if not missing:
        return ""
    parts = [
        f"{name} for: {','.join(sorted(set(names)))}" for name, names in sorted(missing.items())
    ]
    return "must specify " + "; ".join(parts)


@dataclass(frozen=True)
class Refusal:
    """Why a quota refuses an object (the text after `is forbidden: `)."""

    message: str


def evaluate(
    quota: Obj, *, group: str, plural: str, obj: Obj, old: Obj | None = None
) -> Usage | Refusal | None:
    """The quota's new `status.used` after charging `obj`, a refusal, or None
    when the quota does not constrain it (nothing to write).

    With `old` (an update), only what the update adds is charged: a Service
    becoming a LoadBalancer, a claim growing; an update that adds nothing
    is never refused.
    """
    name = (quota.get("metadata") or {}).get("name", "")
    status = quota.get("status") or {}
    hard_names = list((quota.get("spec") or {}).get("hard") or {})
    if not matches_scopes(quota, group, plural, obj):
        return None
    usage = object_usage(group, plural, obj)
    if old is not None:
        before = (
            object_usage(group, plural, old) if matches_scopes(quota, group, plural, old) else {}
        )
        usage = {n: v - before.get(n, Fraction(0)) for n, v in usage.items()}
        if not any(v > 0 and n in hard_names for n, v in usage.items()):
            return None
    is_pod = not group and plural == "pods"
    # The resources of this quota the object's kind can be charged for.
    matching = [n for n in hard_names if _chargeable(n, group, plural)]
    if not matching:
        return None
    if is_pod and pod_counts(obj) and old is None:
        missing = missing_compute(matching, obj)
        if missing:
            return Refusal(f"failed quota: {name}: {missing}")
    hard = parse_usage(status.get("hard"))
    used = parse_usage(status.get("used"))
    if any(n not in hard or n not in used for n in matching):
        return Refusal(f"status unknown for quota: {name}, resources: {','.join(sorted(matching))}")
    requested = {n: v for n, v in usage.items() if n in hard and v > 0}
    if not requested:
        return None
    new_used = add_usage(used, requested)
    exceeded = sorted(n for n in requested if new_used[n] > hard[n])
    if exceeded:
        return Refusal(
            f"exceeded quota: {name}, requested: {_pretty({n: requested[n] for n in exceeded})}, "
            f"used: {_pretty({n: used[n] for n in exceeded})}, "
            f"limited: {_pretty({n: hard[n] for n in exceeded})}"
        )
    return new_used


def _chargeable(resource: str, group: str, plural: str) -> bool:
    """Whether objects of this kind can ever be charged for `resource`."""
    if resource == count_name(group, plural) or LEGACY_COUNTS.get((group, plural)) == resource:
        return True
    if group:
        return False
    if plural == "pods":
        return resource in _POD_RESOURCES or (
            resource.startswith("requests.")
            and ("/" in resource or resource.startswith("requests.hugepages-"))
        )
    if plural == "services":
        return resource in ("services.nodeports", "services.loadbalancers")
    if plural == "persistentvolumeclaims":
        return resource == "requests.storage" or ".storageclass.storage.k8s.io/" in resource
    return False


def quota_used(quota: Obj, objects: Mapping[tuple[str, str], Iterable[Obj]]) -> Usage:
    """`status.used` of a quota recomputed from every object of its namespace.

    `objects` maps (group, plural) to the objects of that kind; a hard
    resource no kind is charged for is reported as 0, as Kubernetes does.
    """
    hard_names = list((quota.get("spec") or {}).get("hard") or {})
    used: Usage = {n: Fraction(0) for n in hard_names}
    for (group, plural), items in objects.items():
        if not any(_chargeable(n, group, plural) for n in hard_names):
            continue
        for obj in items:
            if not matches_scopes(quota, group, plural, obj):
                continue
            for name, value in object_usage(group, plural, obj).items():
                if name in used:
                    used[name] += value
    return used
