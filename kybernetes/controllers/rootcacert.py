"""The root CA publisher: a `kube-root-ca.crt` ConfigMap in every active namespace.

kube-controller-manager's root-ca-cert-publisher gives pods the CA that
signs the API server's certificate (its `ca.crt` is what the projected
`kube-api-access-*` volume mounts). A namespace that appears or changes,
or its ConfigMap deleted or edited, puts the namespace on the queue; `sync`
creates the ConfigMap, or puts back its data and description when someone
changed them (other annotations and labels are left alone, as kube's
publisher leaves them). The CA is the one the controller manager trusts,
from its kubeconfig. Only ConfigMaps of that name are watched.
"""

from __future__ import annotations

from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.runner import run_controller

__all__ = ["NAME", "RootCACertPublisher", "wanted_config_map"]

Obj = dict[str, Any]
NAME = "kube-root-ca.crt"
DESCRIPTION_KEY = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)
WORKERS = 2


def wanted_config_map(namespace: Obj | None, existing: Obj | None, ca: str) -> Obj | None:
    """The ConfigMap to write in `namespace` (None: nothing to do). A terminating
    namespace gets nothing; an existing ConfigMap keeps what is not ours."""
    if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
        return None
    if existing is None:
        return {"metadata": {"name": NAME, "annotations": {DESCRIPTION_KEY: DESCRIPTION}},
                "data": {"ca.crt": ca}}  # fmt: skip
    meta = existing.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if existing.get("data") == {"ca.crt": ca} and annotations.get(DESCRIPTION_KEY) == DESCRIPTION:
        return None
    ours = {**annotations, DESCRIPTION_KEY: DESCRIPTION}
    return {**existing, "data": {"ca.crt": ca}, "binaryData": None,
            "metadata": {**meta, "annotations": ours}}  # fmt: skip


class RootCACertPublisher:
    def __init__(self, informers: InformerFactory, *, workers: int = WORKERS) -> None:
        self._client = informers.client
        self._ca = informers.client.ca_pem.decode()
        self._workers = workers
        self.namespaces = informers.informer("", "v1", "namespaces")
        self.maps = Informer(self._client, resource_path("", "v1", "configmaps"),
                             field_selector=f"metadata.name={NAME}")  # fmt: skip
        self.queue: WorkQueue[str] = WorkQueue(name="root-ca-cert-publisher")
        self.namespaces.on_add(lambda ns: self.queue.add(ns["metadata"]["name"]))
        self.namespaces.on_update(lambda _old, new: self.queue.add(new["metadata"]["name"]))
        self.maps.on_update(lambda _old, new: self.queue.add(new["metadata"]["namespace"]))
        self.maps.on_delete(lambda cm: self.queue.add(cm["metadata"]["namespace"]))

    async def run(self) -> None:
        if not self._ca:
            return  # a client without a CA (plain tokens over trusted TLS): nothing to publish
        self.maps.start()
        try:
            await run_controller(queue=self.queue, sync=self.sync, workers=self._workers,
                                 informers=(self.namespaces, self.maps))  # fmt: skip
        finally:
            await self.maps.stop()

    async def sync(self, namespace: str) -> None:
        existing = self.maps.get(f"{namespace}/{NAME}")
        wanted = wanted_config_map(self.namespaces.get(namespace), existing, self._ca)
        if wanted is None:
            return
        path = resource_path("", "v1", "configmaps", namespace)
        try:
            if existing is None:
                await self._client.create(path, wanted)
            else:
                await self._client.update(f"{path}/{NAME}", wanted)
        except ApiStatusError as err:
            # Made meanwhile, changed meanwhile (the informer brings it back) or the
            # namespace started terminating: the next event says what to do.
            if err.code not in (403, 404, 409):
                raise
