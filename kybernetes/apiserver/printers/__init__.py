"""Per-kind printers: the columns kube-apiserver 1.32 shows for each built-in kind.

One module per API group (pods and events have their own), each exporting
`COLUMNS`, a dict from (group, kind) to its columns; `REGISTRY` merges them.
Adding a kind's table is one entry in its group's module. `tables.py` builds
the Table from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers import (
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    default,
    events,
    networking,
    pods,
    policy,
    rbac,
    scheduling,
)
from kybernetes.apiserver.printers.common import Column

__all__ = ["CUSTOM_RESOURCE_COLUMNS", "REGISTRY", "ROW_CONDITIONS", "VERSIONED_COLUMNS", "Column"]

CUSTOM_RESOURCE_COLUMNS = default.CUSTOM_RESOURCE_COLUMNS


def _merge(
    *tables: Mapping[tuple[str, str], Sequence[Column]],
) -> dict[tuple[str, str], Sequence[Column]]:
    merged: dict[tuple[str, str], Sequence[Column]] = {}
    for table in tables:
        for key, columns in table.items():
            if key in merged:
                raise ValueError(f"two printers for {key}")
            merged[key] = columns
    return merged


REGISTRY = _merge(
    core.COLUMNS,
    pods.COLUMNS,
    events.COLUMNS,
    apps.COLUMNS,
    autoscaling.COLUMNS,
    batch.COLUMNS,
    certificates.COLUMNS,
    networking.COLUMNS,
    coordination.COLUMNS,
    rbac.COLUMNS,
    scheduling.COLUMNS,
    policy.COLUMNS,
    default.COLUMNS,
)

# Row conditions some kinds attach to a row (only finished pods do in Kubernetes).
ROW_CONDITIONS: dict[tuple[str, str], Callable[[Obj], list[Obj]]] = {
    ("", "Pod"): pods.pod_row_conditions,
}

# Columns of kinds added at run time (custom resources), per served version.
VERSIONED_COLUMNS: dict[tuple[str, str, str], list[Column]] = {}
