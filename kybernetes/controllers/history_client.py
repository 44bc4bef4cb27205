"""The I/O half of `history`: write, renumber and prune ControllerRevisions.

Shared by the DaemonSet and StatefulSet controllers, which differ only in
what they hash. A revision whose name is taken by other data is a hash
collision: the caller counts it in `status.collisionCount` and syncs again,
so the next hash differs (kubernetes `history.CreateControllerRevision`);
a name taken by an orphan with the same data is adopted instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.controllers.history import (
    controller_revision,
    find_equal,
    next_revision,
    revision_number,
    strip_nulls,
)
from kybernetes.controllers.ownership import adopt_patch

__all__ = ["HashCollision", "delete_revisions", "ensure_revision"]

Obj = dict[str, Any]
STRATEGIC = "application/strategic-merge-patch+json"


class HashCollision(Exception):
    """The revision name is held by a revision with other data."""


def _path(namespace: str, name: str = "") -> str:
    return resource_path("apps", "v1", "controllerrevisions", namespace, name)


async def ensure_revision(
    client: ApiClient,
    parent: Obj,
    *,
    kind: str,
    digest: str,
    data: Obj,
    revisions: Sequence[Obj],
) -> Obj:
    """The revision holding `data`, created or renumbered as the newest as needed."""
    namespace = parent["metadata"].get("namespace", "")
    equal = find_equal(revisions, data)
    newest = max((revision_number(r) for r in revisions), default=0)
    if equal:
        found = equal[-1]
        if revision_number(found) < newest:
            # An older template came back (kubectl rollout undo): it is the newest now.
            body = {**found, "revision": newest + 1}
            path = _path(namespace, found["metadata"]["name"])
            try:
                updated: Obj = await client.update(path, body)
            except ApiStatusError as err:
                if err.code != 409:
                    raise
                # Our cache lagged behind our own renumbering: the server has it.
                fresh: Obj = await client.get(path)
                return fresh
            return updated
        return found
    wanted = controller_revision(
        parent, kind=kind, digest=digest, revision=next_revision(revisions), data=data
    )
    try:
        created: Obj = await client.create(_path(namespace), wanted)
        return created
    except ApiStatusError as err:
        if err.reason != "AlreadyExists":
            raise
    name = wanted["metadata"]["name"]
    existing: Obj = await client.get(_path(namespace, name))
    owners = [r.get("uid") for r in existing["metadata"].get("ownerReferences") or []
              if r.get("controller")]  # fmt: skip
    if strip_nulls(existing.get("data")) != strip_nulls(data):
        raise HashCollision(name)
    if owners == [parent["metadata"]["uid"]]:
        return existing  # ours, and our cache had not seen it yet
    if not owners and not parent["metadata"].get("deletionTimestamp"):
        # An orphan of this template (its set was deleted with --cascade=orphan): adopt
        # it, so the pods adopted with it still count as up to date.
        owner = {**parent, "apiVersion": "apps/v1", "kind": kind}
        patch = adopt_patch(owner, existing)
        patch["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        adopted: Obj = await client.patch(_path(namespace, name), patch, content_type=STRATEGIC)
        return adopted
    raise HashCollision(name)


async def delete_revisions(client: ApiClient, revisions: Sequence[Obj]) -> None:
    for revision in revisions:
        meta = revision["metadata"]
        try:
            await client.delete(_path(meta.get("namespace", ""), meta["name"]))
        except ApiStatusError as err:
            if err.code != 404:
                raise
