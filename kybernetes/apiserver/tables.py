"""Server-side printing: the `meta.k8s.io/v1 Table` kubectl shows for `get`.

kubectl prints the cells as they come, so ages ("5m", "3h") and every
derived column are computed here, per kind, with the columns
kube-apiserver 1.32 shows (priority 1 = only with `-o wide`). The per-kind
columns live in `printers/`; this module assembles the Table.

Like the real server, every row carries every column, wide ones included:
kubectl, not the server, hides priority-1 columns. Each row also carries the
object's metadata, which `-A` and `--show-labels` read.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers import (
    CUSTOM_RESOURCE_COLUMNS,
    REGISTRY,
    ROW_CONDITIONS,
    VERSIONED_COLUMNS,
)
from kybernetes.apiserver.printers.common import Column, human_duration

__all__ = ["Column", "columns_for", "human_duration", "table", "table_row_object"]

Now = datetime.datetime


def columns_for(group: str, kind: str, version: str = "") -> Sequence[Column]:
    """The kind's columns; kinds without a printer are custom resources (NAME, AGE)."""
    versioned = VERSIONED_COLUMNS.get((group, kind, version)) if version else None
    if versioned is None and not version:  # no object to tell: any served version's
        versioned = next((c for (g, k, _), c in VERSIONED_COLUMNS.items()
                          if (g, k) == (group, kind)), None)  # fmt: skip
    return versioned or REGISTRY.get((group, kind), CUSTOM_RESOURCE_COLUMNS)


def table_row_object(obj: Obj) -> Obj:
    """The PartialObjectMetadata a row carries (what -A and --show-labels read)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _row(obj: Obj, *, key: tuple[str, str], columns: Sequence[Column], now: Now) -> Obj:
    row: Obj = {"cells": [c.cell(obj, now) for c in columns]}
    conditions = ROW_CONDITIONS.get(key)
    if conditions is not None and (found := conditions(obj)):
        row["conditions"] = found
    row["object"] = table_row_object(obj)
    return row


def table(
    group: str,
    kind: str,
    objects: Sequence[Obj],
    *,
    now: Now | None = None,
    list_meta: Obj | None = None,
    include_columns: bool = True,
    version: str = "",
) -> Obj:
    moment = now or datetime.datetime.now(datetime.UTC)
    columns = columns_for(group, kind, version)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [c.definition() for c in columns] if include_columns else [],
        "rows": [_row(obj, key=(group, kind), columns=columns, now=moment) for obj in objects],
    }
