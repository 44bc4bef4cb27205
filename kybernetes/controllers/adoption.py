"""Adopting orphans and releasing strays, as kube's ControllerRefManager does.

A controller owns the objects whose controller reference names it. An
object its selector matches that has no controller (say, after `kubectl
delete ds x --cascade=orphan` and a new `x`) is adopted; an object it owns
that the selector no longer matches (its labels were edited) is released.
Neither happens while the owner or the object is being deleted. Both are
strategic merge patches keyed by the reference's uid, carrying the object's
uid (as kube's do) and the resourceVersion the decision saw, so a patch
never lands on an object that changed or was replaced meanwhile.
`claim` is the pure decision; `adopt` and `release` do the writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path

__all__ = ["ORPHANS", "Claim", "adopt", "claim", "claim_pods", "orphan_namespace", "release"]

Obj = dict[str, Any]
ORPHANS = "orphans-by-namespace"  # the informer index of objects without a controller
STRATEGIC = "application/strategic-merge-patch+json"


def orphan_namespace(obj: Obj) -> list[str]:
    """Index function: the namespace of an object no controller owns."""
    meta = obj.get("metadata") or {}
    if any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
        return []
    return [str(meta.get("namespace", ""))]


@dataclass(frozen=True)
class Claim:
    owned: tuple[Obj, ...]  # ours, including those about to be adopted
    adopt: tuple[Obj, ...]
    release: tuple[Obj, ...]


def _controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return None


def claim(owner: Obj, candidates: Iterable[Obj], *, matches: Callable[[Obj], bool]) -> Claim:
    """Which candidates the owner keeps, adopts and releases (ClaimObject)."""
    meta = owner.get("metadata") or {}
    uid, deleting = meta.get("uid"), bool(meta.get("deletionTimestamp"))
    owned: list[Obj] = []
    adopt_: list[Obj] = []
    release_: list[Obj] = []
    for obj in candidates:
        controller = _controller_uid(obj)
        if controller == uid:
            if matches(obj) or deleting:
                owned.append(obj)
            else:
                release_.append(obj)
        elif (
            controller is None
            and not deleting
            and not (obj.get("metadata") or {}).get("deletionTimestamp")
            and matches(obj)
        ):
            owned.append(obj)
            adopt_.append(obj)
    return Claim(tuple(owned), tuple(adopt_), tuple(release_))


async def adopt(client: ApiClient, path: str, *, obj: Obj, owner: Obj, kind: str) -> bool:
    """Make `owner` (an apps/v1 `kind`) the controller of `obj`; False if it changed meanwhile."""
    meta = owner["metadata"]
    ref = {"apiVersion": "apps/v1", "kind": kind,
           "name": meta["name"], "uid": meta["uid"], "controller": True,
           "blockOwnerDeletion": True}  # fmt: skip
    return await _patch(client, path, obj=obj, refs=[ref])


async def release(client: ApiClient, path: str, *, obj: Obj, owner: Obj) -> bool:
    """Drop `owner`'s reference from `obj`; False if it changed meanwhile."""
    return await _patch(
        client, path, obj=obj, refs=[{"$patch": "delete", "uid": owner["metadata"]["uid"]}]
    )


async def _patch(client: ApiClient, path: str, *, obj: Obj, refs: list[Obj]) -> bool:
    meta = obj["metadata"]
    body = {"metadata": {"ownerReferences": refs, "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"]}}  # fmt: skip
    try:
        await client.patch(path, body, content_type=STRATEGIC)
    except ApiStatusError as err:
        if err.code in (404, 409, 422):
            return False  # gone, or not the object we judged: the next sync looks again
        raise
    return True


def _pod_path(pod: Obj) -> str:
    meta = pod["metadata"]
    return resource_path("", "v1", "pods", meta.get("namespace", ""), meta["name"])


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
    candidates: Iterable[Obj],
    matches: Callable[[Obj], bool],
    *,
    kind: str,
    plural: str,
) -> list[Obj]:
    """The pods `owner` controls once orphans are adopted and strays released."""
    claimed = claim(owner, candidates, matches=matches)
    owned = list(claimed.owned)
    if claimed.adopt and not await _can_adopt(client, owner, plural=plural):
        owned = [p for p in owned if p not in claimed.adopt]
    else:
        for pod in claimed.adopt:
            if not await adopt(client, _pod_path(pod), obj=pod, owner=owner, kind=kind):
                owned.remove(pod)
    for pod in claimed.release:
        await release(client, _pod_path(pod), obj=pod, owner=owner)
    return owned
