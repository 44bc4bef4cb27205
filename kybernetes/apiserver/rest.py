"""The generic REST store: every verb for every resource type, one order.

create:  metadata (objects.py) -> strategy reset + defaults -> validate -> store
update:  read -> resourceVersion precondition -> keep server-owned fields ->
         defaults -> validate -> compare-and-swap on the read revision
patch:   read -> apply the patch -> the update path, retried on conflict
apply:   read (create when missing) -> merge the config, conflicts -> the update path
delete:  preconditions -> finalizers / graceful deletion -> store delete
A dry run does everything but the store write. Every write made for a client
records its field manager in managedFields (managedfields.py) after
defaulting, so the defaults an ordinary write brings count as its fields.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.api import selectors
from kybernetes.api.patch import PatchSchema, schema_for
from kybernetes.api.qos import qos_class
from kybernetes.apiserver import deletion, errors
from kybernetes.apiserver import managedfields as mf
from kybernetes.apiserver.admission import Admission
from kybernetes.apiserver.crd_strategy import CustomResourceStrategy
from kybernetes.apiserver.crds import CrdRegistrar
from kybernetes.apiserver.csr_strategy import approval_causes, approved_update
from kybernetes.apiserver.ephemeral import ephemeral_update_causes, with_ephemeral_containers
from kybernetes.apiserver.ingressclass import admit_default_ingress_class
from kybernetes.apiserver.limitranger import admit_limits
from kybernetes.apiserver.objects import (
    Obj,
    drop_empty_metadata,
    json_copy,
    now_rfc3339,
    prepare_for_create,
    prepare_for_status_update,
    prepare_for_update,
    spec_changed,
)
from kybernetes.apiserver.quota import charge_quota
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.scale import apply_scale_config
from kybernetes.apiserver.scheduling import admit_pod_priority
from kybernetes.apiserver.serviceaccount_admission import admit_service_account
from kybernetes.apiserver.storage import (
    ListPage,
    ObjectStorage,
    Written,
    object_json,
    parse_resource_version,
)
from kybernetes.apiserver.strategies import strategy_for
from kybernetes.apiserver.zero_values import present_fields
from kybernetes.store.types import KeyValue

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
    propagation_policy: str = ""  # "" when unset
    precondition_uid: str = ""
    precondition_resource_version: str = ""
    dry_run: bool = False
    orphan_dependents: bool | None = None  # deprecated; None when unset

    @property
    def policy(self) -> deletion.Policy:
        return deletion.Policy(self.propagation_policy or None, self.orphan_dependents)


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

    async def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        *,
        dry_run: bool,
        manager: mf.Manager | None = None,
        owned: bool = False,
    ) -> Written:
        """Create from `body`; an `owned` body (the caller's to give up, as a
        request's decoded body) becomes the object instead of being copied.
        The created object comes with its JSON when the store gave it."""
        given = body.get("metadata") or {} if isinstance(body, dict) else {}
        # Named as NamespaceLifecycle names it: before generateName is expanded.
        given_name = given.get("name") or given.get("generateName") or "Unknown"
        obj = prepare_for_create(body, rt, namespace, now=self._now, copy=not owned)
        sent = obj["metadata"].pop("managedFields", None)
        start = mf.starting_entries(sent, None, subresource=manager.subresource) if manager else []
        if start and manager and manager.operation == "Update":
            obj["metadata"]["managedFields"] = start
        if manager and manager.operation == "Apply":
            # The config as sent, before defaults: an applier owns what it applied,
            # its nulls included, though they set nothing.
            obj["metadata"]["managedFields"] = mf.applied_entries(
                obj, manager=manager.name, schema=_schema(rt), api_version=rt.api_version,
                now=self._now(), status=_status_fields(rt, ""),
            )  # fmt: skip
            if not _is_custom(rt):
                mf.drop_nulls(obj)
        strategy = strategy_for(rt.group, rt.kind, rt.version)
        strategy.prepare_for_create(obj)
        strategy.default(obj)
        if manager and manager.operation == "Update":
            obj = self._record_update(rt, obj, None, manager)
        causes = strategy.validate(obj)
        if causes:
            raise _invalid(rt, obj, causes)
        if rt.namespaced:
            await self._check_namespace_open(rt, namespace, given_name)
        if rt.group == "" and rt.kind == "Pod":
            await admit_pod_priority(self.storage, self.registry, obj)
            await admit_service_account(self.storage, self.registry, obj)
        if rt.group == "networking.k8s.io" and rt.kind == "Ingress":
            await admit_default_ingress_class(self.storage, self.registry, obj)
        await admit_limits(self.storage, self.registry, rt, obj)  # limitranger.py: defaults, 403
        if rt.group == "" and rt.kind == "Pod":
            # Set on create from the spec as admitted (LimitRanger's defaults included), as
            # kube-apiserver's PrepareForCreate does; the kubelet reports the same class.
            obj.setdefault("status", {})["qosClass"] = qos_class(obj.get("spec") or {})
        if dry_run:
            await charge_quota(self.storage, self.registry, rt, obj, dry_run=True)  # 403 or nothing
            drop_empty_metadata(obj["metadata"])  # as the store would keep it
            return Written(obj, None)
        if self.admission.allocates(rt):
            # AlreadyExists must win over "IP already allocated" for a repeated create.
            await self._refuse_existing(rt, obj)
        if _is_crd(rt):
            self.crds.check(obj)
        await charge_quota(self.storage, self.registry, rt, obj)  # quota.py: 403 or charged
        undo = await self.admission.admit_create(rt, obj)
        try:
            created = await self.storage.create(rt, obj)
        except BaseException:
            await undo()
            raise
        if _is_crd(rt):
            self.crds.register(created.obj)
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

    async def _check_namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        """NamespaceLifecycle: no content in a namespace that is missing or terminating."""
        ns_type = self.registry.lookup("", "v1", "namespaces")
        assert ns_type is not None
        try:
            ns = await self.storage.cached_get(ns_type, "", namespace)
        except errors.ApiError as err:
            if err.code == 404:
                raise errors.not_found("namespaces", namespace) from None
            raise
        if (ns.get("status") or {}).get("phase") == "Terminating":
            qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise errors.ApiError(
                403, "Forbidden",
                f'{qualified} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                kind=rt.plural, name=name, group=rt.group,
                causes=[errors.Cause("metadata.namespace", "NamespaceTerminating",
                                     f"namespace {namespace} is being terminated")],
            )  # fmt: skip

    # -- read ------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str, name: str, resource_version: str) -> Obj:
        revision = parse_resource_version(resource_version)
        return await self.storage.get(rt, namespace, name, revision)

    async def get_encoded(
        self, rt: ResourceType, namespace: str, name: str, resource_version: str
    ) -> bytes:
        revision = parse_resource_version(resource_version)
        return await self.storage.get_encoded(rt, namespace, name, revision)

    async def list(
        self, rt: ResourceType, namespace: str, options: ListOptions, *, encoded: bool = False,
        encode: Callable[[KeyValue], bytes] = object_json,
    ) -> ListPage:  # fmt: skip
        """One page of a LIST; with `encoded`, as JSON (`encode`: the object's by default)
        in `ListPage.encoded` where no selector needs the objects decoded (else decoded,
        in `items`, as always)."""
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
        token = options.continue_token or None
        read_at = revision if exact and not options.continue_token else 0
        if encoded and not (options.label_selector or options.field_selector):
            return await self.storage.list_encoded(
                rt, namespace, limit=options.limit, continue_token=token, revision=read_at,
                encode=encode,
            )  # fmt: skip
        return await self.storage.list(
            rt, namespace, accept=accept, limit=options.limit, continue_token=token,
            revision=read_at,
        )  # fmt: skip

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
        manager: mf.Manager | None = None,
        owned: bool = False,
    ) -> Obj:
        """Replace the object with `body`; an `owned` body (the caller's to give up,
        as a request's decoded body) becomes the new object without a copy."""
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
            rt, namespace, name, body, old, subresource=subresource, dry_run=dry_run,
            manager=manager, owned=owned,
        )  # fmt: skip

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
        manager: mf.Manager | None = None,
        owned: bool = False,
    ) -> Obj:
        if subresource == "approval":  # a CertificateSigningRequest's (csr_strategy.py)
            new = approved_update(body, old)
            causes = approval_causes(body, old)
            if causes:
                raise _invalid(rt, new, causes)
        elif subresource == "ephemeralcontainers":  # a pod's (ephemeral.py)
            new = with_ephemeral_containers(body, old, rt)
            strategy = strategy_for(rt.group, rt.kind, rt.version)
            strategy.default(new)
            new["metadata"]["generation"] = _generation(new, old)
            causes = ephemeral_update_causes(new, old)
            if causes:
                raise _invalid(rt, new, causes)
        elif subresource == "status":
            strategy = strategy_for(rt.group, rt.kind, rt.version)
            new = prepare_for_status_update(
                body, old, rt, metadata=strategy.status_writes_metadata,
                namespace=namespace, name=name,
            )  # fmt: skip
            if strategy.status_writes_metadata:
                strategy.default(new)
        else:
            new = prepare_for_update(body, old, rt, namespace, name, copy=not owned)
            strategy = strategy_for(rt.group, rt.kind, rt.version)
            if subresource != "finalize":
                # namespaces/NAME/finalize is the one way to change spec.finalizers.
                strategy.prepare_for_update(new, old)
            strategy.default(new)
            causes = strategy.validate_update(new, old)
            if causes:
                raise _invalid(rt, new, causes)
        new = self._managed_fields(rt, new, old, body, manager, owned=owned)
        drop_empty_metadata(new["metadata"])  # as stored, so as a dry run answers too
        revision = int(old["metadata"]["resourceVersion"])
        if _same_object(new, old):
            return old
        if dry_run:
            return new
        if subresource == "":
            await charge_quota(self.storage, self.registry, rt, new, old=old)  # quota.py
        undo = await self.admission.admit_update(rt, new, old)
        try:
            updated = await self.storage.update(rt, new, revision)
        except BaseException:
            await undo()
            raise
        await self.admission.after_update(rt, updated, old)
        if _deletable_now(rt, updated):
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

    def _managed_fields(
        self,
        rt: ResourceType,
        new: Obj,
        old: Obj,
        body: Obj,
        manager: mf.Manager | None,
        *,
        owned: bool = False,
    ) -> Obj:
        """`new` with its managedFields: those the write starts from
        (`mf.starting_entries`), then the Update entry of this write; an apply
        has computed its own already. `owned`: `body` is the caller's to give up."""
        if manager and manager.operation == "Apply":
            # Computed with the merge; a status write starts from the old
            # object, so they are carried over from the merged body.
            new.setdefault("metadata", {})["managedFields"] = copy.deepcopy(
                (body.get("metadata") or {}).get("managedFields") or []
            )
            return new
        sent = (body.get("metadata") or {}).get("managedFields")
        live = (old.get("metadata") or {}).get("managedFields")
        kept = mf.starting_entries(sent, live, subresource=manager.subresource if manager else "",
                                   sent_owned=owned)  # fmt: skip
        meta = new.setdefault("metadata", {})
        if kept:
            meta["managedFields"] = kept
        else:
            meta.pop("managedFields", None)
        if manager is None:
            return new
        return self._record_update(rt, new, old, manager)

    def _record_update(
        self, rt: ResourceType, new: Obj, old: Obj | None, manager: mf.Manager
    ) -> Obj:
        status = _status_fields(rt, manager.subresource)
        if status and strategy_for(rt.group, rt.kind, rt.version).status_writes_metadata:
            # The metadata such a status write changed is its manager's too (the
            # spec it sent was reset to old's, so it changed nothing there).
            status = None
        return mf.record_update(
            new, old, manager=manager, schema=_schema(rt), api_version=rt.api_version,
            now=self._now(), status=status,
            present=present_fields(rt.group, rt.version, rt.kind),
            in_place=True,  # both callers write into their own copy already
        )  # fmt: skip

    async def apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        config: Obj,
        *,
        manager: str,
        force: bool,
        dry_run: bool,
        subresource: str = "",
    ) -> tuple[Obj, bool]:
        """Server-side apply of `config` (to the object or its `status`);
        True when it created the object."""
        applier = mf.Manager(manager, "Apply", subresource)
        for attempt in range(PATCH_RETRIES):
            try:
                live = await self.storage.get(rt, namespace, name)
            except errors.ApiError as err:
                if err.code != 404 or subresource:
                    raise  # a status is applied to an object that exists
                try:
                    created = await self.create(
                        rt, namespace, config, dry_run=dry_run, manager=applier
                    )
                except errors.ApiError as exists:
                    if exists.reason != "AlreadyExists" or attempt + 1 == PATCH_RETRIES:
                        raise
                    continue  # created meanwhile: apply to it instead
                return created.obj, True
            wanted = (config.get("metadata") or {}).get("resourceVersion") or ""
            if wanted and wanted != live["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, name, "the object has been modified; please "
                                      "apply your changes to the latest version and try again",
                                      rt.group)  # fmt: skip
            try:
                merged = mf.apply_config(
                    live, config, manager=applier, force=force,
                    schema=_schema(rt), api_version=rt.api_version, now=self._now(),
                    status=_status_fields(rt, subresource),
                )  # fmt: skip
            except mf.ApplyConflict as conflict:
                raise _apply_conflict(conflict) from None
            if not _is_custom(rt):
                mf.drop_nulls(merged)  # a custom resource's schema says which it keeps
            try:
                updated = await self._write_update(
                    rt, namespace, name, merged, live, subresource=subresource,
                    dry_run=dry_run, manager=applier,
                )  # fmt: skip
            except errors.ApiError as err:
                if err.reason != "Conflict" or attempt + 1 == PATCH_RETRIES:
                    raise
                continue
            return updated, False
        raise AssertionError("unreachable")

    async def apply_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        config: Obj,
        *,
        manager: str,
        force: bool,
        dry_run: bool,
    ) -> Obj:
        """Server-side apply of an autoscaling/v1 Scale to the object's `scale`
        (scale.py): its replicas land on the object, its owners in the object's
        managedFields. The object must exist: a Scale creates nothing."""
        applier = mf.Manager(manager, "Apply", "scale")

        def change(obj: Obj) -> Obj:
            return apply_scale_config(obj, config, manager=applier, force=force,
                                      api_version=rt.api_version, now=self._now())  # fmt: skip

        return await self.patch(
            rt, namespace, name, change, subresource="", dry_run=dry_run, manager=applier
        )

    async def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        apply: Callable[[Obj], Obj],
        *,
        subresource: str,
        dry_run: bool,
        manager: mf.Manager | None = None,
    ) -> Obj:
        """Apply `apply` to the current object; retried when another write races it.
        An `apply` that is a server-side apply may raise mf.ApplyConflict (a 409)."""
        for attempt in range(PATCH_RETRIES):
            old = await self.storage.get(rt, namespace, name)
            try:
                body = apply(copy.deepcopy(old))
            except mf.ApplyConflict as conflict:
                raise _apply_conflict(conflict) from None
            if not isinstance(body, dict):
                raise errors.bad_request("the patch did not produce an object")
            wanted = (body.get("metadata") or {}).get("resourceVersion") or ""
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, name, "the object has been modified; please "
                                      "apply your changes to the latest version and try again",
                                      rt.group)  # fmt: skip
            try:
                return await self._write_update(
                    rt, namespace, name, body, old, subresource=subresource, dry_run=dry_run,
                    manager=manager,
                )  # fmt: skip
            except errors.ApiError as err:
                if err.reason != "Conflict" or attempt + 1 == PATCH_RETRIES:
                    raise
        raise AssertionError("unreachable")

    # -- delete ----------------------------------------------------------------

    async def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object; True when it is gone now.

        The rules (graceful deletion, the garbage collector's finalizers,
        namespaces) are deletion.py's; this applies them to the store. A
        write racing the delete (a controller's status update) makes it read
        again, as kube-apiserver does: only failed preconditions (checked
        against what is read) make a delete a 409.
        """
        for attempt in range(PATCH_RETRIES):
            try:
                return await self._delete_once(rt, namespace, name, options)
            except errors.ApiError as err:
                failed_precondition = "Precondition failed: " in err.message  # see below
                if err.reason != "Conflict" or failed_precondition or attempt + 1 == PATCH_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _delete_once(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        policy = options.policy
        deletion.validate_propagation(policy)
        if _is_namespace(rt) and name in deletion.IMMORTAL_NAMESPACES:
            raise deletion.immortal_namespace(name)
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
        if _is_namespace(rt):
            if not meta.get("deletionTimestamp"):
                return await self._start_namespace_deletion(rt, obj, policy, options.dry_run), False
            if (obj.get("spec") or {}).get("finalizers"):
                return obj, False  # the namespace controller is still emptying it
        return await self._delete_object(rt, obj, options)

    async def _delete_object(
        self, rt: ResourceType, obj: Obj, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        new = json_copy(obj)
        meta = new["metadata"]
        first = not meta.get("deletionTimestamp")
        pending = int(meta.get("deletionGracePeriodSeconds") or 0)
        if not first and pending > 0:
            # A graceful deletion is under way: a delete may only shorten it,
            # and nothing else (not the finalizers) changes meanwhile.
            wanted = options.grace_period_seconds
            if wanted is not None and wanted < 0:
                wanted = 1  # as kube-apiserver: a negative period means 1 s
            if wanted is None or wanted >= pending:
                return obj, False
            grace = wanted
            meta["deletionTimestamp"] = deletion.shortened_deadline(
                meta["deletionTimestamp"], pending, grace
            )
            meta["deletionGracePeriodSeconds"] = grace
        else:
            grace = _grace_period(rt, obj, options) if first else 0
            if grace:
                meta["deletionTimestamp"] = deletion.grace_deadline(self._now(), grace)
                meta["deletionGracePeriodSeconds"] = grace
        default = deletion.default_gc_policy(rt.group, rt.version, rt.kind)
        finalizers = deletion.gc_finalizers(meta.get("finalizers") or [], options.policy, default)
        if finalizers is not None:
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
        if meta.get("finalizers") and not grace:
            # Only marked: the finalizers' owners finish the delete.
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = self._now()
            meta["deletionGracePeriodSeconds"] = 0
        if meta.get("finalizers") or grace:
            if first and meta.get("generation"):
                meta["generation"] = int(meta["generation"]) + 1
            if new == obj or options.dry_run:
                return new, False
            revision = int(obj["metadata"]["resourceVersion"])
            return await self.storage.update(rt, new, revision), False
        if options.dry_run:
            return new, True
        return await self._remove(rt, obj), True

    async def _start_namespace_deletion(
        self, rt: ResourceType, obj: Obj, policy: deletion.Policy, dry_run: bool
    ) -> Obj:
        """The first delete of a namespace: Terminating, until the namespace
        controller has removed its content and its `kubernetes` finalizer."""
        new = json_copy(obj)
        meta = new["metadata"]
        meta["deletionTimestamp"] = self._now()
        new.setdefault("status", {})["phase"] = "Terminating"
        finalizers = deletion.namespace_gc_finalizers(meta.get("finalizers") or [], policy)
        if finalizers is not None:
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
        if dry_run:
            return new
        return await self.storage.update(rt, new, int(obj["metadata"]["resourceVersion"]))

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


def _generation(new: Obj, old: Obj) -> int:
    """The generation after a write that changed `old` into `new` (+1 when the spec did)."""
    generation = int((old.get("metadata") or {}).get("generation") or 1)
    return generation + 1 if spec_changed(new, old) else generation


def _is_namespace(rt: ResourceType) -> bool:
    return rt.group == "" and rt.kind == "Namespace"


def _is_crd(rt: ResourceType) -> bool:
    return rt.group == "apiextensions.k8s.io" and rt.kind == "CustomResourceDefinition"


def _same_object(new: Obj, old: Obj) -> bool:
    """An update that changes nothing is not written (and keeps its resourceVersion).

    The times in managedFields do not count: an apply that changes nothing
    would otherwise write a new revision each time (kube-apiserver ignores them too).
    """
    a = {k: v for k, v in new.items() if k != "metadata"}
    b = {k: v for k, v in old.items() if k != "metadata"}
    return a == b and _comparable_meta(new) == _comparable_meta(old)


def _comparable_meta(obj: Obj) -> Obj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    if isinstance(meta.get("managedFields"), list):
        meta["managedFields"] = [
            {k: v for k, v in entry.items() if k != "time"} if isinstance(entry, dict) else entry
            for entry in meta["managedFields"]
        ]
    return meta


def _is_custom(rt: ResourceType) -> bool:
    """A custom resource: unstructured in kube-apiserver, where a built-in kind has a Go type."""
    return isinstance(strategy_for(rt.group, rt.kind, rt.version), CustomResourceStrategy)


def _schema(rt: ResourceType) -> PatchSchema:
    """How managedFields and server-side apply see the kind's lists: the API
    types' merge keys, or a custom resource's list types from its schema."""
    strategy = strategy_for(rt.group, rt.kind, rt.version)
    if isinstance(strategy, CustomResourceStrategy) and strategy.list_strategies:
        return strategy.patch_schema
    return schema_for(rt.group, rt.version, rt.kind)


def _status_fields(rt: ResourceType, subresource: str) -> bool | None:
    """Which part a write may own: with a status subresource, the main resource
    cannot set status and the subresource sets nothing else."""
    if "status" not in rt.subresources:
        return None
    return subresource == "status"


def _apply_conflict(conflict: mf.ApplyConflict) -> errors.ApiError:
    """409 as kube-apiserver words it; kubectl prints the message and its advice."""
    causes = [
        errors.Cause(mf.path_string(c.path), "FieldManagerConflict", mf.conflict_cause_message(c))
        for c in conflict.conflicts
    ]
    return errors.ApiError(409, "Conflict", str(conflict), causes=causes)


def _deletable_now(rt: ResourceType, obj: Obj) -> bool:
    """Being deleted, its last finalizer gone and no grace period left: remove it.

    A namespace also waits for its `spec.finalizers` (the namespace
    controller's `kubernetes`), removed through `namespaces/NAME/finalize`.
    """
    meta = obj.get("metadata") or {}
    if _is_namespace(rt) and (obj.get("spec") or {}).get("finalizers"):
        return False
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
        # As kube-apiserver: a negative period means 1 s.
        return 1 if options.grace_period_seconds < 0 else options.grace_period_seconds
    period = spec.get("terminationGracePeriodSeconds")
    return 30 if period is None else max(int(period), 0)
