"""The generic REST store: every verb for every resource type, one order.

create:  metadata (objects.py) -> strategy reset + defaults -> validate -> store
update:  read -> resourceVersion precondition -> keep server-owned fields ->
         defaults -> validate -> compare-and-swap on the read revision
patch:   read -> apply the patch -> the update path, retried on conflict
delete:  preconditions -> finalizers / graceful deletion -> store delete
A dry run does everything but the store write.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.api import selectors
from kybernetes.apiserver import errors
from kybernetes.apiserver.admission import Admission
from kybernetes.apiserver.crds import CrdRegistrar
from kybernetes.apiserver.objects import (
    Obj,
    now_rfc3339,
    prepare_for_create,
    prepare_for_status_update,
    prepare_for_update,
)
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.storage import ListPage, ObjectStorage, parse_resource_version
from kybernetes.apiserver.strategies import strategy_for

__all__ = ["DeleteOptions", "ListOptions", "Rest", "object_filter"]

PATCH_RETRIES = 5
Objects = list[Obj]  # at module level: inside Rest, `list` is the method


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = ""
    precondition_uid: str = ""
    precondition_resource_version: str = ""
    dry_run: bool = False


def object_filter(rt: ResourceType, options: ListOptions) -> Callable[[Obj], bool]:
    """The label and field selector of a list or watch, as one predicate."""
    try:
        labels = selectors.parse_label_selector(options.label_selector)
        kind = "events.k8s.io/Event" if rt.group == "events.k8s.io" else rt.kind
        fields = selectors.convert_field_selector(
            kind, selectors.parse_field_selector(options.field_selector)
        )
    except selectors.SelectorError as err:
        raise errors.bad_request(str(err)) from err

    def accept(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if not labels.matches(meta.get("labels") or {}):
            return False
        if fields.requirements:
            return fields.matches(selectors.selectable_fields(kind, obj))
        return True

    return accept


def _invalid(rt: ResourceType, obj: Obj, causes: list[errors.Cause]) -> errors.ApiError:
    name = (obj.get("metadata") or {}).get("name", "")
    return errors.invalid(rt.kind, name, causes, rt.group)


class Rest:
    """The verbs, for any resource type, on one `ObjectStorage`."""

    def __init__(
        self,
        storage: ObjectStorage,
        registry: ResourceRegistry,
        admission: Admission,
        *,
        now: Callable[[], str] = now_rfc3339,
    ) -> None:
        self.storage = storage
        self.registry = registry
        self.admission = admission
        self.crds = CrdRegistrar(registry)
        self._now = now

    # -- create ----------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str, body: Any, *, dry_run: bool) -> Obj:
        obj = prepare_for_create(body, rt, namespace, now=self._now)
        strategy = strategy_for(rt.group, rt.kind)
        strategy.prepare_for_create(obj)
        strategy.default(obj)
        causes = strategy.validate(obj)
        if causes:
            raise _invalid(rt, obj, causes)
        if rt.namespaced:
            await self._check_namespace_open(namespace)
        if dry_run:
            return obj
        if self.admission.allocates(rt):
            # AlreadyExists must win over "IP already allocated" for a repeated create.
            await self._refuse_existing(rt, obj)
        if _is_crd(rt):
            self.crds.check(obj)
        undo = await self.admission.admit_create(rt, obj)
        try:
            created = await self.storage.create(rt, obj)
        except BaseException:
            await undo()
            raise
        if _is_crd(rt):
            self.crds.register(created)
        return created

    async def _refuse_existing(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        try:
            await self.storage.get_kv(rt, meta.get("namespace", ""), meta["name"])
        except errors.ApiError as err:
            if err.code == 404:
                return
            raise
        raise errors.already_exists(rt.plural, meta["name"], rt.group)

    async def _check_namespace_open(self, namespace: str) -> None:
        ns_type = self.registry.lookup("", "v1", "namespaces")
        assert ns_type is not None
        try:
            ns = await self.storage.get(ns_type, "", namespace)
        except errors.ApiError as err:
            if err.code == 404:
                raise errors.not_found("namespaces", namespace) from None
            raise
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    # -- read ------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str, name: str, resource_version: str) -> Obj:
        revision = parse_resource_version(resource_version)
        return await self.storage.get(rt, namespace, name, revision)

    async def list(self, rt: ResourceType, namespace: str, options: ListOptions) -> ListPage:
        accept = object_filter(rt, options)
        revision = parse_resource_version(options.resource_version)
        exact = options.resource_version_match == "Exact" or (
            revision > 0 and options.limit > 0 and not options.resource_version_match
        )
        if options.resource_version_match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{options.resource_version_match}": '
                'supported values: "Exact", "NotOlderThan"'
            )
        if options.resource_version_match and not options.resource_version:
            raise errors.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        if revision and not exact:
            await self.storage.wait_for_revision(revision)
        return await self.storage.list(
            rt,
            namespace,
            accept=accept,
            limit=options.limit,
            continue_token=options.continue_token or None,
            revision=revision if exact and not options.continue_token else 0,
        )

    # -- update ----------------------------------------------------------------

    async def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str,
        dry_run: bool,
    ) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body must be a {rt.kind} object")
        old = await self.storage.get(rt, namespace, name)
        wanted = (body.get("metadata") or {}).get("resourceVersion") or ""
        current = old["metadata"]["resourceVersion"]
        if wanted and wanted != current:
            raise errors.conflict(
                rt.plural,
                name,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
                rt.group,
            )
        return await self._write_update(
            rt, namespace, name, body, old, subresource=subresource, dry_run=dry_run
        )

    async def _write_update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        old: Obj,
        *,
        subresource: str,
        dry_run: bool,
    ) -> Obj:
        if subresource == "status":
            new = prepare_for_status_update(body, old, rt)
        else:
            new = prepare_for_update(body, old, rt, namespace, name)
            strategy = strategy_for(rt.group, rt.kind)
            strategy.default(new)
            causes = strategy.validate_update(new, old)
            if causes:
                raise _invalid(rt, new, causes)
        revision = int(old["metadata"]["resourceVersion"])
        if _same_object(new, old):
            return old
        if dry_run:
            return new
        undo = await self.admission.admit_update(rt, new, old)
        try:
            updated = await self.storage.update(rt, new, revision)
        except BaseException:
            await undo()
            raise
        await self.admission.after_update(rt, updated, old)
        if _deletable_now(updated):
            return await self._remove(rt, updated)
        if _is_crd(rt):
            self.crds.register(updated)
        return updated

    async def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Delete from the store at the object's revision, then release what it held."""
        meta = obj["metadata"]
        if _is_crd(rt):
            await self._delete_custom_objects(meta["name"])
        gone = await self.storage.delete(
            rt, meta.get("namespace", ""), meta["name"], int(meta["resourceVersion"])
        )
        await self.admission.after_delete(rt, gone)
        if _is_crd(rt):
            self.crds.unregister(meta["name"])
        return gone

    async def _delete_custom_objects(self, crd_name: str) -> None:
        """A CRD takes its objects with it (every version shares one storage)."""
        for rt in self.crds.served(crd_name)[:1]:
            page = await self.storage.list(
                rt, "", accept=lambda _: True, limit=0, continue_token=None, revision=0
            )
            for obj in page.items:
                meta = obj["metadata"]
                try:
                    await self.storage.delete(rt, meta.get("namespace", ""), meta["name"], 0)
                except errors.ApiError as err:
                    if err.code != 404:
                        raise

    async def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        apply: Callable[[Obj], Obj],
        *,
        subresource: str,
        dry_run: bool,
    ) -> Obj:
        """Apply `apply` to the current object; retried when another write races it."""
        for attempt in range(PATCH_RETRIES):
            old = await self.storage.get(rt, namespace, name)
            body = apply(copy.deepcopy(old))
            if not isinstance(body, dict):
                raise errors.bad_request("the patch did not produce an object")
            wanted = (body.get("metadata") or {}).get("resourceVersion") or ""
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, name, "the object has been modified; please "
                                      "apply your changes to the latest version and try again",
                                      rt.group)  # fmt: skip
            try:
                return await self._write_update(
                    rt, namespace, name, body, old, subresource=subresource, dry_run=dry_run
                )
            except errors.ApiError as err:
                if err.reason != "Conflict" or attempt + 1 == PATCH_RETRIES:
                    raise
        raise AssertionError("unreachable")

    # -- delete ----------------------------------------------------------------

    async def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object; True when it is gone now."""
        obj = await self.storage.get(rt, namespace, name)
        meta = obj["metadata"]
        if options.precondition_uid and options.precondition_uid != meta.get("uid"):
            raise errors.conflict(rt.plural, name, "Precondition failed: UID in precondition: "
                                  f"{options.precondition_uid}, UID in object meta: "
                                  f"{meta.get('uid')}", rt.group)  # fmt: skip
        if (
            options.precondition_resource_version
            and options.precondition_resource_version != meta["resourceVersion"]
        ):
            raise errors.conflict(rt.plural, name, "Precondition failed: ResourceVersion in "
                                  f"precondition: {options.precondition_resource_version}, "
                                  f"ResourceVersion in object meta: {meta['resourceVersion']}",
                                  rt.group)  # fmt: skip
        grace = _grace_period(rt, obj, options)
        if meta.get("finalizers") or grace:
            return await self._mark_deleting(rt, obj, grace, options.dry_run), False
        if options.dry_run:
            return obj, True
        return await self._remove(rt, obj), True

    async def _mark_deleting(self, rt: ResourceType, obj: Obj, grace: int, dry_run: bool) -> Obj:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return obj  # already being deleted: a second delete changes nothing
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = self._now()
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return new
        return await self.storage.update(rt, new, int(meta["resourceVersion"]))

    async def delete_collection(
        self, rt: ResourceType, namespace: str, list_options: ListOptions, options: DeleteOptions
    ) -> Objects:
        page = await self.list(rt, namespace, list_options)
        deleted = []
        for obj in page.items:
            meta = obj["metadata"]
            try:
                gone, _ = await self.delete(rt, meta.get("namespace", ""), meta["name"], options)
            except errors.ApiError as err:
                if err.code == 404:
                    continue
                raise
            deleted.append(gone)
        return deleted


def _is_crd(rt: ResourceType) -> bool:
    return rt.group == "apiextensions.k8s.io" and rt.kind == "CustomResourceDefinition"


def _same_object(new: Obj, old: Obj) -> bool:
    """An update that changes nothing is not written (and keeps its resourceVersion)."""
    a = {k: v for k, v in new.items() if k != "metadata"}
    b = {k: v for k, v in old.items() if k != "metadata"}
    meta_a = {k: v for k, v in (new.get("metadata") or {}).items() if k != "resourceVersion"}
    meta_b = {k: v for k, v in (old.get("metadata") or {}).items() if k != "resourceVersion"}
    return a == b and meta_a == meta_b


def _deletable_now(obj: Obj) -> bool:
    """Being deleted, its last finalizer gone and no grace period left: remove it."""
    meta = obj.get("metadata") or {}
    return (
        bool(meta.get("deletionTimestamp"))
        and not meta.get("finalizers")
        and not meta.get("deletionGracePeriodSeconds")
    )


def _grace_period(rt: ResourceType, obj: Obj, options: DeleteOptions) -> int:
    """Only pods on a node terminate gracefully; the kubelet finishes the delete."""
    if rt.group or rt.kind != "Pod":
        return 0
    spec = obj.get("spec") or {}
    if not spec.get("nodeName"):
        return 0
    phase = (obj.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return 0
    if options.grace_period_seconds is not None:
        return max(options.grace_period_seconds, 0)
    return int(spec.get("terminationGracePeriodSeconds") or 30)
