"""`sync(key)` of both controllers with filled caches and a recording client (STYLE habit 1).

What these pin down is how a sync treats its own earlier writes while the
informer cache has not caught up: never a second create (slices are made
with generateName, so a duplicate would not even fail), never an update
from the replaced version.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, ApiStatusError
from kybernetes.controllers.endpoints import EndpointsController
from kybernetes.controllers.endpointslice import EndpointSliceController
from tests.controllers.test_endpoints_decisions import pod, service

Obj = dict[str, Any]


class RecordingClient:
    """Answers writes as the API would (name, uid, resourceVersion, generation) and records
    them; `conflict` makes the next update fail with 409."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, str]] = []
        self.written: list[Obj] = []  # what the API now holds, as returned
        self.conflict = False
        self._serial = itertools.count(100)

    def _stored(self, body: Obj) -> Obj:
        n = next(self._serial)
        meta = dict(body["metadata"])
        meta.setdefault("name", f"{meta.pop('generateName', 'x-')}{n}")
        meta.setdefault("uid", f"uid-{n}")
        meta["generation"] = int(meta.get("generation") or 0) + 1
        meta["resourceVersion"] = str(n)
        stored = {**body, "metadata": meta}
        self.written.append(stored)
        return stored

    async def create(self, path: str, body: Obj) -> Obj:
        self.actions.append(("create", path))
        return self._stored(body)

    async def update(self, path: str, body: Obj) -> Obj:
        self.actions.append(("update", path))
        if self.conflict:
            self.conflict = False
            raise ApiStatusError({"code": 409, "reason": "Conflict"})
        return self._stored(body)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        self.actions.append(("delete", path))
        return {}


def fill(informer: Informer, *objs: Obj) -> None:
    for obj in objs:
        informer._upsert(obj)  # what a watch event does


@pytest.fixture
async def client() -> AsyncIterator[RecordingClient]:
    yield RecordingClient()


def cached_service() -> Obj:
    svc = service()
    svc["metadata"]["resourceVersion"] = "1"
    return svc


async def test_slices_are_not_created_twice_while_the_cache_lags(client: RecordingClient) -> None:
    informers = InformerFactory(cast(ApiClient, client))
    controller = EndpointSliceController(informers)
    fill(controller.nodes, {"metadata": {"name": "node-1", "resourceVersion": "1"}})
    fill(controller.services, cached_service())
    fill(controller.pods, pod("a", "10.0.0.1"), pod("b", "10.0.0.2"))
    try:
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["create"]
        # The created slice is not cached yet: the next sync waits instead of creating again.
        fill(controller.pods, pod("c", "10.0.0.3"))
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["create"]
        # Once the informer brings our slice, the new pod goes into it.
        fill(controller.slices, client.written[-1])
        client.actions.clear()
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["update"]
    finally:
        await controller.queue.shutdown()


async def test_an_endpoints_update_is_not_repeated_from_the_replaced_version(
    client: RecordingClient,
) -> None:
    informers = InformerFactory(cast(ApiClient, client))
    controller = EndpointsController(informers)
    fill(controller.services, cached_service())
    fill(controller.pods, pod("a", "10.0.0.1"))
    try:
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["create"]
        fill(
            controller.endpoints,
            {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "5"}, "subsets": []},
        )
        client.actions.clear()
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["update"]
        # The cache still shows version 5, which that update replaced: no second update.
        fill(controller.pods, pod("b", "10.0.0.2"))
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["update"]
        # A newer version arrives: work resumes; a 409 is a lagging cache, not an error.
        fill(
            controller.endpoints,
            {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "6"}, "subsets": []},
        )
        client.conflict = True
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["update", "update"]
        # Unchanged results are not written; a gone service takes its Endpoints along.
        client.actions.clear()
        controller.services._delete(cached_service())
        await controller.sync("ns/web")
        assert client.actions == [("delete", "/api/v1/namespaces/ns/endpoints/web")]
    finally:
        await controller.queue.shutdown()


async def test_a_relabelled_slice_is_no_longer_waited_for(client: RecordingClient) -> None:
    informers = InformerFactory(cast(ApiClient, client))
    controller = EndpointSliceController(informers)
    fill(controller.nodes, {"metadata": {"name": "node-1", "resourceVersion": "1"}})
    fill(controller.services, cached_service())
    fill(controller.pods, pod("a", "10.0.0.1"))
    try:
        await controller.sync("ns/web")
        ours = client.written[-1]
        fill(controller.slices, ours)
        # A user takes the slice over: it leaves our index, and we make a new one.
        labels = {**ours["metadata"]["labels"], "endpointslice.kubernetes.io/managed-by": "me"}
        taken = {**ours, "metadata": {**ours["metadata"], "labels": labels,
                                      "resourceVersion": "999"}}  # fmt: skip
        fill(controller.slices, taken)
        client.actions.clear()
        await controller.sync("ns/web")
        assert [a for a, _ in client.actions] == ["create"]
    finally:
        await controller.queue.shutdown()
