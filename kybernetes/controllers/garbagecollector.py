"""The garbage collector: ownerReferences drive cascading deletion.

kube-controller-manager's garbage collector, as a thin loop around
`garbagecollector_decisions` (STYLE.md habit 1):

- Every resource that can be listed, watched and deleted (found through
  discovery, again every `discovery_interval` seconds and whenever a CRD
  changes) gets a shared informer; its events feed the ownership graph
  (`ownergraph.py`) and put work on one queue. Handlers decide nothing:
  they only notice the transitions that need work (an owner not seen, an
  object deleted, an owner starting a foreground or orphan deletion).
- `delete` work on an object looks at each of its owners. An owner the
  caches hold is present; one they do not hold is read live, by name and
  uid, before it counts as gone (a lagging cache must never delete
  anything). Then the pure decision: keep, patch out references, or
  delete (with a uid and resourceVersion precondition).
- `delete` work on an owner deleting in the foreground removes its
  `foregroundDeletion` finalizer once no dependent blocks it.
- `orphan` work on an owner with the `orphan` finalizer patches its
  reference out of every dependent, then removes the finalizer.

Every patch is a JSON patch that tests the uid and the very list it
replaces, so a decision made on an old version of an object fails (and is
retried with back-off) instead of overwriting a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from kybernetes.client.apiresources import preferred_resource_lists
from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.garbagecollector_decisions import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    Delete,
    ObjectRef,
    OwnerState,
    PatchOwnerRefs,
    Resource,
    collectable_resources,
    decide_dependent,
    decide_foreground_owner,
    finalizer_patch,
    is_deleting_dependents,
    is_orphaning,
    owner_refs_patch,
    owner_state,
    without_owner,
)
from kybernetes.controllers.ownergraph import OwnershipGraph
from kybernetes.controllers.runner import run_controller
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["GarbageCollector"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
WORKERS = 20  # kube-controller-manager's --concurrent-gc-syncs default
DISCOVERY_INTERVAL = 30.0  # kube-controller-manager re-reads discovery every 30 s
NOT_SYNCED_RECHECK = 0.5
# How long a cache that never lists holds up foreground and orphan deletions
# (kube's collector likewise stops waiting for its monitors after 30 s).
SYNC_TIMEOUT = 30.0
ABSENT_CACHE_SIZE = 10_000
PATCH_ATTEMPTS = 3
ORPHAN_PARALLELISM = 20


@dataclass(frozen=True)
class Work:
    action: str  # "delete" (attemptToDelete) or "orphan" (attemptToOrphan)
    ref: ObjectRef


def _ref(resource: Resource, obj: Obj) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(resource, str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                     str(meta.get("uid") or ""))  # fmt: skip


def _owner_uids(obj: Obj) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid")]


def _path(ref: ObjectRef) -> str:
    r = ref.resource
    return resource_path(r.group, r.version, r.plural, ref.namespace, ref.name)


class GarbageCollector:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        discovery_interval: float = DISCOVERY_INTERVAL,
        workers: int = WORKERS,
    ) -> None:
        self._factory = informers
        self._client = informers.client
        self._discovery_interval = discovery_interval
        self._workers = workers
        self.graph = OwnershipGraph()
        self.queue: WorkQueue[Work] = WorkQueue(name="garbagecollector")
        # (group, plural) -> the resource and its informer, once watched.
        self._watched: dict[tuple[str, str], tuple[Resource, Informer]] = {}
        # (group, kind) -> resource: how an ownerReference's apiVersion/kind is found.
        self._kinds: dict[tuple[str, str], Resource] = {}
        self._since: dict[tuple[str, str], float] = {}  # when each began to be watched
        self._handled: set[tuple[str, str, str]] = set()  # informers with our handlers
        self._stopped: set[tuple[str, str, str]] = set()  # ... stopped by us
        # Objects with an owner of a kind discovery did not know (yet).
        self._unresolved: set[ObjectRef] = set()
        # (namespace, uid) of owners read live or seen deleted, and gone; the
        # namespace where the owner was looked for ("" for a cluster-scoped one),
        # as kube's absentOwnerCache keys it: an owner absent from one namespace
        # may be the live owner of dependents in its own.
        self._absent: dict[tuple[str, str], None] = {}
        self._discovery_wanted = asyncio.Event()
        crds = informers.informer("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crds.on_add(lambda _: self._discovery_wanted.set())
        crds.on_update(lambda _old, _new: self._discovery_wanted.set())
        crds.on_delete(lambda _: self._discovery_wanted.set())

    # -- discovery and informers -------------------------------------------------

    async def discover(self) -> None:
        """Watch every collectable resource the API serves now, and no other."""
        served: dict[tuple[str, str], Resource] = {}
        kinds: dict[tuple[str, str], Resource] = {}
        for group_version, entries in await preferred_resource_lists(self._client):
            for resource in collectable_resources(group_version, entries):
                kinds[(resource.group, resource.kind)] = resource
                served.setdefault((resource.group, resource.plural), resource)
        self._kinds = kinds
        for key in [k for k in self._watched if k not in served]:
            await self._unwatch(key)
        for key, resource in served.items():
            if key not in self._watched:
                self._watch(resource)
        unresolved, self._unresolved = self._unresolved, set()
        for ref in unresolved:
            self.queue.add(Work("delete", ref))

    def _watch(self, resource: Resource) -> None:
        ident = (resource.group, resource.version, resource.plural)
        informer = self._factory.informer(*ident)
        self._watched[(resource.group, resource.plural)] = (resource, informer)
        self._since[(resource.group, resource.plural)] = asyncio.get_running_loop().time()
        if ident not in self._handled:  # a shared informer keeps its handlers for good
            self._handled.add(ident)
            informer.on_add(lambda obj: self._observe(resource, obj))
            informer.on_update(lambda _old, new: self._observe(resource, new))
            informer.on_delete(lambda obj: self._gone(resource, obj))
        if ident in self._stopped:
            self._stopped.discard(ident)
            informer.start()  # its resource is back: list (and diff) again
        # A shared informer may have listed already: what it holds is news to us.
        for obj in list(informer.items.values()):
            self._observe(resource, obj)

    async def _unwatch(self, key: tuple[str, str]) -> None:
        """A resource no longer served (its CRD deleted): stop watching it.

        Its objects are not taken for gone: a resource missing from one
        discovery round may be back in the next, and only a deletion seen
        (or an owner read live and not found) may cascade. Their dependents
        are looked at again, live.
        """
        resource, informer = self._watched.pop(key)
        self._since.pop(key, None)
        self._stopped.add((resource.group, resource.version, resource.plural))
        await informer.stop()
        for obj in list(informer.items.values()):
            uid = str((obj.get("metadata") or {}).get("uid") or "")
            self.graph.forget(uid)
            for dependent in self.graph.dependents(uid):
                self.queue.add(Work("delete", dependent))

    def _informers(self) -> tuple[Informer, ...]:
        return tuple(informer for _, informer in self._watched.values())

    def _synced(self) -> bool:
        """Every cache listed, or given up on: one resource that cannot be
        listed must not hold every foreground and orphan deletion forever."""
        now = asyncio.get_running_loop().time()
        return all(informer.synced.is_set() or now - self._since.get(key, now) > SYNC_TIMEOUT
                   for key, (_, informer) in self._watched.items())  # fmt: skip

    async def _rediscover(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._discovery_wanted.wait(), self._discovery_interval)
            self._discovery_wanted.clear()
            try:
                await self.discover()
            except Exception as err:  # noqa: BLE001 - discovery is retried on the next round
                log.warning("garbage collector: discovery failed: %r", err)

    # -- event handlers: the graph, and which transitions need work --------------

    def _observe(self, resource: Resource, obj: Obj) -> None:
        ref = _ref(resource, obj)
        owners = _owner_uids(obj)
        dropped = set(self.graph.owners(ref.uid)) - set(owners)
        self.graph.observe(ref, owners)
        # An owner deleting in the foreground may be waiting for just this one
        # (its reference removed by us, or by anyone): as kube's collector, it
        # is looked at again, now that this dependent no longer blocks it.
        for owner_uid in dropped:
            if (waiting := self._waiting_owner(ref, owner_uid)) is not None:
                self.queue.add(Work("delete", waiting))
        if is_orphaning(obj):
            self.queue.add(Work("orphan", ref))
        if is_deleting_dependents(obj):
            self.queue.add(Work("delete", ref))
            for dependent in self.graph.dependents(ref.uid):
                self.queue.add(Work("delete", dependent))
        for owner_uid in owners:
            if self._locate_owner(ref, owner_uid) is None:
                self.queue.add(Work("delete", ref))  # no such owner seen here: is it gone?
            elif (waiting := self._waiting_owner(ref, owner_uid)) is not None:
                self.queue.add(Work("delete", ref))
                self.queue.add(Work("delete", waiting))  # may be waiting for this one

    def _gone(self, resource: Resource, obj: Obj) -> None:
        ref = _ref(resource, obj)
        self.graph.forget(ref.uid)
        # Seen deleted: that uid never comes back, so no live read is needed to
        # know it is absent (even once its kind is no longer served).
        self._remember_absent(ref.namespace, ref.uid)
        for dependent in self.graph.dependents(ref.uid):
            self.queue.add(Work("delete", dependent))
        for owner_uid in _owner_uids(obj):
            if (waiting := self._waiting_owner(ref, owner_uid)) is not None:
                self.queue.add(Work("delete", waiting))  # it may have waited for this one

    # -- running ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.discover()
                break
            except Exception as err:  # noqa: BLE001 - nothing to collect before discovery
                log.warning("garbage collector: discovery failed (%r); retrying", err)
                await asyncio.sleep(1.0)
        rediscover = asyncio.create_task(self._rediscover(), name="kyb-gc-discovery")
        try:
            await run_controller(queue=self.queue, sync=self.sync, workers=self._workers,
                                 informers=self._informers())  # fmt: skip
        finally:
            await cancel_and_wait(rediscover)

    async def sync(self, work: Work) -> None:
        if work.action == "orphan":
            await self._orphan(work.ref)
        else:
            await self._attempt_delete(work.ref)

    # -- reads ----------------------------------------------------------------------

    def _cached(self, ref: ObjectRef) -> Obj | None:
        entry = self._watched.get((ref.resource.group, ref.resource.plural))
        if entry is None:
            return None
        obj = entry[1].get(ref.key)
        if obj is None or (obj.get("metadata") or {}).get("uid") != ref.uid:
            return None
        return obj

    async def _live(self, ref: ObjectRef) -> Obj | None:
        """The object as the API has it now; None if gone or replaced (another uid)."""
        try:
            obj = await self._client.get(_path(ref))
        except ApiStatusError as err:
            if err.code == 404:
                return None
            raise
        return obj if (obj.get("metadata") or {}).get("uid") == ref.uid else None

    def _locate_owner(self, dependent: ObjectRef, uid: str) -> ObjectRef | None:
        """The object with this uid, if it can be the dependent's owner: a
        namespaced owner must be in the dependent's namespace (a reference
        across namespaces is to an owner that is absent, as in Kubernetes)."""
        owner = self.graph.locate(uid)
        if owner is None or (owner.resource.namespaced and owner.namespace != dependent.namespace):
            return None
        return owner

    def _waiting_owner(self, dependent: ObjectRef, uid: str) -> ObjectRef | None:
        """The dependent's owner with this uid if it is deleting in the foreground
        (so it may be waiting for this dependent to go or to let it go)."""
        owner = self._locate_owner(dependent, uid)
        cached = self._cached(owner) if owner is not None else None
        return owner if cached is not None and is_deleting_dependents(cached) else None

    def _dependents(self, uid: str) -> list[Obj]:
        """The cached dependents that can have this owner (its namespace's)."""
        found = []
        for ref in self.graph.dependents(uid):
            if self._locate_owner(ref, uid) is None:
                continue  # a reference from another namespace: not to this object
            obj = self._cached(ref)
            if obj is not None:
                found.append(obj)
        return found

    async def _owner_states(self, ref: ObjectRef, item: Obj) -> dict[str, OwnerState]:
        """Each owner's state; an owner the caches do not hold is read live."""
        states: dict[str, OwnerState] = {}
        for owner in (item.get("metadata") or {}).get("ownerReferences") or []:
            uid = str(owner.get("uid") or "")
            # ("", uid): a cluster-scoped owner; a uid is never both kinds.
            if (ref.namespace, uid) in self._absent or ("", uid) in self._absent:
                states[uid] = OwnerState.ABSENT
                continue
            located = self._locate_owner(ref, uid)
            cached = self._cached(located) if located is not None else None
            if cached is not None:
                states[uid] = owner_state(cached, uid)
                continue
            group = str(owner.get("apiVersion") or "").rpartition("/")[0]
            resource = self._kinds.get((group, str(owner.get("kind") or "")))
            if resource is None:
                log.info("garbage collector: %s: owner kind %s %s is not served; waiting",
                         ref.key, owner.get("apiVersion"), owner.get("kind"))  # fmt: skip
                self._unresolved.add(ref)  # looked at again after the next discovery
                continue  # unknown state: no decision yet
            if resource.namespaced and not ref.namespace:
                continue  # a cluster-scoped object cannot have a namespaced owner
            namespace = ref.namespace if resource.namespaced else ""
            live = await self._live(ObjectRef(resource, namespace, str(owner.get("name")), uid))
            states[uid] = owner_state(live, uid)
            if states[uid] is OwnerState.ABSENT:
                self._remember_absent(namespace, uid)
        return states

    def _remember_absent(self, namespace: str, uid: str) -> None:
        self._absent[namespace, uid] = None
        while len(self._absent) > ABSENT_CACHE_SIZE:
            del self._absent[next(iter(self._absent))]

    # -- attemptToDelete ------------------------------------------------------------

    async def _attempt_delete(self, ref: ObjectRef) -> None:
        item = self._cached(ref)
        if item is None:
            return  # gone: its deletion already woke its dependents
        if is_deleting_dependents(item):
            await self._foreground_owner(ref, item)
            return
        meta = item.get("metadata") or {}
        if meta.get("deletionTimestamp") or not meta.get("ownerReferences"):
            return
        states = await self._owner_states(ref, item)
        action = decide_dependent(item, states, self._dependents(ref.uid))
        # Written against the cached version: the patch tests the very list
        # it replaces and the delete carries its resourceVersion, so a cache
        # that lags makes the write fail (and the decision is made again).
        if isinstance(action, PatchOwnerRefs):
            await self._patch(ref, owner_refs_patch(item, action.refs))
        elif isinstance(action, Delete):
            await self._delete(ref, item, action)

    async def _delete(self, ref: ObjectRef, item: Obj, action: Delete) -> None:
        if action.unblock_first is not None:
            patched = await self._patch(ref, owner_refs_patch(item, action.unblock_first.refs))
            if patched is None:
                return
            item = patched
        meta = item["metadata"]
        preconditions = {"uid": ref.uid, "resourceVersion": meta["resourceVersion"]}
        try:
            await self._send_delete(ref, action.propagation, preconditions)
        except ApiStatusError as err:
            if err.code != 409:
                raise
            # Changed since it was read. As kube's collector: if its owners did
            # not change, other writes (a pod's status) must not starve the
            # delete, so it goes on the uid alone.
            now = await self._live(ref)
            if now is None or now["metadata"].get("deletionTimestamp"):
                return  # gone or going: nothing to add (a foreground wait has its own work)
            if now["metadata"].get("ownerReferences") != meta.get("ownerReferences"):
                raise  # decided again, after back-off, on the new owners
            await self._send_delete(ref, action.propagation, {"uid": ref.uid})
        log.info("garbage collector: deleted %s %s (%s)", ref.resource.kind, ref.key,
                 action.propagation)  # fmt: skip

    async def _send_delete(self, ref: ObjectRef, propagation: str, preconditions: Obj) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation,
                "preconditions": preconditions}  # fmt: skip
        try:
            await self._client.delete(_path(ref), body)
        except ApiStatusError as err:
            if err.code != 404:
                raise

    async def _patch(self, ref: ObjectRef, ops: list[Obj]) -> Obj | None:
        """Apply a guarded JSON patch; None when the object is gone."""
        try:
            return await self._client.patch(_path(ref), ops, content_type=JSON_PATCH)
        except ApiStatusError as err:
            if err.code == 404:
                return None
            raise  # a failed test (422) or a conflict: decided again after back-off

    async def _foreground_owner(self, ref: ObjectRef, owner: Obj) -> None:
        """processDeletingDependentsItem: drop the finalizer once nothing blocks it."""
        if not self._synced():
            self.queue.add_after(Work("delete", ref), NOT_SYNCED_RECHECK)
            return
        decision = decide_foreground_owner(owner, self._dependents(ref.uid))
        for dependent in decision.wake:
            self.queue.add(Work("delete", _ref(self._resource_of(dependent), dependent)))
        if decision.remove_finalizer:
            await self._remove_finalizer(ref, FOREGROUND_FINALIZER)

    def _resource_of(self, obj: Obj) -> Resource:
        located = self.graph.locate(str((obj.get("metadata") or {}).get("uid") or ""))
        assert located is not None  # dependents come from the graph
        return located.resource

    async def _remove_finalizer(self, ref: ObjectRef, finalizer: str) -> None:
        for attempt in range(PATCH_ATTEMPTS):
            live = await self._live(ref)
            if live is None or finalizer not in (live["metadata"].get("finalizers") or ()):
                return
            try:
                await self._patch(ref, finalizer_patch(live, finalizer))
                return
            except ApiStatusError as err:
                if err.code not in (409, 422) or attempt + 1 == PATCH_ATTEMPTS:
                    raise

    # -- attemptToOrphan --------------------------------------------------------------

    async def _orphan(self, ref: ObjectRef) -> None:
        owner = self._cached(ref)
        if owner is None or not is_orphaning(owner):
            return
        if not self._synced():
            self.queue.add_after(Work("orphan", ref), NOT_SYNCED_RECHECK)
            return
        # In parallel, as kube's orphanDependents; all must succeed before the
        # finalizer goes (a failure retries the whole item: released ones are no-ops).
        limit = asyncio.Semaphore(ORPHAN_PARALLELISM)

        async def release(dependent: ObjectRef) -> None:
            async with limit:
                await self._release(dependent, ref.uid)

        async with asyncio.TaskGroup() as group:
            for dependent in self.graph.dependents(ref.uid):
                group.create_task(release(dependent))
        await self._remove_finalizer(ref, ORPHAN_FINALIZER)

    async def _release(self, dependent: ObjectRef, owner_uid: str) -> None:
        """Patch the owner's reference out of one dependent: first as cached,
        then as read live if the cache was behind (the patch tests the list)."""
        current = self._cached(dependent)
        for attempt in range(PATCH_ATTEMPTS):
            if current is None:
                current = await self._live(dependent)
                if current is None:
                    return
            refs = current["metadata"].get("ownerReferences") or []
            kept = without_owner(refs, owner_uid)
            if kept == refs:
                return
            try:
                await self._patch(dependent, owner_refs_patch(current, kept))
                return
            except ApiStatusError as err:
                if err.code not in (409, 422) or attempt + 1 == PATCH_ATTEMPTS:
                    raise
                current = None  # read it live and try again
