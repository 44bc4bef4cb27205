"""Adopting orphan pods and releasing strays: the writes around `ownership.claim`.

`ownership` decides (kube's ControllerRefManager, pure); this module does
the patches for the DaemonSet and StatefulSet controllers (their pods) and
the Deployment controller (its ReplicaSets). Two details kube
has too: an owner adopts only after a fresh read shows it is not being
deleted (canAdopt), and a patch carries the resourceVersion the decision
saw as well as the pod's uid, so it never lands on a pod that changed or
was replaced meanwhile. Orphans are found through an informer index of
controller-less objects by namespace, so a sync does not scan every pod of
the namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.api.selectors import LabelSelector
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.ownership import adopt_patch, claim, release_patch

__all__ = ["ORPHANS", "claim_pods", "orphan_namespace"]

Obj = dict[str, Any]
ORPHANS = "orphans-by-namespace"  # the informer index of objects without a controller
STRATEGIC = "application/strategic-merge-patch+json"


def orphan_namespace(obj: Obj) -> list[str]:
    """Index function: the namespace of an object no controller owns."""
    meta = obj.get("metadata") or {}
    if any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
        return []
    return [str(meta.get("namespace", ""))]


async def _patch(
    client: ApiClient, pod: Obj, patch: Obj, *, resource: tuple[str, str, str]
) -> Obj | None:
    meta = pod["metadata"]
    patch["metadata"]["resourceVersion"] = meta["resourceVersion"]
    group, version, plural = resource
    path = resource_path(group, version, plural, meta.get("namespace", ""), meta["name"])
    try:
        patched: Obj = await client.patch(path, patch, content_type=STRATEGIC)
    except ApiStatusError as err:
        if err.code in (404, 409, 422):
            return None  # gone, or not the pod we judged: the next sync looks again
        raise
    return patched


async def _can_adopt(client: ApiClient, owner: Obj, *, plural: str) -> bool:
    """Adopt only for an owner that is not being deleted, read fresh (kube's canAdopt)."""
    meta = owner["metadata"]
    path = resource_path("apps", "v1", plural, meta.get("namespace", ""), meta["name"])
    try:
        fresh = await client.get(path)
    except ApiStatusError as err:
        if err.code == 404:
            return False
        raise
    fresh_meta = fresh.get("metadata") or {}
    return fresh_meta.get("uid") == meta["uid"] and not fresh_meta.get("deletionTimestamp")


async def claim_pods(
    client: ApiClient,
    owner: Obj,
    *,
    selector: LabelSelector,
    candidates: Iterable[Obj],
    plural: str,
    member: Callable[[Obj], bool] = lambda pod: True,
    resource: tuple[str, str, str] = ("", "v1", "pods"),
) -> list[Obj]:
    """The pods (or other `resource`: group, version, plural) `owner` controls
    once orphans are adopted and strays released.

    `member` narrows the candidates first (a StatefulSet only claims pods
    named after it); pods it rejects are neither adopted nor released.
    """
    decided = claim(owner, selector, [p for p in candidates if member(p)])
    owned = list(decided.keep)
    if decided.adopt and await _can_adopt(client, owner, plural=plural):
        for pod in decided.adopt:
            adopted = await _patch(client, pod, adopt_patch(owner, pod), resource=resource)
            if adopted is not None:
                owned.append(adopted)
    for pod in decided.release:
        await _patch(client, pod, release_patch(owner, pod), resource=resource)
    return owned
