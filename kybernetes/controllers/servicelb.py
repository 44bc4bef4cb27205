"""The service load balancer controller: LoadBalancer Services get the nodes' addresses.

A thin loop around `servicelb_decisions`: a Service event queues that
service; a Node event (an address or readiness changed) queues every
service this controller serves. `sync` writes `status.loadBalancer`
through the status subresource, conditioned on the cached
resourceVersion (a conflict retries with back-off), only when it differs.
The traffic itself is the proxy's (kybernetes.proxy): it forwards the
ingress addresses on the Service's ports like a node port.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiStatusError, resource_path
from kybernetes.client.workqueue import WorkQueue
from kybernetes.controllers.runner import run_controller
from kybernetes.controllers.servicelb_decisions import is_ours, node_addresses, wanted_ingress

__all__ = ["ServiceLBController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WORKERS = 2


class ServiceLBController:
    def __init__(self, informers: InformerFactory, *, pool: Sequence[str] = ()) -> None:
        self._client = informers.client
        self.pool = tuple(pool)  # fixed addresses to hand out instead of the nodes'
        self.services = informers.informer("", "v1", "services")
        self.nodes = informers.informer("", "v1", "nodes")
        self.queue: WorkQueue[str] = WorkQueue(name="service-lb")
        self.services.on_add(self._service_changed)
        self.services.on_update(lambda old, new: self._service_changed(new))
        self.nodes.on_add(self._node_changed)
        self.nodes.on_update(lambda old, new: self._node_changed(new))
        self.nodes.on_delete(self._node_changed)

    def _service_changed(self, service: Obj) -> None:
        if is_ours(service):
            self.queue.add(key_of(service))

    def _node_changed(self, node: Obj) -> None:
        for service in self.services.items.values():
            self._service_changed(service)

    async def run(self) -> None:
        await run_controller(queue=self.queue, sync=self.sync, workers=WORKERS,
                             informers=(self.services, self.nodes))  # fmt: skip

    async def sync(self, key: str) -> None:
        service = self.services.get(key)
        if service is None or not is_ours(service):
            return
        want = wanted_ingress(service, nodes=node_addresses(self.nodes.items.values()),
                              pool=self.pool)  # fmt: skip
        status = service.get("status") or {}
        if ((status.get("loadBalancer") or {}).get("ingress") or []) == want:
            return
        meta = service["metadata"]
        body = {**service, "status": {**status, "loadBalancer": {"ingress": want} if want else {}}}
        path = resource_path(
            "", "v1", "services", meta.get("namespace", ""), meta["name"], "status"
        )
        try:
            await self._client.update(path, body)
        except ApiStatusError as err:
            if err.code == 404:
                return  # deleted meanwhile
            raise  # a conflict: the cache is behind; retried with back-off
        log.info("service %s: load balancer ingress %s", key, [i["ip"] for i in want] or "removed")
