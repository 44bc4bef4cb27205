"""The ingress controller: informers in, a routing table and Ingress statuses out.

Unlike the workload controllers there is no per-key work: every change to an
Ingress, IngressClass, Service, EndpointSlice or Secret only marks the table
stale, and one loop rebuilds the whole table from the caches (a pure
function, `routes.build_routes`), loads the certificates it names, and swaps
it into the proxy in one assignment. Rebuilding is cheap next to an HTTP
request and coalesces bursts of events; an open connection never notices.

The same loop writes `status.loadBalancer.ingress` of each Ingress of our
class when it does not already name the node's address; a failed write is
tried again on the next pass (at most a second later).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import Informer
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.ingress.certificates import CertificateCache, self_signed, server_context
from kybernetes.ingress.classes import (
    CLASS_NAME,
    belongs_to_class,
    ingress_class,
    is_default_class,
    status_patch,
)
from kybernetes.ingress.proxy import IngressProxy, Routing
from kybernetes.ingress.routes import RouteTable, build_routes

__all__ = ["IngressController", "run_ingress"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RETRY_DELAY = 1.0
NETWORKING = ("networking.k8s.io", "v1")


class IngressController:
    def __init__(
        self,
        informers: InformerFactory,
        proxy: IngressProxy,
        *,
        address: str,
        class_name: str = CLASS_NAME,
    ) -> None:
        self.client = informers.client
        self.proxy = proxy
        self.address = address
        self.class_name = class_name
        self.ingresses = informers.informer(*NETWORKING, "ingresses")
        self.classes = informers.informer(*NETWORKING, "ingressclasses")
        self.services = informers.informer("", "v1", "services")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        self.secrets = informers.informer("", "v1", "secrets")
        self._stale = asyncio.Event()
        self._certificates = CertificateCache()
        self.table = RouteTable()
        for informer in self._informers():
            informer.on_add(self._changed)
            informer.on_update(self._changed)
            informer.on_delete(self._changed)

    def _informers(self) -> tuple[Informer, ...]:
        return (self.ingresses, self.classes, self.services, self.slices, self.secrets)

    def _changed(self, *_: Obj) -> None:
        self._stale.set()

    def ours(self) -> list[Obj]:
        """The Ingresses of our class, from the cache."""
        default = is_default_class(self.classes.get(self.class_name))
        name = self.class_name
        return [ing for ing in self.ingresses.items.values()
                if belongs_to_class(ing, class_name=name, is_default=default)]  # fmt: skip

    async def ensure_class(self) -> None:
        """Create our IngressClass (marked default) unless it exists; an admin's edits stay."""
        while True:
            try:
                await self.client.create(resource_path(*NETWORKING, "ingressclasses"),
                                         ingress_class(self.class_name))  # fmt: skip
                log.info("created IngressClass %s", self.class_name)
                return
            except ApiStatusError as err:
                if err.code == 409:
                    return
                if err.code < 500:
                    raise
                log.warning("creating IngressClass %s: %s; retrying", self.class_name, err)
            except (aiohttp.ClientError, OSError) as err:
                # The API server may still be starting: the proxy serves meanwhile.
                log.warning("creating IngressClass %s: %s; retrying", self.class_name, err)
            await asyncio.sleep(RETRY_DELAY)

    async def rebuild(self) -> bool:
        """One pass: new table, new certificates, statuses. False if a write must be retried."""
        ours = self.ours()
        table = build_routes(ours, services=self.services.items.values(),
                             endpoint_slices=self.slices.items.values())  # fmt: skip
        wanted = {*table.tls.values(), *([table.tls_default] if table.tls_default else [])}
        if wanted:
            secrets = {key: self.secrets.items[key] for key in wanted if key in self.secrets.items}
            await asyncio.to_thread(self._certificates.refresh, wanted, secrets)
        else:
            self._certificates.refresh((), {})
        self.table = table
        self.proxy.swap(Routing(table, self._certificates.contexts()))
        return await self._write_statuses(ours)

    async def _write_statuses(self, ours: list[Obj]) -> bool:
        done = True
        for ing in ours:
            patch = status_patch(ing, self.address)
            if patch is None:
                continue
            meta = ing["metadata"]
            path = resource_path(*NETWORKING, "ingresses", meta["namespace"], meta["name"],
                                 "status")  # fmt: skip
            try:
                await self.client.patch(path, patch)
            except ApiStatusError as err:
                if err.code != 404:  # a deleted Ingress needs no status
                    log.warning("status of ingress %s/%s: %s", meta["namespace"],
                                meta["name"], err)  # fmt: skip
                    done = False
        return done

    async def run(self) -> None:
        await self.ensure_class()
        await InformerFactory.wait_synced(*self._informers())
        self._stale.set()
        while True:
            await self._stale.wait()
            self._stale.clear()
            try:
                ok = await self.rebuild()
            except (ApiStatusError, aiohttp.ClientError, OSError) as err:
                log.warning("ingress rebuild failed: %s", err)
                ok = False
            if not ok:
                # Something to try again: come back after a pause even without events.
                asyncio.get_running_loop().call_later(RETRY_DELAY, self._stale.set)


async def run_ingress(
    client: ApiClient,
    *,
    http: tuple[str, int] = ("0.0.0.0", 80),
    https: tuple[str, int] = ("0.0.0.0", 443),
    address: str,
) -> None:
    """The ingress component: proxy on `http`/`https`, statuses naming `address`."""
    cert_pem, key_pem = await asyncio.to_thread(self_signed)
    default = await asyncio.to_thread(server_context, cert_pem, key_pem)
    proxy = IngressProxy(http=http, https=https, default_certificate=default)
    informers = InformerFactory(client)
    controller = IngressController(informers, proxy, address=address)
    await proxy.start()
    log.info("ingress listening on http %s, https %s", proxy.http_address, proxy.https_address)
    informers.start()
    try:
        await controller.run()
    finally:
        await informers.stop()
        await proxy.stop()
