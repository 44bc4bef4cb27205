"""Columns of rbac.authorization.k8s.io/v1 bindings.

Roles and ClusterRoles have no printer of their own in Kubernetes; they get
the default table (see `default.py`), which is why `kubectl get roles` shows
CREATED AT where every other kind shows AGE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import AGE, NAME, Column

__all__ = ["COLUMNS"]


def _role_ref(binding: Obj) -> str:
    ref = binding.get("roleRef") or {}
    return f"{ref.get('kind') or ''}/{ref.get('name') or ''}"


def _subjects(kind: str) -> Any:
    """Names of one kind of subject, ", "-joined; service accounts as namespace/name."""

    def cell(binding: Obj) -> str:
        names = []
        for subject in binding.get("subjects") or []:
            if not isinstance(subject, Mapping) or subject.get("kind") != kind:
                continue
            name = str(subject.get("name") or "")
            if kind == "ServiceAccount":
                name = f"{subject.get('namespace') or ''}/{name}"
            names.append(name)
        return ", ".join(names)

    return cell


def _binding_columns() -> list[Column]:
    return [
        NAME,
        Column("Role", _role_ref, description="The bound role, as Kind/name."),
        AGE,
        Column("Users", _subjects("User"), priority=1, description="Users in the binding."),
        Column("Groups", _subjects("Group"), priority=1, description="Groups in the binding."),
        Column("ServiceAccounts", _subjects("ServiceAccount"), priority=1,
               description="Service accounts in the binding."),
    ]  # fmt: skip


COLUMNS = {
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding_columns(),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding_columns(),
}
