"""Index functions that controllers share on shared informers (by name)."""

from __future__ import annotations

from typing import Any

from kybernetes.client.informer import namespace_index

__all__ = ["BY_CONTROLLER", "BY_NAMESPACE", "BY_NODE", "BY_OWNER", "BY_UID", "controller_uid",
           "namespace", "node_name", "owner_uids", "uid"]  # fmt: skip

Obj = dict[str, Any]

BY_CONTROLLER = "controller-uid"
BY_OWNER = "owner-uid"
BY_NODE = "node-name"
BY_UID = "uid"
BY_NAMESPACE = "namespace"


def controller_uid(obj: Obj) -> list[str]:
    """The uid of the object's managing controller (`controller: true`)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if r.get("controller") and r.get("uid")]


def owner_uids(obj: Obj) -> list[str]:
    """The uid of every owner, controller or not (what the garbage collector follows)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if r.get("uid")]


def node_name(obj: Obj) -> list[str]:
    """`spec.nodeName` of a pod; unscheduled pods are filed under ""."""
    return [str((obj.get("spec") or {}).get("nodeName") or "")]


def uid(obj: Obj) -> list[str]:
    return [str((obj.get("metadata") or {}).get("uid", ""))]


# One function object per index name: a shared informer refuses a second,
# different function under a name it already has.
namespace = namespace_index
