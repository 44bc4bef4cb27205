"""Ephemeral containers on the node: which to start, and whose PID namespace they join.

Decisions, as the kubelet's computePodActions makes them: an ephemeral
container is started once, as soon as it is in the spec and the pod's sandbox
is up (its init containers need not have finished: a debugger is most wanted
when they hang), and never again, whatever the pod's restartPolicy and however
it ended. A pod that has finished starts none. One with `targetContainerName`
runs in the PID namespace of that container's running process, so `ps` in the
debugger sees the target's processes; while the target does not run it cannot
be created, and is tried again at the next step (it has not started, so it may
still start). Pure functions; the pod worker does the I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["TargetNotRunning", "ephemeral_containers", "ephemeral_to_start", "target_pid_namespace"]

Obj = dict[str, Any]
FINISHED_PHASES = ("Succeeded", "Failed")


class TargetNotRunning(Exception):
    """The container an ephemeral container targets has no running process to join."""


def ephemeral_containers(pod: Obj) -> list[Obj]:
    found = (pod.get("spec") or {}).get("ephemeralContainers") or []
    return [c for c in found if isinstance(c, dict) and c.get("name")]


def ephemeral_to_start(pod: Obj, started: Collection[str]) -> list[Obj]:
    """The ephemeral containers to start now: those never started (`started`: the
    names of every container that has had an attempt), unless the pod has finished."""
    if (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
        return []
    return [c for c in ephemeral_containers(pod) if str(c["name"]) not in started]


def target_pid_namespace(container: Obj, target_state: Obj | None) -> str:
    """The PID namespace an ephemeral container joins ("" for one of its own), from
    the runtime's state of its target's current run (`runc state`: status, pid)."""
    target = container.get("targetContainerName")
    if not target:
        return ""
    state = target_state or {}
    if state.get("status") != "running" or not state.get("pid"):
        raise TargetNotRunning(f'the target container "{target}" is not running')
    return f"/proc/{int(state['pid'])}/ns/pid"
