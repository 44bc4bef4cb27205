"""How many replicas one resource metric asks for: kube's replica calculator.

As kube-controller-manager's podautoscaler (replica_calculator.go): usage
per pod is the sum over its containers of the PodMetrics (a pod missing a
container's figure has no metric), requests per pod the sum of its
containers' requests (one container without a request makes utilization
uncomputable). Deleted and Failed pods are ignored; Pending pods, and for
CPU pods not yet ready or still in their initialization window, are unready;
pods without metrics are missing. The ratio of the ready pods' usage to the
target decides alone when nothing is unready or missing; otherwise missing
pods are taken at 100% (scale down) or 0% (scale up), unready ones at 0%
when scaling up, and a recomputed ratio that crosses 1 or falls within the
tolerance keeps the current count. Values are milli-units, as kube's.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.quantity import milli_value
from kybernetes.api.times import parse_time

__all__ = ["MetricError", "Proposal", "Sample", "pod_usage", "raw_replicas", "utilization_replicas"]

Obj = dict[str, Any]
# kube-controller-manager's defaults: --horizontal-pod-autoscaler-tolerance,
# -cpu-initialization-period and -initial-readiness-delay.
TOLERANCE = 0.1
CPU_INITIALIZATION = datetime.timedelta(minutes=5)
READINESS_DELAY = datetime.timedelta(seconds=30)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}


class MetricError(Exception):
    """A metric that gave no proposal, in kube's words."""


@dataclass(frozen=True)
class Sample:
    value: int  # milli-units
    timestamp: datetime.datetime | None = None
    window: datetime.timedelta = datetime.timedelta()


@dataclass(frozen=True)
class Proposal:
    replicas: int
    utilization: int | None  # percent of request, for Utilization targets
    raw: int  # the average usage in milli-units


@dataclass
class _Groups:
    ready: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def _go_duration(text: Any) -> datetime.timedelta:
    parts = _DURATION.findall(str(text or ""))
    return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def pod_usage(items: list[Obj], resource: str, container: str = "") -> dict[str, Sample]:
    """Each pod's usage of `resource` from PodMetrics (summed over its
    containers, or `container` alone); pods lacking a figure are left out."""
    usage: dict[str, Sample] = {}
    for item in items:
        containers = [c for c in item.get("containers") or []
                      if not container or c.get("name") == container]  # fmt: skip
        figures = [(c.get("usage") or {}).get(resource) for c in containers]
        if not figures or any(f is None for f in figures):
            continue
        name = (item.get("metadata") or {}).get("name", "")
        usage[name] = Sample(sum(milli_value(f) for f in figures),
                             parse_time(item.get("timestamp")),
                             _go_duration(item.get("window")))  # fmt: skip
    return usage


def _requests(pods: list[Obj], resource: str, container: str) -> dict[str, int]:
    """Each pod's request in milli-units, its sidecars (restartable init containers) included."""
    requests: dict[str, int] = {}
    for pod in pods:
        spec, name = pod.get("spec") or {}, pod["metadata"]["name"]
        sidecars = [c for c in spec.get("initContainers") or []
                    if c.get("restartPolicy") == "Always"]  # fmt: skip
        total = 0
        for each in [*(spec.get("containers") or []), *sidecars]:
            if container and each.get("name") != container:
                continue
            request = ((each.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise MetricError(f"missing request for {resource} in container "
                                  f"{each.get('name', '')} of Pod {name}")  # fmt: skip
            total += milli_value(request)
        requests[name] = total
    return requests


def _ready_condition(pod: Obj) -> Obj | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def _cpu_unready(pod: Obj, sample: Sample, now: datetime.datetime) -> bool:
    """A CPU sample that would mislead: the pod is not ready, or it started so
    recently that the sample may cover its start-up burst."""
    condition = _ready_condition(pod)
    started = parse_time((pod.get("status") or {}).get("startTime"))
    if condition is None or started is None:
        return True
    changed = parse_time(condition.get("lastTransitionTime")) or started
    if started + CPU_INITIALIZATION > now:
        not_a_window_since = sample.timestamp is None or sample.timestamp < changed + sample.window
        return condition.get("status") == "False" or not_a_window_since
    # Past initialization: only a pod that has never been ready is left out.
    return condition.get("status") == "False" and started + READINESS_DELAY > changed


def _group(pods: list[Obj], usage: dict[str, Sample], resource: str,
           now: datetime.datetime) -> _Groups:  # fmt: skip
    groups = _Groups()
    for pod in pods:
        name, phase = pod["metadata"]["name"], (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
            groups.ignored.add(name)
        elif phase == "Pending":
            groups.unready.add(name)
        elif name not in usage:
            groups.missing.add(name)
        elif resource == "cpu" and _cpu_unready(pod, usage[name], now):
            groups.unready.add(name)
        else:
            groups.ready += 1
    return groups


Ratio = Callable[[dict[str, int]], float]


def _prepare(pods: list[Obj], usage: dict[str, Sample], resource: str,
             now: datetime.datetime) -> tuple[_Groups, dict[str, int]]:  # fmt: skip
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = _group(pods, usage, resource, now)
    kept = {name: s.value for name, s in usage.items()
            if name not in groups.ignored and name not in groups.unready
            and any(p["metadata"]["name"] == name for p in pods)}  # fmt: skip
    if not kept:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    return groups, kept


def utilization_replicas(*, current: int, target: int, resource: str, container: str,
                         pods: list[Obj], usage: dict[str, Sample],
                         now: datetime.datetime) -> Proposal:  # fmt: skip
    """A `Utilization` target: `target` percent of the pods' requests."""
    groups, values = _prepare(pods, usage, resource, now)
    requests = _requests(pods, resource, container)

    def utilization(of: dict[str, int]) -> tuple[int, int]:
        known = [name for name in of if name in requests]
        asked = sum(requests[name] for name in known)
        if asked == 0:
            raise MetricError("no metrics returned matched known pods")
        used = sum(of[name] for name in known)
        return used * 100 // asked, used // len(known)

    percent, raw = utilization(values)
    fallbacks = {name: requests[name] * max(100, target) // 100 for name in groups.missing}
    replicas = _decide_with(current, values, groups, lambda of: utilization(of)[0] / target,
                            fallbacks)  # fmt: skip
    return Proposal(replicas, percent, raw)


def raw_replicas(*, current: int, target: int, resource: str, pods: list[Obj],
                 usage: dict[str, Sample], now: datetime.datetime) -> Proposal:  # fmt: skip
    """An `AverageValue` target: `target` milli-units per pod."""
    groups, values = _prepare(pods, usage, resource, now)
    average = sum(values.values()) // len(values)
    replicas = _decide_with(current, values, groups,
                            lambda of: (sum(of.values()) // len(of)) / target,
                            dict.fromkeys(groups.missing, target))  # fmt: skip
    return Proposal(replicas, None, average)


def _decide_with(current: int, values: dict[str, int], groups: _Groups, ratio: Ratio,
                 fallbacks: dict[str, int]) -> int:  # fmt: skip
    """_decide with a per-pod fallback (utilization's depends on each pod's request)."""
    first = ratio(values)
    with_unready = bool(groups.unready) and first > 1.0
    if not with_unready and not groups.missing:
        return current if abs(1.0 - first) <= TOLERANCE else math.ceil(first * groups.ready)
    for name in groups.missing:
        # Missing pods damp the change: full usage when shrinking, none when growing.
        values[name] = fallbacks[name] if first < 1.0 else 0
    if with_unready:
        values.update(dict.fromkeys(groups.unready, 0))
    second = ratio(values)
    crossed = (first < 1.0 < second) or (first > 1.0 > second)
    if abs(1.0 - second) <= TOLERANCE or crossed:
        return current
    proposed = math.ceil(second * len(values))
    if (second < 1.0 and proposed > current) or (second > 1.0 and proposed < current):
        return current
    return proposed
