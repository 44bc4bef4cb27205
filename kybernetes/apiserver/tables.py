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
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers import (
    CUSTOM_RESOURCE_COLUMNS,
    REGISTRY,
    ROW_CONDITIONS,
    VERSIONED_COLUMNS,
)
from kybernetes.apiserver.printers.common import Column, Since, human_duration

__all__ = [
    "INCLUDE_OBJECT",
    "Column",
    "RowParts",
    "columns_for",
    "human_duration",
    "render_row",
    "row_parts",
    "table",
    "table_json",
    "table_row_object",
]

Now = datetime.datetime
# What a row carries as its object (the `includeObject` parameter): nothing, the
# object's metadata (the default), or the whole object (kubectl's --sort-by sorts
# on it).
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def columns_for(group: str, kind: str, version: str = "") -> Sequence[Column]:
    """The kind's columns; kinds without a printer are custom resources (NAME, AGE)."""
    versioned = VERSIONED_COLUMNS.get((group, kind, version)) if version else None
    if versioned is None and not version:  # no object to tell: any served version's
        versioned = next((c for (g, k, _), c in VERSIONED_COLUMNS.items()
                          if (g, k) == (group, kind)), None)  # fmt: skip
    return versioned or REGISTRY.get((group, kind), CUSTOM_RESOURCE_COLUMNS)


def table_row_object(obj: Obj, include: str = "Metadata") -> Obj | None:
    """The object a row carries: by default its PartialObjectMetadata (what -A and
    --show-labels read), the object itself for `Object`, none for `None`."""
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _rendered(value: Any, now: Now) -> Any:
    return value.render(now) if isinstance(value, Since) else value


def _row(
    obj: Obj, *, key: tuple[str, str], columns: Sequence[Column], now: Now, include: str
) -> Obj:
    cells = [_rendered(c.cell(obj), now) for c in columns]
    return {"cells": cells, **_row_rest(obj, key, include)}


def _row_rest(obj: Obj, key: tuple[str, str], include: str) -> Obj:
    """What a row carries after its cells: its conditions (if any), its object
    (as `include` asks)."""
    rest: Obj = {}
    conditions = ROW_CONDITIONS.get(key)
    if conditions is not None and (found := conditions(obj)):
        rest["conditions"] = found
    row_object = table_row_object(obj, include)
    if row_object is not None:
        rest["object"] = row_object
    return rest


def table(
    group: str,
    kind: str,
    objects: Sequence[Obj],
    *,
    now: Now | None = None,
    list_meta: Obj | None = None,
    include_columns: bool = True,
    version: str = "",
    include_object: str = "Metadata",
) -> Obj:
    moment = now or datetime.datetime.now(datetime.UTC)
    columns = columns_for(group, kind, version)
    key = (group, kind)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [c.definition() for c in columns] if include_columns else [],
        "rows": [
            _row(o, key=key, columns=columns, now=moment, include=include_object) for o in objects
        ],
    }


# A row's JSON in pieces: bytes, and the cells that read the clock, rendered per request.
RowParts = tuple[bytes | Since, ...]


def row_parts(
    obj: Obj, *, key: tuple[str, str], columns: Sequence[Column], include: str = "Metadata"
) -> RowParts:
    """The JSON of `obj`'s row (as `table` makes it) with its clock cells left open.

    A row depends on its object alone, so it can be kept for as long as the
    object does not change (table_rows.py); `render_row` fills in the ages.
    """
    parts: list[bytes | Since] = []
    text = [b'{"cells":[']
    for i, column in enumerate(columns):
        if i:
            text.append(b",")
        value = column.cell(obj)
        if isinstance(value, Since):
            parts += (b"".join(text), value)
            text = []
        else:
            text.append(orjson.dumps(value))
    # The rest of the row's object, without its "{".
    rest = orjson.dumps(_row_rest(obj, key, include))
    text.append(b"]}" if rest == b"{}" else b"]," + rest[1:])
    parts.append(b"".join(text))
    return tuple(parts)


def render_row(parts: RowParts, now: Now) -> bytes:
    if len(parts) == 1 and isinstance(whole := parts[0], bytes):
        return whole
    return b"".join(p if isinstance(p, bytes) else orjson.dumps(p.render(now)) for p in parts)


def table_json(
    group: str, kind: str, rows: Iterable[bytes], *, list_meta: Obj, version: str = ""
) -> bytes:
    """A Table of rows already rendered (`render_row`), as `orjson.dumps(table(...))`."""
    head = orjson.dumps(table(group, kind, [], list_meta=list_meta, version=version))
    return b"".join((head[:-2], b",".join(rows), b"]}"))  # head ends with `[]}`
