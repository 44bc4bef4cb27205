"""The resource quota controller: keep each quota's `status` true to what exists.

Admission (in the API server) only ever raises `status.used`, when it
charges a create; this controller brings it back down when objects go away
or pods finish, and computes the first status of a new quota, without
which admission refuses anything the quota constrains. It is a thin loop
(STYLE.md habit 1): events only enqueue quota keys, `sync` reads the
caches, asks `resourcequota_decisions.quota_status` and writes the status
conditioned on the quota's resourceVersion, so it never overwrites a
charge admission made meanwhile (a conflict re-syncs from the cache).

As Kubernetes, an object's creation does not wake the quotas (admission
already charged it; recomputing from a cache that has not seen it yet
would briefly undo the charge); its deletion does, and so does an update
that can change its cost; every quota is recomputed every `resync`
seconds anyway. A `count/` quota on a kind no informer watches is
counted by listing that kind when the quota syncs (so its deletes are
seen at resync). The race Kubernetes has remains: a recompute woken by
one object while another's charged create is not yet in the cache
undercounts until the next event or resync.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.indexes import BY_NAMESPACE, namespace
from kybernetes.client.informer import Informer, key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.resourcequota_decisions import (
    MONITORED,
    quota_status,
    unmonitored_counts,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["ResourceQuotaController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2
RESYNC = 300.0  # as kube-controller-manager's --resource-quota-sync-period
# Kinds whose update can change what they cost (a pod finishing, a Service's
# type, a claim's size); other updates never do, and waking on them would
# recompute from caches that may not yet hold a just-charged create.
CHANGING_COST = {("", "pods"), ("", "services"), ("", "persistentvolumeclaims")}


class ResourceQuotaController:
    def __init__(self, informers: InformerFactory, *, resync: float = RESYNC) -> None:
        self._client = informers.client
        self._resync = resync
        self.quotas = informers.informer("", "v1", "resourcequotas")
        self.quotas.add_index(BY_NAMESPACE, namespace)
        self.queue: WorkQueue[str] = WorkQueue(name="resourcequota")
        self.quotas.on_add(lambda q: self.queue.add(key_of(q)))
        self.quotas.on_update(self._quota_updated)
        self.monitors: dict[tuple[str, str], Informer] = {}
        self._versions: dict[str, str] = {}  # API group -> its preferred version
        for group, version, plural in MONITORED:
            informer = informers.informer(group, version, plural)
            informer.add_index(BY_NAMESPACE, namespace)
            if (group, plural) in CHANGING_COST:
                informer.on_update(lambda old, new: self._object_changed(new))
            informer.on_delete(self._object_changed)
            self.monitors[(group, plural)] = informer

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        # Its own status writes come back as updates; only a changed spec (or a
        # status that disagrees with the spec) needs a look.
        if old.get("spec") != new.get("spec") or (new.get("status") or {}).get("hard") != (
            new.get("spec") or {}
        ).get("hard"):
            self.queue.add(key_of(new))

    def _object_changed(self, obj: Obj) -> None:
        """Wake every quota of the object's namespace (a usage may have gone)."""
        ns = (obj.get("metadata") or {}).get("namespace", "")
        for quota in self.quotas.by_index(BY_NAMESPACE, ns):
            self.queue.add(key_of(quota))

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.quotas, *self.monitors.values()))  # fmt: skip

    async def _list(self, group: str, plural: str, ns: str) -> list[Obj]:
        """The objects of a kind no informer watches (a `count/` quota on it), read
        from the API; a kind the server does not serve has none."""
        version = "v1"
        if group:
            if group not in self._versions:
                try:
                    found = await self._client.get(f"/apis/{group}")
                    self._versions[group] = str(found["preferredVersion"]["version"])
                except (ApiStatusError, KeyError, TypeError):
                    return []
            version = self._versions[group]
        try:
            listed = await self._client.get(resource_path(group, version, plural, ns))
        except ApiStatusError as err:
            if err.code == 404:
                return []
            raise
        items: list[Obj] = listed.get("items") or []
        return items

    async def sync(self, key: str) -> None:
        quota = self.quotas.get(key)
        if quota is None:
            return
        meta = quota["metadata"]
        ns = meta.get("namespace", "")
        objects = {
            kind: informer.by_index(BY_NAMESPACE, ns) for kind, informer in self.monitors.items()
        }
        for group, plural in unmonitored_counts(quota):
            objects[(group, plural)] = await self._list(group, plural, ns)
        status = quota_status(quota, objects)
        self.queue.add_after(key, self._resync)
        if status is None:
            return
        path = resource_path("", "v1", "resourcequotas", ns, meta["name"], "status")
        try:
            await self._client.update(path, {**quota, "status": status})
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            if err.code == 409:
                self.queue.add_after(key, 0.05)  # charged meanwhile: recompute from the cache
