"""Columns of the kinds that police a namespace: ResourceQuota, LimitRange,
PodDisruptionBudget (as kube-apiserver 1.32 prints them).

A quota's REQUEST and LIMIT cells list `resource: used/hard` in resource
order, the `limits.*` resources in LIMIT and every other one in REQUEST.
"""

from __future__ import annotations

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import AGE, NAME, Column, created_at, get
from kybernetes.apiserver.printers.quantity import canonical_quantity

__all__ = ["COLUMNS"]


def _quota_cell(limits: bool) -> Column:
    def cell(obj: Obj) -> str:
        hard = get(obj, "status", "hard", default={}) or {}
        used = get(obj, "status", "used", default={}) or {}
        parts = []
        for name in sorted(hard):
            if name.startswith("limits.") == limits:
                used_text = canonical_quantity(used[name]) if name in used else "0"
                parts.append(f"{name}: {used_text}/{canonical_quantity(hard[name])}")
        return ", ".join(parts)

    if limits:
        return Column("Limit", cell, description="Limits of the quota: used/hard.")
    return Column("Request", cell, description="Requests and counts of the quota: used/hard.")


def _int_or_percent(field: str) -> Column:
    def cell(obj: Obj) -> str:
        value = get(obj, "spec", field, default=None)
        return "N/A" if value is None else str(value)

    title = "Min Available" if field == "minAvailable" else "Max Unavailable"
    return Column(title, cell, description=f"The budget's {field}.")


COLUMNS = {
    ("", "ResourceQuota"): [NAME, AGE, _quota_cell(False), _quota_cell(True)],
    ("", "LimitRange"): [
        NAME,
        Column("Created At", created_at, type="date",
               description="When the LimitRange was created."),
    ],
    ("policy", "PodDisruptionBudget"): [
        NAME, _int_or_percent("minAvailable"), _int_or_percent("maxUnavailable"),
        Column("Allowed Disruptions", lambda o: int(get(o, "status", "disruptionsAllowed",
                                                            default=0)),
               type="integer", description="How many pods may be disrupted now."),
        AGE,
    ],
}  # fmt: skip
