"""What the StatefulSet controller decides, as pure functions (STYLE.md habit 1).

Pods have identities: `<set>-<ordinal>`, hostname = name, subdomain = the
governing service, labels `statefulset.kubernetes.io/pod-name` and
`apps.kubernetes.io/pod-index`, one PVC per claim template named
`<claim>-<set>-<ordinal>`. One sync step follows kube's
`stateful_set_control.go`:

1. each wanted ordinal, lowest first: a missing pod is created, a failed or
   succeeded one deleted (to be re-created); under OrderedReady
   (`monotonic`) the step stops at the first pod created, terminating, or
   not Running+Ready+available, so pod N starts only after 0..N-1 are ready;
   Parallel goes on;
2. pods beyond `replicas`, highest ordinal first: under OrderedReady one
   deletion per step, and only once the pod before it is gone; Parallel
   deletes them all;
3. RollingUpdate: from the highest ordinal down to `partition`, the first
   pod not at the update revision is deleted (it comes back at the new
   revision), waiting until each replaced pod is healthy. OnDelete stops
   after step 2.

A new pod takes the current revision's template below the partition and
the update revision's at or above it. Time enters as `now` (for
minReadySeconds), so everything is testable without sleeping.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.controllers.daemonset_decisions import is_available, is_ready
from kybernetes.controllers.history import HASH_LABEL, strip_nulls

__all__ = [
    "POD_INDEX_LABEL",
    "POD_NAME_LABEL",
    "StatefulPlan",
    "apply_revision",
    "claim_name",
    "claims_for",
    "claims_to_release",
    "complete_rolling_update",
    "identity_matches",
    "ordinal_of",
    "plan_step",
    "pod_revision",
    "statefulset_status",
    "stateful_pod",
    "with_identity",
]

Obj = dict[str, Any]
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"(.*)-([0-9]+)$")


@dataclass(frozen=True)
class StatefulPlan:
    """The actions of one step, in the order to apply them."""

    create: tuple[Obj, ...] = ()  # new pods, lowest ordinal first
    delete: tuple[Obj, ...] = ()  # pods to delete
    recreate: tuple[Obj, ...] = ()  # the finished (failed/succeeded) pods among `delete`
    update: tuple[Obj, ...] = ()  # pods whose identity is restored (labels, hostname)
    notes: tuple[str, ...] = field(default=(), compare=False)  # why the step stopped


# -- pods ----------------------------------------------------------------------------------


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def ordinal_of(set_name: str, pod: Obj) -> int | None:
    """The ordinal in `<set>-<n>`; None for a pod of another set."""
    match = _ORDINAL.fullmatch(str(_meta(pod).get("name", "")))
    if match is None or match.group(1) != set_name:
        return None
    return int(match.group(2))


def pod_revision(pod: Obj) -> str:
    return str((_meta(pod).get("labels") or {}).get(HASH_LABEL, ""))


def _terminating(pod: Obj) -> bool:
    return bool(_meta(pod).get("deletionTimestamp"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and is_ready(pod)


def _running_and_available(pod: Obj, *, min_ready: int, now: datetime.datetime) -> bool:
    return _phase(pod) == "Running" and is_available(pod, min_ready_seconds=min_ready, now=now)


def _healthy(pod: Obj | None) -> bool:
    return pod is not None and _running_and_ready(pod) and not _terminating(pod)


def _spec(sts: Obj) -> Obj:
    return sts.get("spec") or {}


def _start(sts: Obj) -> int:
    return int((_spec(sts).get("ordinals") or {}).get("start") or 0)


def _partition(sts: Obj) -> int:
    strategy = _spec(sts).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def claim_name(claim: Obj, sts: Obj, *, ordinal: int) -> str:
    return f"{_meta(claim).get('name', '')}-{_meta(sts)['name']}-{ordinal}"


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    """The PVCs of one ordinal, from `volumeClaimTemplates` (created before its pod).

    With `persistentVolumeClaimRetentionPolicy.whenDeleted: Delete` the set
    owns its claims, so the garbage collector removes them with it; the
    default, Retain, leaves them for the next pod of that ordinal.
    """
    spec = _spec(sts)
    meta = _meta(sts)
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    claims = []
    for template in spec.get("volumeClaimTemplates") or []:
        claim = copy.deepcopy(strip_nulls(template))
        claim_meta = claim.setdefault("metadata", {})
        claim_meta["name"] = claim_name(template, sts, ordinal=ordinal)
        claim_meta["namespace"] = meta.get("namespace", "")
        claim_meta["labels"] = {**(claim_meta.get("labels") or {}), **selector_labels}
        if policy.get("whenDeleted") == "Delete":
            claim_meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                              "name": meta["name"], "uid": meta["uid"],
                                              "blockOwnerDeletion": True}]  # fmt: skip
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.pop("status", None)
        claims.append(claim)
    return claims


def claims_to_release(sts: Obj, pod: Obj, *, existing: Mapping[str, Obj]) -> list[Obj]:
    """Claims of a pod condemned by a scale-down that it must own before it goes.

    With `whenScaled: Delete`, each claim of the ordinal gets the pod as an
    owner, so the garbage collector removes the claim once the pod is gone.
    `existing` holds the claims by name; the changed copies are returned.
    """
    policy = _spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    ordinal = ordinal_of(_meta(sts)["name"], pod)
    if policy.get("whenScaled") != "Delete" or ordinal is None:
        return []
    meta = _meta(pod)
    ref = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
    changed = []
    for template in _spec(sts).get("volumeClaimTemplates") or []:
        claim = existing.get(claim_name(template, sts, ordinal=ordinal))
        if claim is None:
            continue
        refs = list(_meta(claim).get("ownerReferences") or [])
        if any(r.get("uid") == meta["uid"] for r in refs):
            continue
        changed.append({**claim, "metadata": {**_meta(claim), "ownerReferences": [*refs, ref]}})
    return changed


def with_identity(sts: Obj, pod: Obj, *, ordinal: int) -> Obj:
    """`pod` with its stable identity and storage (updateIdentity + updateStorage)."""
    pod = copy.deepcopy(pod)
    meta = pod.setdefault("metadata", {})
    name = f"{_meta(sts)['name']}-{ordinal}"
    meta["name"] = name
    meta["namespace"] = _meta(sts).get("namespace", "")
    meta["labels"] = {**(meta.get("labels") or {}), POD_NAME_LABEL: name,
                      POD_INDEX_LABEL: str(ordinal)}  # fmt: skip
    spec = pod.setdefault("spec", {})
    spec["hostname"] = name
    service = _spec(sts).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = {_meta(c).get("name"): c for c in _spec(sts).get("volumeClaimTemplates") or []}
    if claims:
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
        for vol_name, template in claims.items():
            volumes.append({"name": vol_name, "persistentVolumeClaim": {
                "claimName": claim_name(template, sts, ordinal=ordinal)}})  # fmt: skip
        spec["volumes"] = volumes
    return pod


def identity_matches(sts: Obj, pod: Obj, *, ordinal: int) -> bool:
    meta, spec = _meta(pod), pod.get("spec") or {}
    labels = meta.get("labels") or {}
    name = f"{_meta(sts)['name']}-{ordinal}"
    return (
        labels.get(POD_NAME_LABEL) == name
        and labels.get(POD_INDEX_LABEL) == str(ordinal)
        and spec.get("hostname") == name
        and (spec.get("subdomain") or "") == (_spec(sts).get("serviceName") or "")
    )


def stateful_pod(sts: Obj, ordinal: int, *, revision_name: str) -> Obj:
    """The pod of `ordinal` from `sts`'s template (a set with a revision applied)."""
    meta = _meta(sts)
    template = copy.deepcopy(strip_nulls(_spec(sts).get("template") or {}))
    pod_meta = template.get("metadata") or {}
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), HASH_LABEL: revision_name}
    pod_meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                    "name": meta["name"], "uid": meta["uid"],
                                    "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
           "spec": template.get("spec") or {}}  # fmt: skip
    return with_identity(sts, pod, ordinal=ordinal)


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """The set with the revision's template (history.ApplyRevision)."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template"))
    if not isinstance(template, dict):
        return sts
    template.pop("$patch", None)
    return {**sts, "spec": {**_spec(sts), "template": template}}


# -- one step ------------------------------------------------------------------------------


def _versioned_pod(
    sts: Obj, *, current: tuple[Obj, str], update: tuple[Obj, str], ordinal: int
) -> Obj:
    """Below the partition a new pod keeps the current revision; else it takes the update's."""
    strategy = _spec(sts).get("updateStrategy") or {}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    if rolling and ordinal - _start(sts) < _partition(sts):
        return stateful_pod(current[0], ordinal, revision_name=current[1])
    return stateful_pod(update[0], ordinal, revision_name=update[1])


def _split(sts: Obj, pods: Sequence[Obj]) -> tuple[list[Obj | None], list[Obj]]:
    """(pods by wanted index, with None where missing; condemned pods, highest first)."""
    start, count = _start(sts), int(_spec(sts).get("replicas", 1))
    name = _meta(sts)["name"]
    replicas: list[Obj | None] = [None] * count
    condemned = []
    for pod in pods:
        ordinal = ordinal_of(name, pod)
        if ordinal is None:
            continue
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        else:
            condemned.append(pod)
    condemned.sort(key=lambda p: ordinal_of(name, p) or 0, reverse=True)
    return replicas, condemned


def plan_step(
    sts: Obj,
    pods: Sequence[Obj],
    *,
    current: tuple[Obj, str],
    update: tuple[Obj, str],
    now: datetime.datetime,
) -> StatefulPlan:
    """One step toward `replicas` pods at the right revisions.

    `current` and `update` are (the set with that revision's template applied,
    the revision's name).
    """
    if _meta(sts).get("deletionTimestamp"):
        return StatefulPlan()
    spec = _spec(sts)
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    min_ready = int(spec.get("minReadySeconds") or 0)
    start = _start(sts)
    replicas, condemned = _split(sts, pods)
    create: list[Obj] = []
    delete: list[Obj] = []
    recreate: list[Obj] = []
    update_identity: list[Obj] = []

    def plan(note: str = "") -> StatefulPlan:
        return StatefulPlan(tuple(create), tuple(delete), tuple(recreate),
                            tuple(update_identity), (note,) if note else ())  # fmt: skip

    unhealthy = [p for p in replicas if not _healthy(p)]
    unhealthy += [p for p in reversed(condemned) if not _healthy(p)]
    first_unhealthy = unhealthy[0] if unhealthy else None

    for index, pod in enumerate(replicas):
        ordinal = index + start
        if pod is None:
            create.append(_versioned_pod(sts, current=current, update=update, ordinal=ordinal))
            if monotonic:
                return plan(f"waiting for {create[-1]['metadata']['name']} to be created")
            continue
        name = _meta(pod)["name"]
        if _phase(pod) in ("Failed", "Succeeded"):
            if not _terminating(pod):
                delete.append(pod)
                recreate.append(pod)
            if monotonic:
                return plan(f"recreating {name}")
            continue
        if monotonic and _terminating(pod):
            return plan(f"waiting for {name} to terminate")
        if monotonic and not _running_and_ready(pod):
            return plan(f"waiting for {name} to be Running and Ready")
        if monotonic and not _running_and_available(pod, min_ready=min_ready, now=now):
            return plan(f"waiting for {name} to be available")
        if not identity_matches(sts, pod, ordinal=ordinal):
            update_identity.append(with_identity(sts, pod, ordinal=ordinal))

    for pod in condemned:
        name = _meta(pod)["name"]
        if _terminating(pod):
            if monotonic:
                return plan(f"waiting for {name} to terminate")
            continue
        if (
            monotonic
            and pod is not first_unhealthy
            and (
                not _running_and_ready(pod)
                or not _running_and_available(pod, min_ready=min_ready, now=now)
            )
        ):
            return plan(f"waiting for {name} to be Running and Ready before scaling down")
        delete.append(pod)
        if monotonic:
            return plan(f"scaling down {name}")

    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "OnDelete":
        return plan()
    # The partition counts pods from the first ordinal (kube compares indexes here).
    for target in range(len(replicas) - 1, _partition(sts) - 1, -1):
        pod = replicas[target]
        if pod is None or pod in delete:
            return plan()
        if pod_revision(pod) != update[1] and not _terminating(pod):
            delete.append(pod)
            return plan(f"updating {_meta(pod)['name']}")
        if not _healthy(pod):
            return plan(f"waiting for {_meta(pod)['name']} to update")
    return plan()


# -- status --------------------------------------------------------------------------------


def statefulset_status(
    sts: Obj,
    pods: Sequence[Obj],
    *,
    current_revision: str,
    update_revision: str,
    now: datetime.datetime,
) -> Obj:
    """The status `kubectl get sts` and `kubectl rollout status sts` read."""
    spec = _spec(sts)
    min_ready = int(spec.get("minReadySeconds") or 0)
    name = _meta(sts)["name"]
    replicas = ready = available = current = updated = 0
    for pod in pods:
        if ordinal_of(name, pod) is None:
            continue
        replicas += 1
        if _running_and_ready(pod):
            ready += 1
            if _running_and_available(pod, min_ready=min_ready, now=now):
                available += 1
        if not _terminating(pod):
            revision = pod_revision(pod)
            current += revision == current_revision
            updated += revision == update_revision
    status: Obj = {
        "observedGeneration": _meta(sts).get("generation", 0),
        "replicas": replicas,
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0),
        "availableReplicas": available,
    }
    status = complete_rolling_update(sts, status)
    # omitempty: zero counts are not serialised (replicas and availableReplicas always are).
    return {k: v for k, v in status.items()
            if v or k in ("replicas", "availableReplicas", "collisionCount")}  # fmt: skip


def complete_rolling_update(sts: Obj, status: Obj) -> Obj:
    """Once every pod is updated and ready, the update revision becomes the current one."""
    strategy = _spec(sts).get("updateStrategy") or {}
    if (
        strategy.get("type", "RollingUpdate") == "RollingUpdate"
        and status["updatedReplicas"] == status["replicas"]
        and status["readyReplicas"] == status["replicas"]
    ):
        return {**status, "currentReplicas": status["updatedReplicas"],
                "currentRevision": status["updateRevision"]}  # fmt: skip
    return status
