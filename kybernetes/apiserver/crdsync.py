"""Serve the CustomResourceDefinitions as stored, when another process may change them.

Every API server serves the stored CRDs once at start (`sync`). With one
API process, a CRD's resource is then served from the moment its create or
update returns (`Rest` registers it on the way). With more than one
(`kyb server --api-processes`), another process may have created, changed or
deleted a CRD: each process follows the stored CRDs with a watch, and before
it answers discovery, OpenAPI or "no such resource" it reads them once more
(a consistent read: it waits until its watch cache has every write already
acknowledged), so a client that created a CRD through one process finds its
resource through any other, as kubectl does right after `kubectl apply`.
"""

from __future__ import annotations

import asyncio
import logging

from kybernetes.apiserver import errors
from kybernetes.apiserver.rest import Rest
from kybernetes.store.types import StoreClosedError, StoreError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["CrdSync"]

log = logging.getLogger(__name__)

RETRY_DELAY = 1.0


class CrdSync:
    """Keeps `rest`'s registry serving exactly the stored CRDs."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        crd_type = rest.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_type is not None
        self._type = crd_type
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def sync(self) -> int:
        """Serve the CRDs stored now; the revision they were read at."""
        async with self._lock:
            page = await self._rest.storage.list(
                self._type, "", accept=lambda _: True, limit=0, continue_token=None, revision=0
            )
            self._rest.crds.follow(page.items, page.resource_version)
            return page.resource_version

    def start(self) -> None:
        """Follow CRD changes in the background (`stop` ends it)."""
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="kyb-crd-sync")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _follow(self) -> None:
        store = self._rest.storage.store
        while True:
            try:
                revision = await self.sync()
                async with store.watch(self._type.storage_prefix, after=revision) as watch:
                    async for batch in watch:
                        if batch.events:
                            await self.sync()
            except StoreClosedError:
                return
            except (StoreError, errors.ApiError) as err:
                log.warning("following the stored CRDs: %s; again in %.0f s", err, RETRY_DELAY)
                await asyncio.sleep(RETRY_DELAY)
