"""The namespace controller: a deleted namespace is emptied, then finalized.

kube-controller-manager's namespace controller, as a thin loop around
`namespace_decisions`: for a namespace with a deletionTimestamp it asks
discovery for every namespaced resource (custom resources included),
empties each with one deletecollection (background propagation; one
delete per item where deletecollection is not served), pods first and the
rest only once the pods are gone, and counts what is left. While content
remains (pods finishing their grace period on a node, objects held by
finalizers) the namespace is looked at again after a short delay; its
status conditions say what it waits for. Once it is empty the
`kubernetes` finalizer comes off through `namespaces/NAME/finalize`, and
the API server removes the namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kybernetes.api.times import now_rfc3339
from kybernetes.client.apiresources import preferred_resource_lists
from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.garbagecollector_decisions import Resource
from kybernetes.controllers.namespace_decisions import (
    FINALIZER_ESTIMATE_SECONDS,
    Remaining,
    content_conditions,
    deletable_namespaced_resources,
    grace_estimate,
    is_finalized,
    remaining,
    unexpected_items_error,
    with_conditions,
    without_finalizer,
)
from kybernetes.controllers.runner import run_controller

__all__ = ["NamespaceController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2
# The longest wait before looking at a terminating namespace again (kube waits
# the whole estimate; a short poll lets a namespace go as soon as it is empty).
RECHECK_INTERVAL = 2.0
ATTEMPTS = 3
NAMESPACES = resource_path("", "v1", "namespaces")


class ContentRemains(Exception):
    """Some content could not be deleted: retried with back-off."""


class NamespaceController:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        recheck_interval: float = RECHECK_INTERVAL,
        workers: int = WORKERS,
        now: Callable[[], str] = now_rfc3339,
    ) -> None:
        self._client = informers.client
        self._recheck = recheck_interval
        self._workers = workers
        self._now = now
        self.namespaces = informers.informer("", "v1", "namespaces")
        self.queue: WorkQueue[str] = WorkQueue(name="namespace")
        self.namespaces.on_add(self._changed)
        self.namespaces.on_update(lambda _old, new: self._changed(new))

    def _changed(self, namespace: Obj) -> None:
        meta = namespace.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            self.queue.add(str(meta["name"]))

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=self._workers,
                             informers=(self.namespaces,))  # fmt: skip

    async def _get(self, name: str) -> Obj | None:
        try:
            return await self._client.get(f"{NAMESPACES}/{name}")
        except ApiStatusError as err:
            if err.code == 404:
                return None
            raise

    async def sync(self, name: str) -> None:
        namespace = await self._get(name)  # live: never act on a stale cache
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            namespace = await self._write_status(namespace, {"phase": "Terminating"})
        if is_finalized(namespace):
            await self._delete(namespace)
            return
        left, estimate, problems, discovery_error = await self._delete_content(namespace)
        conditions = with_conditions(
            list((namespace.get("status") or {}).get("conditions") or []),
            content_conditions(discovery_error=discovery_error, delete_errors=problems,
                               left=left, now=self._now()),
            now=self._now(),
        )  # fmt: skip
        if conditions != (namespace.get("status") or {}).get("conditions"):
            namespace = await self._write_status(namespace, {"conditions": conditions})
        if discovery_error or problems:
            raise ContentRemains(f"namespace {name}: {discovery_error or '; '.join(problems)}")
        if not left.empty:
            self.queue.add_after(name, min(max(estimate, 1), self._recheck))
            return
        await self._finalize(name)

    async def _delete_content(self, namespace: Obj) -> tuple[Remaining, int, list[str], str]:
        """One round: (what is left, seconds to wait for it, errors, discovery error)."""
        name = namespace["metadata"]["name"]
        left = Remaining()
        problems: list[str] = []
        estimate = 0
        try:
            resources = deletable_namespaced_resources(await preferred_resource_lists(self._client))
        except ApiStatusError as err:
            return left, 0, [], f"Discovery failed for some groups, 1 failing: {err}"
        for resource in resources:
            try:
                items, wait = await self._empty(namespace, resource)
            except ApiStatusError as err:
                problems.append(str(err))
                continue
            if not items:
                continue
            left.add(resource, items)
            if wait:
                estimate = max(estimate, wait)
            elif remaining(items):
                estimate = max(estimate, FINALIZER_ESTIMATE_SECONDS)
            else:
                problems.append(unexpected_items_error(name, resource))
            if (resource.group, resource.plural) == ("", "pods"):
                break  # ordered deletion: nothing else goes while pods are left
        return left, estimate, problems, ""

    async def _empty(self, namespace: Obj, resource: Resource) -> tuple[list[Obj], int]:
        """Delete everything of one resource in the namespace; what is left,
        and (for pods) how long their grace periods may still take."""
        name = namespace["metadata"]["name"]
        path = resource_path(resource.group, resource.version, resource.plural, name)
        background = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        }
        try:
            await self._client.delete(path, background)
        except ApiStatusError as err:
            if err.code != 405:
                raise
            # No deletecollection: one delete per item.
            for item in (await self._client.get(path))["items"]:
                try:
                    await self._client.delete(f"{path}/{item['metadata']['name']}", background)
                except ApiStatusError as each:
                    if each.code != 404:
                        raise
        items: list[Obj] = (await self._client.get(path))["items"]
        wait = 0
        if (resource.group, resource.plural) == ("", "pods") and items:
            wait = grace_estimate(items, deleted_at=namespace["metadata"]["deletionTimestamp"],
                                  now=self._now())  # fmt: skip
        return items, wait

    async def _write_status(self, namespace: Obj, status: Obj) -> Obj:
        name = namespace["metadata"]["name"]
        body = {**namespace, "status": {**(namespace.get("status") or {}), **status}}
        try:
            return await self._client.update(f"{NAMESPACES}/{name}/status", body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
            return namespace  # changed meanwhile: the next round writes it

    async def _finalize(self, name: str) -> None:
        """Take our finalizer off (the API server then removes the namespace),
        read again on a conflict, as kube's retryOnConflictError."""
        for attempt in range(ATTEMPTS):
            namespace = await self._get(name)
            if namespace is None:
                return
            if is_finalized(namespace):
                await self._delete(namespace)
                return
            try:
                finalized = await self._client.update(
                    f"{NAMESPACES}/{name}/finalize", without_finalizer(namespace)
                )
            except ApiStatusError as err:
                if err.code == 404:
                    return  # finalized and removed
                if err.code != 409 or attempt + 1 == ATTEMPTS:
                    raise
                continue
            if is_finalized(finalized):
                await self._delete(finalized)
            return

    async def _delete(self, namespace: Obj) -> None:
        """The last delete (kube's deleteNamespaceWhenDone), for this uid only."""
        meta = namespace["metadata"]
        body = {"kind": "DeleteOptions", "apiVersion": "v1",
                "preconditions": {"uid": meta["uid"]}}  # fmt: skip
        try:
            await self._client.delete(f"{NAMESPACES}/{meta['name']}", body)
        except ApiStatusError as err:
            if err.code not in (404, 409):
                raise
        log.info("namespace controller: namespace %s finalized", meta["name"])
