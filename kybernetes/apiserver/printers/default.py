"""The tables of kinds that have no printer of their own.

Built-in kinds without a printer (Roles, ClusterRoles, CustomResourceDefinitions)
get kube-apiserver's default table: NAME and CREATED AT, a `date` column whose
cell is the RFC 3339 creation time. kubectl prints that cell raw, so those kinds
really do show a timestamp, not an age.

Custom resources are different: a CRD without additionalPrinterColumns gets an
AGE column, also declared `date`, whose cell the server turns into "5m". That is
the fallback for any kind not in the registry.
"""

from __future__ import annotations

from kybernetes.apiserver.printers.common import NAME, Column, age, created_at

__all__ = ["COLUMNS", "CUSTOM_RESOURCE_COLUMNS"]

_DEFAULT = [
    NAME,
    Column("Created At", created_at, type="date", description="When the object was created."),
]

CUSTOM_RESOURCE_COLUMNS = [
    NAME,
    Column("Age", age, type="date", description="How long ago the object was created."),
]

COLUMNS = {
    ("rbac.authorization.k8s.io", "Role"): _DEFAULT,
    ("rbac.authorization.k8s.io", "ClusterRole"): _DEFAULT,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _DEFAULT,
}
