"""Node lifecycle decisions: when a node is lost, which taints it carries, which pods go.

Pure functions of the objects and the time (seconds since the epoch,
passed in), so every rule is unit-tested without an API server or sleeps.
They follow kube-controller-manager's node lifecycle controller and its
taint-eviction controller:

* Health: a node is lost when neither its Lease nor its Ready heartbeat
  changed within the grace period, measured on this controller's clock
  from when it *saw* the change (never comparing the kubelet's clock with
  ours). A lost node's conditions all become Unknown.
* Taints: NoSchedule for Ready Unknown (`unreachable`), False (`not-ready`),
  pressure conditions and `spec.unschedulable`; NoExecute for Ready Unknown
  or False. Adding a NoExecute taint is rate-limited per zone (token
  buckets); removing never is.
* Zones: a zone with no Ready node is in full disruption, one with more
  than two not-Ready nodes making up 55 % or more is partially disrupted.
  The NoExecute rate is the primary one (0.1 node/s) in a normal zone, the
  secondary one (0.01) in a partially disrupted zone of more than 50 nodes
  and 0 in a smaller one; when every zone is fully disrupted the
  controller assumes its own connectivity is at fault and takes every
  NoExecute taint away (no evictions at all).
* Eviction: a pod on a node with NoExecute taints goes at once unless it
  tolerates all of them; with tolerations it goes after the smallest
  `tolerationSeconds` among them (never when none has a limit), counted
  from the later of the taint's `timeAdded` and the pod's creation, which
  survives a controller restart.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kybernetes.api.times import format_time, parse_time
from kybernetes.api.tolerations import tolerates

__all__ = [
    "CONDITION_TYPES",
    "FULL_DISRUPTION",
    "NORMAL",
    "NOT_READY",
    "PARTIAL_DISRUPTION",
    "UNREACHABLE",
    "EvictionRates",
    "TokenBuckets",
    "condition",
    "disruption_target_status",
    "eviction_deadline",
    "eviction_qps",
    "lost_conditions",
    "pod_not_ready_status",
    "ready_status",
    "tolerates",
    "updated_taints",
    "wanted_taints",
    "zone_of",
    "zone_state",
]

Obj = dict[str, Any]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_PRESSURE = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
}
# Every taint key this controller owns (and so may remove).
OWNED = frozenset({NOT_READY, UNREACHABLE, UNSCHEDULABLE, *_PRESSURE.values()})
CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

NORMAL = "Normal"
PARTIAL_DISRUPTION = "PartialDisruption"
FULL_DISRUPTION = "FullDisruption"


def _stamp(now: float) -> str:
    return format_time(datetime.datetime.fromtimestamp(now, datetime.UTC))


def _seconds(text: Any) -> float | None:
    moment = parse_time(text)
    return moment.timestamp() if moment else None


def condition(node: Obj, kind: str) -> Obj | None:
    for found in (node.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            result: Obj = found
            return result
    return None


def ready_status(node: Obj) -> str:
    """ "True", "False" or "Unknown" (no Ready condition yet counts as Unknown)."""
    ready = condition(node, "Ready")
    return str(ready.get("status")) if ready else "Unknown"


# -- health ------------------------------------------------------------------------------


def lost_conditions(node: Obj, now: float) -> list[Obj] | None:
    """The conditions of a node whose kubelet stopped posting: all Unknown.

    None when they already are. A condition the kubelet never posted is
    added as NodeStatusNeverUpdated, heartbeat at the node's creation.
    """
    stamp = _stamp(now)
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    changed = False
    for kind in CONDITION_TYPES:
        found = next((c for c in conditions if c.get("type") == kind), None)
        if found is None:
            created = (node.get("metadata") or {}).get("creationTimestamp") or stamp
            conditions.append({
                "type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastHeartbeatTime": created, "lastTransitionTime": stamp,
            })  # fmt: skip
            changed = True
        elif found.get("status") != "Unknown":
            found.update(status="Unknown", reason="NodeStatusUnknown",
                         message="Kubelet stopped posting node status.",
                         lastTransitionTime=stamp)  # fmt: skip
            changed = True
    return conditions if changed else None


def pod_not_ready_status(pod: Obj, now: float) -> Obj | None:
    """The pod's status with Ready False (MarkPodsNotReady), or None when it is not Ready."""
    status = pod.get("status") or {}
    conditions = [dict(c) for c in status.get("conditions") or []]
    for found in conditions:
        if found.get("type") == "Ready" and found.get("status") != "False":
            found.update(status="False", lastTransitionTime=_stamp(now))
            return {**status, "conditions": conditions}
    return None


def disruption_target_status(pod: Obj, now: float) -> Obj | None:
    """The pod's status with DisruptionTarget=True, as the taint manager sets it
    before deleting; None when it already says so."""
    status = pod.get("status") or {}
    wanted = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
              "message": "Taint manager: deleting due to NoExecute taint"}  # fmt: skip
    conditions = [dict(c) for c in status.get("conditions") or []]
    for found in conditions:
        if found.get("type") == "DisruptionTarget":
            if all(found.get(k) == v for k, v in wanted.items()):
                return None
            if found.get("status") != "True":
                found["lastTransitionTime"] = _stamp(now)
            found.update(wanted)
            return {**status, "conditions": conditions}
    conditions.append({**wanted, "lastProbeTime": None, "lastTransitionTime": _stamp(now)})
    return {**status, "conditions": conditions}


# -- taints ------------------------------------------------------------------------------


def wanted_taints(node: Obj, *, no_execute: bool) -> list[Obj]:
    """The controller-owned taints the node should carry (NoExecute only when allowed).

    A node that never reported a Ready condition gets none yet (as kube's tainting
    pass, which looks only at conditions present): after the grace period the
    health check writes Ready Unknown (NodeStatusNeverUpdated), and that taints it.
    """
    ready = ready_status(node) if condition(node, "Ready") else ""
    taints: list[Obj] = []
    if ready == "Unknown":
        taints.append({"key": UNREACHABLE, "effect": "NoSchedule"})
    elif ready == "False":
        taints.append({"key": NOT_READY, "effect": "NoSchedule"})
    for kind, key in _PRESSURE.items():
        found = condition(node, kind)
        if found and found.get("status") == "True":
            taints.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        taints.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
    if no_execute and ready == "Unknown":
        taints.append({"key": UNREACHABLE, "effect": "NoExecute"})
    elif no_execute and ready == "False":
        taints.append({"key": NOT_READY, "effect": "NoExecute"})
    return taints


def _same_taint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def updated_taints(
    current: list[Obj], wanted: list[Obj], now: float, *, keep_no_execute: bool = False
) -> list[Obj] | None:
    """The node's taints with the owned ones made `wanted`; None when nothing changes.

    Taints of other owners are kept; a wanted taint already there keeps its
    `timeAdded`; a new NoExecute taint gets `timeAdded` now. With
    `keep_no_execute`, owned NoExecute taints present are left alone (their
    removal or replacement waits for the rate limiter's say).
    """
    result: list[Obj] = []
    for taint in current:
        owned = taint.get("key") in OWNED
        keep = (
            not owned
            or any(_same_taint(taint, w) for w in wanted)
            or (keep_no_execute and taint.get("effect") == "NoExecute")
        )
        if keep:
            result.append(taint)
    for taint in wanted:
        if not any(_same_taint(taint, t) for t in result):
            new = dict(taint)
            if new.get("effect") == "NoExecute":
                new["timeAdded"] = _stamp(now)
            result.append(new)
    return None if result == current else result


# -- zones and the rate of tainting -------------------------------------------------------


def zone_of(node: Obj) -> str:
    """Region and zone from the topology labels (or their deprecated beta names)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get(
        "failure-domain.beta.kubernetes.io/region", ""
    )
    zone = labels.get("topology.kubernetes.io/zone") or labels.get(
        "failure-domain.beta.kubernetes.io/zone", ""
    )
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_state(ready: int, not_ready: int, *, unhealthy_threshold: float = 0.55) -> str:
    if ready == 0 and not_ready > 0:
        return FULL_DISRUPTION
    if not_ready > 2 and not_ready / (ready + not_ready) >= unhealthy_threshold:
        return PARTIAL_DISRUPTION
    return NORMAL


@dataclass(frozen=True)
class EvictionRates:
    """kube-controller-manager's --node-eviction-rate and friends."""

    primary: float = 0.1
    secondary: float = 0.01
    large_cluster_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55


def eviction_qps(state: str, zone_size: int, rates: EvictionRates, *, all_down: bool) -> float:
    """Nodes per second that may get a NoExecute taint in a zone in `state`."""
    if all_down:
        return 0.0
    if state == PARTIAL_DISRUPTION:
        return rates.secondary if zone_size > rates.large_cluster_threshold else 0.0
    return rates.primary


class TokenBuckets:
    """One token bucket per zone (burst 1, as the eviction limiter's), time passed in."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[float, float]] = {}  # zone -> (tokens, at)

    def take(self, zone: str, qps: float, now: float) -> float:
        """0 when a token was taken, else seconds until one will be (inf at qps 0)."""
        if qps <= 0:
            return float("inf")
        tokens, at = self._tokens.get(zone, (1.0, now))
        tokens = min(1.0, tokens + max(now - at, 0.0) * qps)
        if tokens >= 1.0:
            self._tokens[zone] = (tokens - 1.0, now)
            return 0.0
        self._tokens[zone] = (tokens, now)
        return (1.0 - tokens) / qps


# -- eviction ----------------------------------------------------------------------------


def eviction_deadline(
    pod: Obj, taints: Iterable[Mapping[str, Any]], now: float, *, since: float | None = None
) -> float | None:
    """When the pod must go (seconds since the epoch), or None when it may stay.

    The toleration counts from the taints' `timeAdded`; taints without one
    (`kubectl taint` puts none) count from `since`, when the controller first
    saw the pod having to wait, as kube's taint manager keeps the time it
    queued the pod; it must pass the same `since` at every sync or the
    deadline would move on with `now` and never come."""
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or []
                   if isinstance(t, dict)]  # fmt: skip
    used: list[Mapping[str, Any]] = []
    for taint in no_execute:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return now  # an untolerated NoExecute taint: at once
        used += matching
    limits = [max(int(t["tolerationSeconds"]), 0) for t in used
              if t.get("tolerationSeconds") is not None]  # fmt: skip
    if not limits:
        return None  # tolerated forever
    added = [s for s in (_seconds(t.get("timeAdded")) for t in no_execute) if s is not None]
    created = _seconds((pod.get("metadata") or {}).get("creationTimestamp"))
    begun = min(added) if added else (now if since is None else since)
    start = max([begun, *([created] if created is not None else [])])
    return start + min(limits)
