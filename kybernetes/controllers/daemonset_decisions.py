"""What the DaemonSet controller decides, as pure functions (STYLE.md habit 1).

One daemon pod per eligible node, eligibility judged as kube's DaemonSet
controller judges it (`NodeShouldRunDaemonPod`): the template's nodeName,
nodeSelector and required node affinity must fit the node, and every
NoSchedule/NoExecute taint must be tolerated by the template's tolerations
plus the DaemonSet defaults. A pod already on a node whose only untolerated
taints are NoSchedule keeps running there. Since Kubernetes 1.12 the
controller does not bind: it pins the pod with a required node affinity
`matchFields metadata.name In [node]` and leaves binding to the scheduler,
so a pod's node is its nodeName, or else that affinity (GetTargetNodeName).

Updates: RollingUpdate replaces old-template pods (told apart by the
`controller-revision-hash` label) node by node within `maxUnavailable`, or,
with `maxSurge`, starts the new pod beside the old one and deletes the old
one once the new one is available; OnDelete replaces only what users
delete. Time enters as a parameter (`now`), so availability under
`minReadySeconds` is testable without sleeping.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.nodefit import find_untolerated_taint, matches_required_affinity
from kybernetes.api.times import parse_time
from kybernetes.controllers.history import HASH_LABEL, strip_nulls

__all__ = [
    "DEFAULT_TOLERATIONS",
    "GENERATION_LABEL",
    "DaemonPlan",
    "add_daemon_tolerations",
    "daemon_pod",
    "daemonset_status",
    "is_available",
    "is_ready",
    "manage",
    "node_should_run",
    "nodes_to_daemon_pods",
    "rolling_update",
    "seconds_until_available",
    "target_node",
    "template_generation",
    "update_budgets",
]

Obj = dict[str, Any]
GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
NODE_NAME_FIELD = "metadata.name"


def _toleration(key: str, effect: str) -> Obj:
    return {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}


# AddOrUpdateDaemonPodTolerations: daemons survive node problems (no
# tolerationSeconds: never evicted for them) and land on pressured or
# cordoned nodes; host-network daemons also before the network is up.
DEFAULT_TOLERATIONS: tuple[Obj, ...] = (
    _toleration("not-ready", "NoExecute"),
    _toleration("unreachable", "NoExecute"),
    _toleration("disk-pressure", "NoSchedule"),
    _toleration("memory-pressure", "NoSchedule"),
    _toleration("pid-pressure", "NoSchedule"),
    _toleration("unschedulable", "NoSchedule"),
)
HOST_NETWORK_TOLERATION = _toleration("network-unavailable", "NoSchedule")


@dataclass(frozen=True)
class DaemonPlan:
    create: tuple[str, ...] = ()  # node names that get a new daemon pod
    delete: tuple[Obj, ...] = ()  # pods to delete
    failed: tuple[Obj, ...] = ()  # the failed ones among `delete` (a Warning each)


# -- pods and nodes -------------------------------------------------------------------------


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _labels(pod: Obj) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _ready_since(pod: Obj) -> datetime.datetime | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def is_available(pod: Obj, *, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready, and for longer than minReadySeconds (podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = _ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) < now


def seconds_until_available(
    pods: Sequence[Obj], *, min_ready_seconds: int, now: datetime.datetime
) -> float | None:
    """When the next ready-but-not-yet-available pod becomes available (to sync again then)."""
    if min_ready_seconds <= 0:
        return None
    waits = []
    for pod in pods:
        since = _ready_since(pod) if is_ready(pod) else None
        if since is None:
            continue
        left = (since - now).total_seconds() + min_ready_seconds
        if left >= 0:
            waits.append(left + 1)  # Before(): strictly after the deadline
    return min(waits) if waits else None


def _created_key(pod: Obj) -> tuple[int, str, str]:
    """podByCreationTimestampAndPhase: bound pods first, then oldest, then by name."""
    meta = pod.get("metadata") or {}
    bound = 0 if (pod.get("spec") or {}).get("nodeName") else 1
    return bound, str(meta.get("creationTimestamp") or ""), str(meta.get("name", ""))


def target_node(pod: Obj) -> str:
    """The pod's node: nodeName, or else the node its matchFields affinity pins it to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchFields") or []:
            if expr.get("key") == NODE_NAME_FIELD and expr.get("operator") == "In":
                values = expr.get("values") or []
                return str(values[0]) if len(values) == 1 else ""
    return ""


def nodes_to_daemon_pods(pods: Sequence[Obj]) -> dict[str, list[Obj]]:
    """Daemon pods by node; pods pinned nowhere are left out, as in Kubernetes."""
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        node = target_node(pod)
        if node:
            by_node.setdefault(node, []).append(pod)
    return by_node


def add_daemon_tolerations(pod_spec: Obj) -> None:
    """Add (or overwrite the equal ones with) the DaemonSet default tolerations."""
    tolerations: list[Obj] = list(pod_spec.get("tolerations") or [])
    defaults = list(DEFAULT_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        defaults.append(HOST_NETWORK_TOLERATION)
    for default in defaults:
        same = [i for i, t in enumerate(tolerations)
                if (t.get("key"), t.get("operator") or "Equal", t.get("value") or "",
                    t.get("effect") or "") ==
                (default["key"], default["operator"], "", default["effect"])]  # fmt: skip
        if same:
            tolerations[same[0]] = dict(default)
        else:
            tolerations.append(dict(default))
    pod_spec["tolerations"] = tolerations


def _template_spec_with_defaults(ds: Obj) -> Obj:
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    add_daemon_tolerations(spec)
    return spec


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(should a daemon pod run here, may one already here keep running)."""
    return _should_run(node, _template_spec_with_defaults(ds))


def _should_run(node: Obj, pod_spec: Obj) -> tuple[bool, bool]:
    """node_should_run for a template spec that already has the default tolerations."""
    wanted_node = pod_spec.get("nodeName")
    if wanted_node and wanted_node != _name(node):
        return False, False
    if not matches_required_affinity(pod_spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = pod_spec.get("tolerations") or []
    blocking = find_untolerated_taint(
        taints, tolerations, considered=lambda t: t.get("effect") in ("NoSchedule", "NoExecute")
    )
    if blocking is None:
        return True, True
    # A NoSchedule taint keeps new daemon pods away but does not evict running ones.
    evicting = find_untolerated_taint(
        taints, tolerations, considered=lambda t: t.get("effect") == "NoExecute"
    )
    return False, evicting is None


# -- the pod of a node ---------------------------------------------------------------------


def template_generation(ds: Obj, revision: int = 0) -> str:
    """The `pod-template-generation` label value.

    Kubernetes counts template changes in the deprecated annotation; without
    it, the template's revision number counts the same changes (each new or
    returning template is the next revision), and the generation is the last
    resort.
    """
    meta = ds.get("metadata") or {}
    annotation = (meta.get("annotations") or {}).get(TEMPLATE_GENERATION)
    return str(annotation or revision or meta.get("generation") or 1)


def daemon_pod(ds: Obj, node_name: str, *, digest: str, revision: int = 0) -> Obj:
    """A new daemon pod for `node_name`: pinned there by node affinity, not by nodeName."""
    meta = ds["metadata"]
    template = copy.deepcopy(strip_nulls((ds.get("spec") or {}).get("template") or {}))
    pod_meta = template.get("metadata") or {}
    labels = {**(pod_meta.get("labels") or {}), HASH_LABEL: digest,
              GENERATION_LABEL: template_generation(ds, revision)}  # fmt: skip
    pod_meta.update({
        "labels": labels,
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", ""),
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "DaemonSet", "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
        }],
    })  # fmt: skip
    spec = template.get("spec") or {}
    add_daemon_tolerations(spec)
    pin = {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    # The node was already judged eligible: its name replaces the required terms.
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [pin]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


# -- what to do ----------------------------------------------------------------------------


def _scaled(value: Any, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounding up (both DaemonSet budgets do)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)
    return int(value)


def update_budgets(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; both zero would stall, so unavailable is 1."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge"), desired)
    unavailable = _scaled(rolling.get("maxUnavailable", 1), desired)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _allows_surge(ds: Obj) -> bool:
    return update_budgets(ds, 1)[0] > 0


def _min_ready(ds: Obj) -> int:
    return int((ds.get("spec") or {}).get("minReadySeconds") or 0)


def _pods_on_eligible_node(
    ds: Obj, pods: Sequence[Obj], digest: str, now: datetime.datetime
) -> tuple[list[Obj], list[Obj]]:
    """(pods to delete, of which failed) on a node where the daemon keeps running."""
    delete: list[Obj] = []
    failed: list[Obj] = []
    running: list[Obj] = []
    for pod in pods:
        if _deleting(pod):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Failed":
            delete.append(pod)
            failed.append(pod)
        elif phase == "Succeeded":
            delete.append(pod)
        else:
            running.append(pod)
    running.sort(key=_created_key)
    if not _allows_surge(ds):
        return delete + running[1:], failed  # one pod per node: the oldest stays
    # With surge, a node may run one old and one new pod while the new one starts.
    oldest_new = oldest_old = None
    for pod in running:
        if _labels(pod).get(HASH_LABEL) == digest:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        delete.append(pod)
    if (
        oldest_new is not None
        and oldest_old is not None
        and (
            not is_ready(oldest_old)
            or is_available(oldest_new, min_ready_seconds=_min_ready(ds), now=now)
        )
    ):
        delete.append(oldest_old)  # the new pod took over, or the old one serves nobody
    return delete, failed


def manage(
    ds: Obj,
    nodes: Sequence[Obj],
    node_pods: Mapping[str, Sequence[Obj]],
    *,
    digest: str,
    now: datetime.datetime,
) -> DaemonPlan:
    """Daemon pods where they should run, none where they should not (podsShouldBeOnNode)."""
    create: list[str] = []
    delete: list[Obj] = []
    failed: list[Obj] = []
    known = set()
    pod_spec = _template_spec_with_defaults(ds)  # once per sync, not once per node
    for node in sorted(nodes, key=_name):
        name = _name(node)
        known.add(name)
        should_run, keep_running = _should_run(node, pod_spec)
        pods = node_pods.get(name) or []
        if should_run and not pods:
            create.append(name)
        elif keep_running:
            gone, broken = _pods_on_eligible_node(ds, pods, digest, now)
            delete += gone
            failed += broken
        else:
            delete += [p for p in pods if not _deleting(p)]
    # Unscheduled pods pinned to nodes that no longer exist can never run. Bound
    # ones are the pod garbage collector's, as in kube (getUnscheduledPodsWithoutNode).
    for name in sorted(set(node_pods) - known):
        delete += [p for p in node_pods[name]
                   if not _deleting(p) and not (p.get("spec") or {}).get("nodeName")]  # fmt: skip
    return DaemonPlan(create=tuple(create), delete=tuple(delete), failed=tuple(failed))


def _updated(pod: Obj, digest: str) -> bool:
    return _labels(pod).get(HASH_LABEL) == digest


def _new_and_old(pods: Sequence[Obj], digest: str) -> tuple[Obj | None, Obj | None, bool]:
    """findUpdatedPodsOnNode: the node's one new and one old pod; not ok when more."""
    new = old = None
    for pod in pods:
        if _deleting(pod):
            continue
        if _updated(pod, digest):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(
    ds: Obj,
    nodes: Sequence[Obj],
    node_pods: Mapping[str, Sequence[Obj]],
    *,
    digest: str,
    now: datetime.datetime,
) -> DaemonPlan:
    """One step of a RollingUpdate (kube's daemon/update.go rollingUpdate)."""
    pods_by_node = {k: list(v) for k, v in node_pods.items()}
    desired = 0
    pod_spec = _template_spec_with_defaults(ds)
    for node in nodes:
        if _should_run(node, pod_spec)[0]:
            desired += 1
            pods_by_node.setdefault(_name(node), [])
    surge, max_unavailable = update_budgets(ds, desired)
    min_ready = _min_ready(ds)
    if surge == 0:
        unavailable = 0
        replace: list[Obj] = []  # old pods that serve nobody: replaced whatever the budget
        candidates: list[Obj] = []
        for name in sorted(pods_by_node):
            new, old, ok = _new_and_old(pods_by_node[name], digest)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # manage() is still creating or pruning here
            elif new is not None:
                if not is_available(new, min_ready_seconds=min_ready, now=now):
                    unavailable += 1
            elif old is not None:
                if not is_available(old, min_ready_seconds=min_ready, now=now):
                    replace.append(old)
                elif unavailable < max_unavailable:
                    candidates.append(old)
        room = max(0, min(max_unavailable - unavailable, len(candidates)))
        return DaemonPlan(delete=tuple(replace + candidates[:room]))
    surging = 0
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    retire: list[Obj] = []
    for name in sorted(pods_by_node):
        new, old, ok = _new_and_old(pods_by_node[name], digest)
        if not ok:
            surging += 1
        elif old is None:
            continue  # manage() creates what is missing
        elif new is None:
            if not is_available(old, min_ready_seconds=min_ready, now=now):
                allowed.append(name)
            elif surging < surge:
                candidate_nodes.append(name)
        elif not is_available(new, min_ready_seconds=min_ready, now=now):
            surging += 1  # waiting for the new pod
        else:
            retire.append(old)
    room = max(0, min(surge - surging, len(candidate_nodes)))
    return DaemonPlan(create=tuple(allowed + candidate_nodes[:room]), delete=tuple(retire))


def daemonset_status(
    ds: Obj,
    nodes: Sequence[Obj],
    node_pods: Mapping[str, Sequence[Obj]],
    *,
    digest: str,
    now: datetime.datetime,
) -> Obj:
    """The counts `kubectl get ds` and `kubectl rollout status ds` read."""
    desired = current = misscheduled = ready = available = updated = 0
    min_ready = _min_ready(ds)
    pod_spec = _template_spec_with_defaults(ds)
    for node in nodes:
        should_run, _ = _should_run(node, pod_spec)
        pods = sorted(node_pods.get(_name(node)) or [], key=_created_key)
        if not should_run:
            misscheduled += 1 if pods else 0
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = pods[0]  # the oldest speaks for the node
        if is_ready(pod):
            ready += 1
            if is_available(pod, min_ready_seconds=min_ready, now=now):
                available += 1
        if _updated(pod, digest):
            updated += 1
    meta = ds.get("metadata") or {}
    status: Obj = {
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": meta.get("generation", 0),
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    }
    # The controller sets no conditions but keeps those others set (kube's
    # storeDaemonSetStatus writes the counts onto a copy of the status).
    for kept in ("collisionCount", "conditions"):
        value = (ds.get("status") or {}).get(kept)
        if value is not None:
            status[kept] = value
    # omitempty, as Kubernetes serialises the status: zero counts are left out
    # except the four required ones.
    required = {"currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                "numberReady"}  # fmt: skip
    return {k: v for k, v in status.items() if v or k in required}
