"""LimitRange: the kind's defaults and checks, and the LimitRanger admission step.

On a new pod, each LimitRange of its namespace first fills in the
`Container` item's `default` limits and `defaultRequest` requests a
container leaves out (recording what it set in the pod's
`kubernetes.io/limit-ranger` annotation), then checks min, max and
maxLimitRequestRatio per container and, for `Pod` items, over the whole
pod; a new PersistentVolumeClaim is checked against `PersistentVolumeClaim`
items. A violation refuses the create with 403 and Kubernetes' wording.
As in Kubernetes, pod updates are not checked (their resources cannot
change). It runs before quota admission, so a quota charges the defaults.

The decisions are pure functions over plain dicts; `admit_limits` only
reads the namespace's LimitRanges from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.api.resourcequota import format_quantity
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.quantity import canonical_quantity
from kybernetes.apiserver.quota import forbidden
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.storage import ObjectStorage
from kybernetes.apiserver.strategy import Strategy

__all__ = ["LimitRangeStrategy", "admit_limits", "apply_defaults", "violations"]

ANNOTATION = "kubernetes.io/limit-ranger"
_TYPES = ("Pod", "Container", "PersistentVolumeClaim")


def _items(ranges: Iterable[Obj], kind: str) -> list[Obj]:
    return [
        item
        for lr in ranges
        for item in (lr.get("spec") or {}).get("limits") or []
        if isinstance(item, dict) and item.get("type") == kind
    ]


def _containers(pod: Obj) -> list[tuple[str, dict[str, Any]]]:
    spec = pod.get("spec") or {}
    out = [("init container", c) for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    return out + [("container", c) for c in spec.get("containers") or [] if isinstance(c, dict)]


def apply_defaults(pod: Obj, ranges: Iterable[Obj]) -> None:
    """Fill each container's missing requests and limits from the Container items."""
    default_limits: dict[str, Any] = {}
    default_requests: dict[str, Any] = {}
    for item in _items(ranges, "Container"):
        # As Kubernetes: the last Container item's defaults win, as whole lists.
        if item.get("default"):
            default_limits = dict(item["default"])
        if item.get("defaultRequest"):
            default_requests = dict(item["defaultRequest"])
    if not default_limits and not default_requests:
        return
    notes: list[str] = []
    for kind, container in _containers(pod):
        resources = container.get("resources")
        if not isinstance(resources, dict):
            resources = container["resources"] = {}
        set_by: dict[str, list[str]] = {"request": [], "limit": []}
        for field, word, defaults in (("limits", "limit", default_limits),
                                      ("requests", "request", default_requests)):  # fmt: skip
            current = resources.get(field) or {}
            for name, value in defaults.items():
                if name not in current:
                    current[name] = value
                    set_by[word].append(name)
            if current:
                resources[field] = current
        name = container.get("name", "")
        for word in ("request", "limit"):
            if set_by[word]:
                notes.append(f"{', '.join(sorted(set_by[word]))} {word} for {kind} {name}")
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _amount(raw: Any) -> Fraction | None:
    if isinstance(raw, Fraction):
        return raw
    try:
        return parse_quantity(raw)
    except ValueError:
        return None


def _show(raw: Any) -> str:
    """A quantity as Quantity.String() prints it (pod totals are already exact numbers)."""
    if isinstance(raw, Fraction):
        return format_quantity(raw)
    return canonical_quantity(raw)


def _check(
    kind: str, item: Obj, requests: Mapping[str, Any], limits: Mapping[str, Any]
) -> list[str]:
    """One item's min, max and ratio against one container, pod or claim."""
    problems: list[str] = []
    for name, bound in (item.get("min") or {}).items():
        enforced, shown = _amount(bound), canonical_quantity(bound)
        request, limit = _amount(requests.get(name)), _amount(limits.get(name))
        if enforced is None:
            continue
        if name not in requests:
            problems.append(f"minimum {name} usage per {kind} is {shown}.  No request is specified")
        elif request is not None and request < enforced:
            problems.append(f"minimum {name} usage per {kind} is {shown}, but request is "
                            f"{_show(requests[name])}")  # fmt: skip
        elif limit is not None and limit < enforced:
            problems.append(f"minimum {name} usage per {kind} is {shown}, but limit is "
                            f"{_show(limits[name])}")  # fmt: skip
    for name, bound in (item.get("max") or {}).items():
        enforced, shown = _amount(bound), canonical_quantity(bound)
        request, limit = _amount(requests.get(name)), _amount(limits.get(name))
        if enforced is None:
            continue
        if name not in limits:
            problems.append(f"maximum {name} usage per {kind} is {shown}.  No limit is specified")
        elif limit is not None and limit > enforced:
            problems.append(f"maximum {name} usage per {kind} is {shown}, but limit is "
                            f"{_show(limits[name])}")  # fmt: skip
        elif request is not None and request > enforced:
            problems.append(f"maximum {name} usage per {kind} is {shown}, but request is "
                            f"{_show(requests[name])}")  # fmt: skip
    for name, bound in (item.get("maxLimitRequestRatio") or {}).items():
        enforced, shown = _amount(bound), canonical_quantity(bound)
        request, limit = _amount(requests.get(name)), _amount(limits.get(name))
        if enforced is None:
            continue
        prefix = f"{name} max limit to request ratio per {kind} is {shown}"
        if not request:
            problems.append(f"{prefix}, but no request is specified or request is 0")
        elif not limit:
            problems.append(f"{prefix}, but no limit is specified or limit is 0")
        elif limit / request > enforced:
            problems.append(f"{prefix}, but provided ratio is {float(limit / request):f}")
    return problems


def _pod_totals(pod: Obj, field: str) -> dict[str, Fraction]:
    """max(sum of the containers, largest init container) per resource."""
    total: dict[str, Fraction] = {}
    for kind, container in _containers(pod):
        for name, raw in ((container.get("resources") or {}).get(field) or {}).items():
            value = _amount(raw) or Fraction(0)
            if kind == "container":
                total[name] = total.get(name, Fraction(0)) + value
    for kind, container in _containers(pod):
        if kind == "init container":
            for name, raw in ((container.get("resources") or {}).get(field) or {}).items():
                total[name] = max(total.get(name, Fraction(0)), _amount(raw) or Fraction(0))
    return total


def violations(rt: ResourceType, obj: Obj, ranges: Iterable[Obj]) -> list[str]:
    """Every way `obj` (a pod or a claim) breaks the namespace's LimitRanges."""
    ranges = list(ranges)
    problems: list[str] = []
    if rt.kind == "Pod":
        for item in _items(ranges, "Container"):
            for _, container in _containers(obj):
                resources = container.get("resources") or {}
                problems += _check("Container", item, resources.get("requests") or {},
                                   resources.get("limits") or {})  # fmt: skip
        for item in _items(ranges, "Pod"):
            problems += _check("Pod", item, _pod_totals(obj, "requests"),
                               _pod_totals(obj, "limits"))  # fmt: skip
    elif rt.kind == "PersistentVolumeClaim":
        resources = (obj.get("spec") or {}).get("resources") or {}
        for item in _items(ranges, "PersistentVolumeClaim"):
            problems += _check("PersistentVolumeClaim", item, resources.get("requests") or {},
                               resources.get("limits") or {})  # fmt: skip
    return list(dict.fromkeys(problems))  # an aggregate names each problem once


def _aggregate(problems: list[str]) -> str:
    """utilerrors.Aggregate's text: one error bare, several in brackets."""
    return problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"


async def admit_limits(
    storage: ObjectStorage, registry: ResourceRegistry, rt: ResourceType, obj: Obj
) -> None:
    """Default a new pod from, and check a new pod or claim against, its namespace's LimitRanges."""
    if rt.group or rt.kind not in ("Pod", "PersistentVolumeClaim"):
        return
    ranges_rt = registry.lookup("", "v1", "limitranges")
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if ranges_rt is None or not namespace:
        return
    ranges = await storage.cached_list(ranges_rt, namespace)
    if not ranges:
        return
    if rt.kind == "Pod":
        apply_defaults(obj, ranges)
    problems = violations(rt, obj, ranges)
    if problems:
        raise forbidden(rt, obj, _aggregate(problems))


class LimitRangeStrategy(Strategy):
    """SetDefaults_LimitRangeItem: a Container item's default limit falls back
    to its max, its default request to the default limit, then to its min."""

    def default(self, obj: Obj) -> None:
        for item in (obj.get("spec") or {}).get("limits") or []:
            if not isinstance(item, dict) or item.get("type") != "Container":
                continue
            default = item.setdefault("default", {})
            request = item.setdefault("defaultRequest", {})
            for name, value in (item.get("max") or {}).items():
                default.setdefault(name, value)
            for name, value in default.items():
                request.setdefault(name, value)
            for name, value in (item.get("min") or {}).items():
                request.setdefault(name, value)
            if not default:
                del item["default"]
            if not request:
                del item["defaultRequest"]

    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        for i, item in enumerate((obj.get("spec") or {}).get("limits") or []):
            path = f"spec.limits[{i}]"
            if not isinstance(item, dict):
                causes.append(Cause(path, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            if item.get("type") not in _TYPES:
                causes.append(
                    Cause(
                        f"{path}.type",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{item.get("type")}": supported '
                        'values: "Container", "PersistentVolumeClaim", "Pod"',
                    )
                )
            for field in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
                for name, value in (item.get(field) or {}).items():
                    if _amount(value) is None:
                        causes.append(
                            Cause(
                                f"{path}.{field}[{name}]",
                                "FieldValueInvalid",
                                f'Invalid value: "{value}": quantities must match '
                                "the regular expression "
                                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                            )
                        )
            low, high = item.get("min") or {}, item.get("max") or {}
            for name in low:
                lo, hi = _amount(low[name]), _amount(high.get(name))
                if lo is not None and hi is not None and lo > hi:
                    causes.append(Cause(f"{path}.min[{name}]", "FieldValueInvalid",
                                        f'Invalid value: "{low[name]}": min value '
                                        f"{low[name]} is greater than max value "
                                        f"{high[name]}"))  # fmt: skip
        return causes
