"""Table rows kept between LISTs: `kubectl get pods` prints rows, not objects.

A Table LIST of 10,000 pods spent most of its time decoding objects and
computing their cells, though few of them change between two `kubectl get`s.
A row depends on its object alone (the ages are filled in per request,
tables.py), so it is kept by the object's key and revision, and by the
columns it was made with (a CRD's printer columns can change). The cache
holds the rows' JSON only, within a byte budget: past it, it starts afresh
(rows of objects long gone go too).
"""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.apiserver.storage import decode
from kybernetes.apiserver.tables import Column, RowParts, row_parts
from kybernetes.store.types import KeyValue

__all__ = ["RowCache"]

BUDGET_BYTES = 64 * 1024 * 1024


class RowCache:
    def __init__(self, budget: int = BUDGET_BYTES) -> None:
        self.budget = budget
        self.size = 0  # bytes of JSON held
        self._rows: dict[str, tuple[int, Sequence[Column], RowParts, int]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, kv: KeyValue, *, key: tuple[str, str], columns: Sequence[Column]) -> RowParts:
        """The row of the object `kv` holds, made once per revision."""
        kept = self._rows.get(kv.key)
        if kept is not None and kept[0] == kv.mod_revision and kept[1] is columns:
            return kept[2]
        parts = row_parts(decode(kv), key=key, columns=columns)
        size = sum(len(p) for p in parts if isinstance(p, bytes))
        if kept is not None:
            self.size -= kept[3]
        if self.size + size > self.budget:
            self._rows.clear()
            self.size = 0
        self._rows[kv.key] = (kv.mod_revision, columns, parts, size)
        self.size += size
        return parts
