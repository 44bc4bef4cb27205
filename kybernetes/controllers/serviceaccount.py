"""The ServiceAccount controller: a `default` ServiceAccount in every active namespace.

kube-controller-manager's serviceaccounts-controller: a namespace that
appears or changes, or a ServiceAccount that is deleted, puts the
namespace on the queue; `sync` creates the ServiceAccounts the namespace
lacks (only `default`; since Kubernetes 1.24 no token Secret goes with it).
A terminating namespace gets nothing, and a create refused because the
namespace started terminating meanwhile is no error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.runner import run_controller

__all__ = ["ServiceAccountController", "missing_service_accounts"]

Obj = dict[str, Any]
WANTED = ("default",)
WORKERS = 2


def missing_service_accounts(
    namespace: Obj | None, existing: Iterable[str], wanted: Iterable[str] = WANTED
) -> list[str]:
    """The ServiceAccounts to create in `namespace` (none unless it is Active)."""
    if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
        return []
    have = set(existing)
    return [name for name in wanted if name not in have]


def _terminating_refusal(err: ApiStatusError) -> bool:
    causes = (err.status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


class ServiceAccountController:
    def __init__(self, informers: InformerFactory, *, workers: int = WORKERS) -> None:
        self._client = informers.client
        self._workers = workers
        self.namespaces = informers.informer("", "v1", "namespaces")
        self.accounts = informers.informer("", "v1", "serviceaccounts")
        self.queue: WorkQueue[str] = WorkQueue(name="serviceaccount")
        self.namespaces.on_add(lambda ns: self.queue.add(ns["metadata"]["name"]))
        self.namespaces.on_update(lambda _old, new: self.queue.add(new["metadata"]["name"]))
        self.accounts.on_delete(self._account_deleted)

    def _account_deleted(self, account: Obj) -> None:
        meta = account.get("metadata") or {}
        if meta.get("name") in WANTED and meta.get("namespace"):
            self.queue.add(str(meta["namespace"]))

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=self._workers,
                             informers=(self.namespaces, self.accounts))  # fmt: skip

    async def sync(self, name: str) -> None:
        existing = [n for n in WANTED if self.accounts.get(f"{name}/{n}") is not None]
        for account in missing_service_accounts(self.namespaces.get(name), existing):
            try:
                await self._client.create(resource_path("", "v1", "serviceaccounts", name),
                                          {"metadata": {"name": account}})  # fmt: skip
            except ApiStatusError as err:
                if err.reason == "AlreadyExists" or _terminating_refusal(err):
                    continue
                raise
