"""ResourceQuota in the API server: the kind's strategy and quota admission.

Admission charges a create against every quota of its namespace before the
object is stored, as kube-apiserver's ResourceQuota plugin does: each quota
that constrains the object either refuses it (403, worded as Kubernetes
words it) or gets its `status.used` raised by the object's cost. The raise
is a compare-and-swap on the quota's resourceVersion, so two concurrent
creates can never both take the last unit: the loser re-reads the quota
and is judged again. Usage goes down only through the resource quota
controller, which recomputes `status.used` from what exists (a create
that fails after being charged is corrected the same way).

The pricing itself (what an object costs, scopes) is `kybernetes.api.resourcequota`,
shared with that controller.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.api.resourcequota import Refusal, evaluate, format_usage
from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.storage import ObjectStorage
from kybernetes.apiserver.strategy import Strategy

__all__ = ["ResourceQuotaStrategy", "charge_quota"]

CHARGE_RETRIES = 10
# Kinds whose update can cost more (a Service's type, a claim's size); a pod's
# resources cannot change, so its updates (a kubelet's status) are never judged.
UPDATES_COST = {("", "services"), ("", "persistentvolumeclaims")}
_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
           "CrossNamespacePodAffinity")  # fmt: skip


def forbidden(rt: ResourceType, obj: Obj, message: str) -> errors.ApiError:
    """admission.NewForbidden's wording: `<resource> "<name>" is forbidden: <why>`."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or ""
    qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return errors.ApiError(
        403, "Forbidden", f'{qualified} "{name}" is forbidden: {message}',
        kind=rt.plural, name=name, group=rt.group,
    )  # fmt: skip


async def charge_quota(
    storage: ObjectStorage,
    registry: ResourceRegistry,
    rt: ResourceType,
    obj: Obj,
    *,
    old: Obj | None = None,
    dry_run: bool = False,
) -> None:
    """Refuse `obj` (403) or raise every constraining quota's usage by its cost
    (a dry run is judged the same and charges nothing). With `old`, an
    update: only the kinds whose updates can cost more are judged."""
    quotas_rt = registry.lookup("", "v1", "resourcequotas")
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if quotas_rt is None or not rt.namespaced or not namespace:
        return
    if old is not None and (rt.group, rt.plural) not in UPDATES_COST:
        return
    charged: set[str] = set()  # quotas already raised: a retry must not charge them twice
    for attempt in range(CHARGE_RETRIES):
        # The lister's view first; after a conflict, the store's (the cache may lag).
        if attempt == 0:
            quotas = await storage.cached_list(quotas_rt, namespace)
        else:
            quotas = (await storage.list(quotas_rt, namespace, accept=lambda _: True, limit=0,
                                         continue_token=None, revision=0)).items  # fmt: skip
        writes: list[tuple[Obj, dict[str, Any]]] = []
        for quota in quotas:
            if quota["metadata"]["name"] in charged:
                continue
            result = evaluate(quota, group=rt.group, plural=rt.plural, obj=obj, old=old)
            if isinstance(result, Refusal):
                raise forbidden(rt, obj, result.message)
            if result is not None:
                writes.append((quota, format_usage(result)))
        if dry_run or not writes:
            return
        if old is None and not charged:
            await _refuse_existing(storage, rt, obj)
        try:
            for quota, used in writes:
                new = copy.deepcopy(quota)
                new.setdefault("status", {})["used"] = {**new["status"].get("used", {}), **used}
                await storage.update(quotas_rt, new, int(quota["metadata"]["resourceVersion"]))
                charged.add(quota["metadata"]["name"])
        except errors.ApiError as err:
            if err.reason not in ("Conflict", "NotFound"):
                raise
            continue  # another write moved (or deleted) the quota: judge again
        return
    raise errors.conflict(
        "resourcequotas", namespace, "the quota is updated too often; please try again"
    )


async def _refuse_existing(storage: ObjectStorage, rt: ResourceType, obj: Obj) -> None:
    """AlreadyExists before charging: a create repeated by mistake must not
    leave a charge behind (only the controller's next recompute would undo it)."""
    meta = obj.get("metadata") or {}
    try:
        await storage.get_kv(rt, meta.get("namespace", ""), meta.get("name", ""))
    except errors.ApiError as err:
        if err.code == 404:
            return
        raise
    raise errors.already_exists(rt.plural, meta.get("name", ""), rt.group)


class ResourceQuotaStrategy(Strategy):
    """Status belongs to the quota controller (and admission): a create starts without it."""

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        for name, value in (spec.get("hard") or {}).items():
            path = f"spec.hard[{name}]"
            try:
                amount = parse_quantity(value)
            except ValueError as err:
                causes.append(Cause(path, "FieldValueInvalid", f'Invalid value: "{value}": {err}'))
                continue
            if amount < 0:
                causes.append(Cause(path, "FieldValueInvalid",
                                    f'Invalid value: "{value}": must be greater than or '
                                    "equal to 0"))  # fmt: skip
        for i, scope in enumerate(spec.get("scopes") or []):
            if scope not in _SCOPES:
                causes.append(Cause(f"spec.scopes[{i}]", "FieldValueNotSupported",
                                    f'Unsupported value: "{scope}"'))  # fmt: skip
        return causes
