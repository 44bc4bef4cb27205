"""The pod row: READY, STATUS and RESTARTS, derived from container statuses as kubectl shows them.

One pass over the statuses computes all three, as Kubernetes' pod printer
does, because they share state: while an init container is still running or
failing, STATUS is `Init:…`, READY counts only started sidecars and RESTARTS
counts init-container restarts; once the pod is initialized, the app
containers take over. Sidecars (init containers with `restartPolicy:
Always`) count in READY's total and their restarts always count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import (
    AGE,
    NAME,
    Column,
    Now,
    Since,
    get,
    parse_time,
)

__all__ = ["COLUMNS", "PodSummary", "pod_row_conditions", "summarize_pod"]

# The pod is being deleted because its node is unreachable: shown as Unknown, not Terminating.
_NODE_LOST = "NodeLost"


@dataclass(frozen=True)
class PodSummary:
    ready: str
    status: str
    restarts: str | Since


def _is_sidecar(container: Any) -> bool:
    return isinstance(container, Mapping) and container.get("restartPolicy") == "Always"


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    """A terminated container's reason, or its signal or exit code when it has none."""
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode') or 0}"


def _condition_true(pod: Obj, kind: str) -> bool:
    for condition in get(pod, "status", "conditions", default=[]):
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


class _Restarts:
    """A restart count and the latest time a container of the group last terminated."""

    def __init__(self) -> None:
        self.count = 0
        self.last: Now | None = None

    def add(self, status: Mapping[str, Any]) -> None:
        self.count += int(status.get("restartCount") or 0)
        finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished


def summarize_pod(pod: Obj) -> PodSummary:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs: Sequence[Any] = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if _is_sidecar(c)}
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = 0
    all_restarts, sidecar_restarts = _Restarts(), _Restarts()

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        all_restarts.add(cs)
        sidecar = cs.get("name") in sidecars
        if sidecar:
            sidecar_restarts.add(cs)
        terminated = get(cs, "state", "terminated")
        waiting = get(cs, "state", "waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        initializing = True
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break

    restarts = all_restarts
    if not initializing or _condition_true(pod, "Initialized"):
        restarts = sidecar_restarts
        has_running = False
        # The first app container with a waiting or terminated reason decides STATUS.
        for cs in reversed(status.get("containerStatuses") or []):
            restarts.add(cs)
            waiting = get(cs, "state", "waiting")
            terminated = get(cs, "state", "terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and get(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        # A pod whose finished containers say Completed still runs while one container runs.
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"

    if get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == _NODE_LOST:
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell: str | Since = str(restarts.count)
    if restarts.count and restarts.last is not None:
        restarts_cell = Since(restarts.last, f"{restarts.count} ({{}} ago)")
    return PodSummary(ready=f"{ready}/{total}", status=reason, restarts=restarts_cell)


_last: list[tuple[Obj, PodSummary]] = []


def _summary(pod: Obj) -> PodSummary:
    """summarize_pod once per row: three columns read it (it was 24% of a pod LIST).

    The cache holds the pod itself, so `is` cannot match a different object
    that happens to reuse a freed one's address.
    """
    if _last and _last[0][0] is pod:
        return _last[0][1]
    summary = summarize_pod(pod)
    _last[:] = [(pod, summary)]
    return summary


def pod_row_conditions(pod: Obj) -> list[Obj]:
    """A finished pod's row says so in `conditions`, as the real server's rows do."""
    phase = get(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


def _pod_ip(pod: Obj) -> str:
    ip = get(pod, "status", "podIPs", 0, "ip") or get(pod, "status", "podIP")
    return str(ip) if ip else "<none>"


def _readiness_gates(pod: Obj) -> str:
    gates = get(pod, "spec", "readinessGates", default=[])
    if not gates:
        return "<none>"
    conditions: dict[str, Any] = {}
    for condition in get(pod, "status", "conditions", default=[]):
        conditions.setdefault(condition.get("type"), condition.get("status"))
    ready = sum(1 for gate in gates if conditions.get(gate.get("conditionType")) == "True")
    return f"{ready}/{len(gates)}"


def _or_none(*path: str) -> Any:
    return lambda obj: get(obj, *path) or "<none>"


COLUMNS = {
    ("", "Pod"): [
        NAME,
        Column("Ready", lambda o: _summary(o).ready,
               description="Ready containers out of all containers."),
        Column("Status", lambda o: _summary(o).status,
               description="The pod's phase, or what holds it back."),
        Column("Restarts", lambda o: _summary(o).restarts,
               description="Container restarts, and how long ago the last one was."),
        AGE,
        Column("IP", _pod_ip, priority=1, description="The pod's first IP address."),
        Column("Node", _or_none("spec", "nodeName"), priority=1,
               description="The node the pod is bound to."),
        Column("Nominated Node", _or_none("status", "nominatedNodeName"), priority=1,
               description="The node a preempting pod is waiting for."),
        Column("Readiness Gates", _readiness_gates, priority=1,
               description="Readiness gates that are met, out of all of them."),
    ],
}  # fmt: skip
