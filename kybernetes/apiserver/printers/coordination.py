"""Columns of coordination.k8s.io/v1 Leases: who holds the lease."""

from __future__ import annotations

from kybernetes.apiserver.printers.common import AGE, NAME, Column, get

__all__ = ["COLUMNS"]

COLUMNS = {
    ("coordination.k8s.io", "Lease"): [
        NAME,
        Column("Holder", lambda o: str(get(o, "spec", "holderIdentity", default="")),
               description="The identity holding the lease."),
        AGE,
    ],
}  # fmt: skip
