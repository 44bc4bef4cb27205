"""Shared informers: one list + watch per resource for every controller.

client-go's SharedInformerFactory: the controllers of one process ask the
factory for an informer and add their handlers and indexes to it, so ten
controllers that care about pods cost one pod watch and one pod cache, not
ten. Indexes are shared too, by name (`kybernetes.client.indexes` holds the
common ones). Informers asked for before `start()` start with it; one asked
for later starts at once.
"""

from __future__ import annotations

import asyncio

from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, resource_path

__all__ = ["InformerFactory"]


class InformerFactory:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._informers: dict[str, Informer] = {}
        self._started = False

    def informer(self, group: str, version: str, plural: str) -> Informer:
        """The one informer of `plural` in group/version, across all namespaces."""
        path = resource_path(group, version, plural)
        informer = self._informers.get(path)
        if informer is None:
            informer = self._informers[path] = Informer(self.client, path)
            if self._started:
                informer.start()
        return informer

    def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))

    @staticmethod
    async def wait_synced(*informers: Informer) -> None:
        """Until every one of `informers` has listed once (start workers after this)."""
        for informer in informers:
            await informer.synced.wait()
