"""Writing revisions: create, reuse, renumber on rollback, count hash collisions."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kybernetes.client.rest import ApiClient, ApiStatusError
from kybernetes.controllers.history import controller_revision, template_patch
from kybernetes.controllers.history_client import HashCollision, ensure_revision

Obj = dict[str, Any]
PARENT = {
    "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v2"}]}}},
}


class FakeApi:
    """The server side of revisions: a dict by path, with resourceVersion checks."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.writes = 0

    async def get(self, path: str) -> Obj:
        if path not in self.objects:
            raise ApiStatusError({"code": 404, "reason": "NotFound"})
        return self.objects[path]

    async def create(self, path: str, body: Obj) -> Obj:
        full = f"{path}/{body['metadata']['name']}"
        if full in self.objects:
            raise ApiStatusError({"code": 409, "reason": "AlreadyExists"})
        self.writes += 1
        self.objects[full] = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        return self.objects[full]

    async def update(self, path: str, body: Obj) -> Obj:
        stored = self.objects[path]
        if stored["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"]:
            raise ApiStatusError({"code": 409, "reason": "Conflict"})
        self.writes += 1
        rv = str(int(stored["metadata"]["resourceVersion"]) + 1)
        self.objects[path] = {**body, "metadata": {**body["metadata"], "resourceVersion": rv}}
        return self.objects[path]

    async def patch(self, path: str, body: Obj, content_type: str = "") -> Obj:
        """Just enough strategic merge: owner references added by uid."""
        stored = self.objects[path]
        assert content_type == "application/strategic-merge-patch+json"
        if stored["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"]:
            raise ApiStatusError({"code": 409, "reason": "Conflict"})
        refs = [*(stored["metadata"].get("ownerReferences") or []),
                *body["metadata"]["ownerReferences"]]  # fmt: skip
        self.objects[path] = {**stored, "metadata": {**stored["metadata"],
                                                     "ownerReferences": refs}}  # fmt: skip
        return self.objects[path]


def stored(api: FakeApi, revision: Obj) -> Obj:
    path = f"/apis/apps/v1/namespaces/ns/controllerrevisions/{revision['metadata']['name']}"
    api.objects[path] = {
        **revision,
        "metadata": {
            **revision["metadata"],
            "resourceVersion": "1",
            "uid": f"uid-{revision['metadata']['name']}",
        },
    }
    return api.objects[path]


async def test_creates_then_reuses() -> None:
    api = FakeApi()
    client = cast(ApiClient, api)
    data = template_patch(PARENT)
    made = await ensure_revision(client, PARENT, kind="StatefulSet", digest="h2", data=data,
                                 revisions=[])  # fmt: skip
    assert made["metadata"]["name"] == "web-h2" and made["revision"] == 1
    again = await ensure_revision(client, PARENT, kind="StatefulSet", digest="h2", data=data,
                                  revisions=[made])  # fmt: skip
    assert again is made and api.writes == 1
    # A cache that has not seen it yet: AlreadyExists with our data is ours.
    late = await ensure_revision(client, PARENT, kind="StatefulSet", digest="h2", data=data,
                                 revisions=[])  # fmt: skip
    assert late["metadata"]["name"] == "web-h2" and api.writes == 1


async def test_rollback_renumbers_even_when_the_cache_lags() -> None:
    api = FakeApi()
    client = cast(ApiClient, api)
    old_parent = {**PARENT, "spec": {"template": {"spec": {"containers": [{"image": "v1"}]}}}}
    first = stored(api, controller_revision(old_parent, kind="StatefulSet", digest="h1",
                                            revision=1))  # fmt: skip
    second = stored(api, controller_revision(PARENT, kind="StatefulSet", digest="h2",
                                             revision=2))  # fmt: skip
    data = template_patch(old_parent)
    back = await ensure_revision(client, old_parent, kind="StatefulSet", digest="h1", data=data,
                                 revisions=[first, second])  # fmt: skip
    assert back["metadata"]["name"] == "web-h1" and back["revision"] == 3
    # The same decision from the stale cache: a conflict, answered from the server.
    again = await ensure_revision(client, old_parent, kind="StatefulSet", digest="h1",
                                  data=data, revisions=[first, second])  # fmt: skip
    assert again["revision"] == 3


async def test_a_name_held_by_other_data_is_a_collision() -> None:
    api = FakeApi()
    client = cast(ApiClient, api)
    other = {**PARENT, "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    stored(api, controller_revision(other, kind="StatefulSet", digest="h2", revision=1))
    with pytest.raises(HashCollision):
        await ensure_revision(client, PARENT, kind="StatefulSet", digest="h2",
                              data=template_patch(PARENT), revisions=[])  # fmt: skip


async def test_an_orphan_with_the_same_data_is_adopted() -> None:
    api = FakeApi()
    client = cast(ApiClient, api)
    orphan = controller_revision(PARENT, kind="DaemonSet", digest="h2", revision=4)
    del orphan["metadata"]["ownerReferences"]
    stored(api, orphan)
    parent = {**PARENT, "metadata": {**PARENT["metadata"], "uid": "new"}}
    got = await ensure_revision(client, parent, kind="DaemonSet", digest="h2",
                                data=template_patch(PARENT), revisions=[])  # fmt: skip
    [ref] = got["metadata"]["ownerReferences"]
    assert (ref["uid"], ref["kind"], ref["controller"]) == ("new", "DaemonSet", True)
    assert got["revision"] == 4
