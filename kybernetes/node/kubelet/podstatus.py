"""A pod's status from what its containers are doing, as pure functions.

The kubelet's own rules (kubelet_pods.go getPhase and the status
generators): the phase from the containers' states and the restart
policy, the four conditions with Kubernetes' reasons and messages, and one
container status per container in the order of the spec. Callers pass
what the runtime observed (`Observed`); nothing here does I/O, so every
rule is a unit test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.qos import qos_class

__all__ = ["DEADLINE_MESSAGE", "DEADLINE_REASON", "KUBELET_CONDITIONS", "Observed",
           "container_status", "deadline_left", "ephemeral_status", "pod_conditions", "pod_phase",
           "pod_status", "qos_class"]  # fmt: skip

Obj = dict[str, Any]
# The conditions the kubelet writes; any other type belongs to someone else.
KUBELET_CONDITIONS = frozenset(
    {"PodScheduled", "Ready", "Initialized", "ContainersReady", "PodReadyToStartContainers"}
)
# The kubelet's words when a pod outlives spec.activeDeadlineSeconds (active_deadline.go).
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass(frozen=True)
class Observed:
    """What the kubelet knows about one container right now."""

    state: Obj  # {"waiting": {...}} | {"running": {...}} | {"terminated": {...}}
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    started: bool | None = None
    image: str = ""
    image_id: str = ""
    container_id: str = ""


def _names(containers: Sequence[Obj]) -> list[str]:
    return [str(c.get("name", "")) for c in containers]


def _succeeded(observed: Observed | None) -> bool:
    terminated = (observed.state.get("terminated") if observed else None) or {}
    return bool(terminated) and terminated.get("exitCode") == 0


def pod_phase(spec: Obj, containers: Mapping[str, Observed], init: Mapping[str, Observed]) -> str:
    """Pending, Running, Succeeded or Failed (getPhase)."""
    policy = spec.get("restartPolicy", "Always")
    for name in _names(spec.get("initContainers") or []):
        seen = init.get(name)
        terminated = (seen.state.get("terminated") if seen else None) or {}
        if terminated.get("exitCode") == 0:
            continue
        if terminated and policy == "Never":
            return "Failed"  # an init container failed for good
        return "Pending"  # still initialising (or restarting a failed init container)
    running = waiting = stopped = succeeded = unknown = 0
    for name in _names(spec.get("containers") or []):
        seen = containers.get(name)
        if seen is None:
            unknown += 1
        elif "running" in seen.state:
            running += 1
        elif "terminated" in seen.state:
            stopped += 1
            succeeded += seen.state["terminated"].get("exitCode") == 0
        elif "waiting" in seen.state:
            if "terminated" in seen.last_state:
                stopped += 1  # waiting to restart after it ran: not pending any more
            else:
                waiting += 1
        else:
            unknown += 1
    if waiting or unknown:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if policy == "Always":
        return "Running"  # in back-off, about to restart
    if policy == "OnFailure":
        return "Succeeded" if stopped == succeeded else "Running"
    return "Failed" if stopped > succeeded else "Succeeded"


def deadline_left(spec: Obj, *, started_at: float | None, now: float) -> float | None:
    """Seconds until spec.activeDeadlineSeconds runs out (<= 0: it has); None without one.

    Counted from the pod's startTime on this node, as the kubelet counts it: a pod
    not started yet has no deadline running.
    """
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is None or started_at is None:
        return None
    return started_at + float(deadline) - now


def _condition(kind: str, ok: bool, *, reason: str = "", message: str = "",
               since: str) -> Obj:  # fmt: skip
    condition: Obj = {"type": kind, "status": "True" if ok else "False",
                      "lastProbeTime": None, "lastTransitionTime": since}  # fmt: skip
    if not ok and reason:
        condition.update(reason=reason, message=message)
    return condition


def pod_conditions(
    pod: Obj,
    containers: Mapping[str, Observed],
    init: Mapping[str, Observed],
    *,
    phase: str,
    sandbox_ready: bool,
    now: str,
) -> list[Obj]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.

    A condition keeps its old transition time while its status stays the same.
    """
    spec = pod.get("spec") or {}
    old = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}

    def since(kind: str, ok: bool) -> str:
        previous = old.get(kind)
        same = previous and previous.get("status") == ("True" if ok else "False")
        return str(previous.get("lastTransitionTime")) if same and previous else now

    pending_init = [n for n in _names(spec.get("initContainers") or [])
                    if not _succeeded(init.get(n))]  # fmt: skip
    initialized = not pending_init
    app = _names(spec.get("containers") or [])
    unready = [n for n in app if not (containers.get(n) and containers[n].ready)]
    finished = phase in ("Succeeded", "Failed")
    reason = "PodCompleted" if finished else "ContainersNotReady"
    message = "" if finished else f"containers with unready status: [{' '.join(unready)}]"
    ready = not unready and not finished
    conditions = [
        _condition("PodReadyToStartContainers", sandbox_ready,
                   since=since("PodReadyToStartContainers", sandbox_ready)),
        _condition("Initialized", initialized, reason="ContainersNotInitialized",
                   message=f"containers with incomplete status: [{' '.join(pending_init)}]",
                   since=since("Initialized", initialized)),
        _condition("Ready", ready, reason=reason, message=message, since=since("Ready", ready)),
        _condition("ContainersReady", ready, reason=reason, message=message,
                   since=since("ContainersReady", ready)),
    ]  # fmt: skip
    if finished and initialized:
        for condition in conditions[1:2]:
            condition.update(reason="PodCompleted")
    generation = (pod.get("metadata") or {}).get("generation")
    if generation is not None:  # which spec the conditions speak of
        for condition in conditions:
            condition["observedGeneration"] = generation
    scheduled = old.get("PodScheduled") or _condition("PodScheduled", True, since=now)
    # Conditions of other writers (readiness gates, a user's PATCH of pods/status) are
    # kept, ahead of the kubelet's own, as its status manager merges them.
    others = [c for c in (pod.get("status") or {}).get("conditions") or []
              if c.get("type") not in KUBELET_CONDITIONS]  # fmt: skip
    return [*others, *conditions, scheduled]


def container_status(name: str, observed: Observed | None, *, image: str,
                     initializing: bool = False) -> Obj:  # fmt: skip
    """One entry of containerStatuses / initContainerStatuses.

    A container not created yet waits in ContainerCreating, or PodInitializing in a
    pod with init containers (the kubelet's default waiting state).
    """
    if observed is None:
        reason = "PodInitializing" if initializing else "ContainerCreating"
        return {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": 0,
                "started": False, "lastState": {},
                "state": {"waiting": {"reason": reason}}}  # fmt: skip
    status: Obj = {
        "name": name,
        "image": observed.image or image,
        "imageID": observed.image_id,
        "ready": observed.ready,
        "restartCount": observed.restart_count,
        "started": bool(observed.started)
        if observed.started is not None
        else "running" in observed.state,
        "state": observed.state,
        "lastState": observed.last_state,
    }
    if observed.container_id:
        status["containerID"] = observed.container_id
    return status


def ephemeral_status(name: str, observed: Observed | None, *, image: str,
                     initializing: bool = False) -> Obj:  # fmt: skip
    """One entry of ephemeralContainerStatuses: a container status that is never ready and
    has no `started` (no probe ever runs in an ephemeral container), nor restarts."""
    status = container_status(name, observed, image=image, initializing=initializing)
    status.pop("started", None)
    status["ready"] = False
    status["restartCount"] = 0
    return status


def pod_status(
    pod: Obj,
    containers: Mapping[str, Observed],
    init: Mapping[str, Observed],
    *,
    ephemeral: Mapping[str, Observed] | None = None,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    sandbox_ready: bool,
    now: str,
    failure: tuple[str, str] | None = None,
) -> Obj:
    """The whole status the kubelet writes; `failure` (reason, message) fails the pod."""
    spec = pod.get("spec") or {}
    phase = "Failed" if failure else pod_phase(spec, containers, init)
    conditions = pod_conditions(pod, containers, init, phase=phase, sandbox_ready=sandbox_ready,
                                now=now)  # fmt: skip
    status: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": start_time,
        "qosClass": qos_class(spec),
        "containerStatuses": _statuses(
            spec.get("containers") or [], containers, initializing=bool(spec.get("initContainers"))
        ),
    }
    if (generation := (pod.get("metadata") or {}).get("generation")) is not None:
        status["observedGeneration"] = generation
    if failure:
        status["reason"], status["message"] = failure
    if spec.get("initContainers"):
        status["initContainerStatuses"] = _statuses(spec["initContainers"], init, initializing=True)
    if spec.get("ephemeralContainers"):
        # Reported, but no part of the phase or the conditions: a debugger comes and goes
        # without the pod's readiness or its end depending on it.
        seen = ephemeral or {}
        status["ephemeralContainerStatuses"] = [
            ephemeral_status(name, seen.get(name), image=str(c.get("image", "")),
                             initializing=bool(spec.get("initContainers")))
            for c in spec["ephemeralContainers"] if (name := str(c.get("name", "")))
        ]  # fmt: skip
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def _statuses(specs: Sequence[Obj], observed: Mapping[str, Observed], *,
              initializing: bool) -> list[Obj]:  # fmt: skip
    return [container_status(str(c["name"]), observed.get(str(c["name"])),
                             initializing=initializing,
                             image=str(c.get("image", ""))) for c in specs]  # fmt: skip
