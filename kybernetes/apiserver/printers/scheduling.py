"""Columns of scheduling.k8s.io/v1 PriorityClasses, as kube-apiserver 1.32 prints them."""

from __future__ import annotations

from kybernetes.apiserver.printers.common import AGE, NAME, Column, get

__all__ = ["COLUMNS"]

COLUMNS = {
    ("scheduling.k8s.io", "PriorityClass"): [
        NAME,
        Column("Value", lambda o: int(get(o, "value", default=0) or 0), type="integer",
               description="value represents the integer value of this priority class."),
        Column("Global-Default", lambda o: bool(get(o, "globalDefault", default=False)),
               type="boolean", description="globalDefault specifies whether this PriorityClass "
               "should be considered as the default priority for pods that do not have any "
               "priority class."),
        AGE,
        Column("PreemptionPolicy", lambda o: str(get(o, "preemptionPolicy", default="")),
               description="preemptionPolicy is the Policy for preempting pods with lower "
               "priority."),
    ],
}  # fmt: skip
