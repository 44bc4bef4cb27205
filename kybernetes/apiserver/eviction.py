"""`pods/NAME/eviction`: a delete that honours PodDisruptionBudgets.

kube-apiserver's EvictionREST, in short: a POST of a policy/v1 `Eviction`
deletes the pod (gracefully, with the Eviction's deleteOptions) unless
the one budget whose selector matches it allows no disruption now, which
is a 429 `TooManyRequests` (kubectl drain retries on it). An allowed
eviction first spends a disruption: `status.disruptionsAllowed` goes down
by one and the pod is recorded in `status.disruptedPods`, in one
compare-and-swap write on the budget's resourceVersion, so two evictions
racing for the last allowed disruption cannot both win (the loser re-reads
and is judged again). A budget the controller has not processed since its
last change (observedGeneration behind) refuses too. Pods that are not
running (Pending, finished) or already being deleted need no budget, and
an unready pod may go while the budget is otherwise met.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.disruption import with_condition
from kybernetes.api.selectors import SelectorError, label_selector_from_object
from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, now_rfc3339
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.rest import DeleteOptions, Rest

__all__ = ["evict"]

RETRIES = 5
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def _too_many_requests(cause: str) -> errors.ApiError:
    return errors.ApiError(429, "TooManyRequests", REFUSED,
                           causes=[Cause("", "DisruptionBudget", cause)])  # fmt: skip


def _delete_options(body: Obj) -> DeleteOptions:
    raw = body.get("deleteOptions") or {}
    preconditions = raw.get("preconditions") or {}
    grace = raw.get("gracePeriodSeconds")
    return DeleteOptions(
        grace_period_seconds=grace if isinstance(grace, int) else None,
        propagation_policy=raw.get("propagationPolicy") or "",
        precondition_uid=preconditions.get("uid") or "",
        precondition_resource_version=preconditions.get("resourceVersion") or "",
        dry_run=bool(raw.get("dryRun")),
    )


def _ignores_budgets(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or bool(
        (pod.get("metadata") or {}).get("deletionTimestamp")
    )


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


def _matching_budgets(budgets: list[Obj], pod: Obj) -> list[Obj]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    found = []
    for pdb in budgets:
        raw = (pdb.get("spec") or {}).get("selector")
        if raw is None:
            continue
        try:
            if label_selector_from_object(raw).matches(labels):
                found.append(pdb)
        except SelectorError:
            continue
    return found


async def evict(rest: Rest, pods: ResourceType, *, namespace: str, name: str, body: Any) -> Obj:
    """Evict the pod; the Success Status kube-apiserver answers with, or a 429."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be an Eviction object")
    meta = body.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = _delete_options(body)
    budgets_rt = rest.registry.lookup("policy", "v1", "poddisruptionbudgets")
    for attempt in range(RETRIES):
        pod = await rest.storage.get(pods, namespace, name)
        if not _ignores_budgets(pod) and budgets_rt is not None:
            page = await rest.storage.list(budgets_rt, namespace, accept=lambda _: True, limit=0,
                                           continue_token=None, revision=0)  # fmt: skip
            budgets = _matching_budgets(page.items, pod)
            if len(budgets) > 1:
                raise errors.internal("This pod has more than one PodDisruptionBudget, which the "
                                      "eviction subresource does not support.")  # fmt: skip
            if budgets:
                try:
                    await _spend(rest, budgets_rt, budgets[0], pod, dry_run=options.dry_run)
                except errors.ApiError as err:
                    if err.reason == "Conflict" and attempt + 1 < RETRIES:
                        continue  # another eviction spent from it meanwhile: judge again
                    raise
        if not options.dry_run and not options.precondition_resource_version:
            await _mark_disruption_target(rest, pods, pod)
        await rest.delete(pods, namespace, name, options)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}  # fmt: skip
    raise AssertionError("unreachable")


async def _spend(rest: Rest, rt: ResourceType, pdb: Obj, pod: Obj, *, dry_run: bool) -> None:
    """Take one allowed disruption from the budget (CAS), or refuse with 429."""
    status = pdb.get("status") or {}
    pdb_name = pdb["metadata"]["name"]
    generation = int(pdb["metadata"].get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        raise _too_many_requests(
            f"The disruption budget {pdb_name} is still being processed by the server."
        )
    healthy, desired = (
        int(status.get("currentHealthy") or 0),
        int(status.get("desiredHealthy") or 0),
    )
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
    if not _ready(pod) and (policy == "AlwaysAllow" or healthy >= desired > 0):
        return  # an unready pod of a budget that is met anyway: nothing to spend
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.forbidden("pdb disruptions allowed is negative")
    if allowed == 0:
        raise _too_many_requests(
            f"The disruption budget {pdb_name} needs {desired} healthy pods and has "
            f"{healthy} currently"
        )
    if dry_run:
        return
    new = copy.deepcopy(pdb)
    spent = {**status, "disruptionsAllowed": allowed - 1}
    spent["disruptedPods"] = {
        **(status.get("disruptedPods") or {}),
        pod["metadata"]["name"]: now_rfc3339(),
    }
    new["status"] = with_condition(spent, generation=generation, now=now_rfc3339())
    await rest.storage.update(rt, new, int(pdb["metadata"]["resourceVersion"]))


async def _mark_disruption_target(rest: Rest, rt: ResourceType, pod: Obj) -> None:
    """The pod learns why it goes: condition DisruptionTarget (EvictionByEvictionAPI)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return
    for _ in range(RETRIES):
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                      if isinstance(c, dict) and c.get("type") != "DisruptionTarget"]  # fmt: skip
        new = copy.deepcopy(pod)
        new.setdefault("status", {})["conditions"] = [*conditions, {
            "type": "DisruptionTarget", "status": "True", "lastTransitionTime": now_rfc3339(),
            "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
        }]  # fmt: skip
        try:
            await rest.storage.update(rt, new, int(pod["metadata"]["resourceVersion"]))
            return
        except errors.ApiError as err:
            if err.reason != "Conflict":
                raise
        meta = pod["metadata"]
        pod = await rest.storage.get(rt, meta.get("namespace", ""), meta["name"])
