"""The service proxy on one node: informers in, nftables rules out (kube-proxy's nftables mode).

Every Service or EndpointSlice event marks the rules dirty; one loop
recomputes the wanted ruleset from the caches (pure: `model`, `ruleset`)
and loads the difference from what it loaded last, so events that arrive
while a load runs are folded into the next one. The first sync after
start, one every `resync_period` and the one after any failure replace the
whole table atomically, which rebuilds the rules from the API and repairs
anything changed behind our back. Rules stay in place when the proxy stops
(a restarting proxy must not break traffic); `remove_rules` takes them away
when the node itself goes (`kyb stop`, `kyb delete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient
from kybernetes.proxy.host import (
    DEFAULT_BRIDGE,
    DEFAULT_SERVICE_CIDR,
    CommandError,
    Host,
    stale_udp_flows,
)
from kybernetes.proxy.model import ServicePort, service_ports
from kybernetes.proxy.ruleset import Ruleset, build_ruleset, diff_script, full_script

__all__ = ["Proxier", "run_proxy"]

log = logging.getLogger(__name__)

RESYNC_PERIOD = 300.0  # seconds between full replacements of the table (a backstop)
RETRY_DELAY = 1.0


class Proxier:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        node_name: str,
        node_ips: Iterable[str],
        host_netns: str | None = None,
        cluster_cidr: str | None = None,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        bridge: str = DEFAULT_BRIDGE,
        resync_period: float = RESYNC_PERIOD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_name = node_name
        self.node_ips = tuple(node_ips)
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.bridge = bridge
        self.resync_period = resync_period
        self.clock = clock
        self.host = Host(host_netns)
        self.services = informers.informer("", "v1", "services")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        for informer in (self.services, self.slices):
            informer.on_add(self._changed)
            informer.on_update(lambda old, new: self._changed(new))
            informer.on_delete(self._changed)
        self._dirty = asyncio.Event()
        self._route_ready = False
        self.applied: Ruleset | None = None  # what the kernel has, as far as we know
        self.ports: list[ServicePort] = []
        self.syncs = 0  # loads done (tests and `kyb status`)
        self.synced = asyncio.Event()  # set after the first successful full load

    def _changed(self, obj: dict[str, Any]) -> None:
        self._dirty.set()

    def wanted(self) -> tuple[list[ServicePort], Ruleset]:
        ports = service_ports(self.services.items.values(), self.slices.items.values(),
                              node_name=self.node_name)  # fmt: skip
        return ports, build_ruleset(ports, node_ips=self.node_ips, cluster_cidr=self.cluster_cidr)

    async def sync(self, *, full: bool = False) -> None:
        """Make the kernel's rules match the caches (all of them when `full`)."""
        await self._prepare_host()
        ports, wanted = self.wanted()
        script = (
            full_script(wanted)
            if full or self.applied is None
            else diff_script(self.applied, wanted)
        )
        if script:
            try:
                await self.host.nft(script)
            except BaseException:
                self.applied = None  # unknown state: the next sync replaces everything
                raise
            self.syncs += 1
        self.applied = wanted
        stale, self.ports = stale_udp_flows(self.ports, ports), ports
        if stale:
            await self.host.delete_flows(stale)

    async def _prepare_host(self) -> None:
        if self._route_ready:
            return
        try:
            await self.host.bridge_netfilter()
        except CommandError as err:
            log.warning("proxy: cannot enable bridge netfilter (%s); pod-to-service traffic "
                        "may not be un-NATed", err)  # fmt: skip
        try:
            await self.host.ensure_service_route(service_cidr=self.service_cidr, bridge=self.bridge)
            self._route_ready = True
        except CommandError as err:
            # The kubelet makes the bridge with the first pod; rules go in meanwhile.
            log.info("proxy: no route for %s yet (%s)", self.service_cidr, err)

    async def run(self) -> None:
        await InformerFactory.wait_synced(self.services, self.slices)
        next_full = self.clock()
        while True:
            full = self.applied is None or self.clock() >= next_full
            self._dirty.clear()
            try:
                await self.sync(full=full)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - logged, retried with a full load
                log.warning("proxy: loading the rules failed: %s", err)
                await asyncio.sleep(RETRY_DELAY)
                continue
            if full:
                next_full = self.clock() + self.resync_period
                self.synced.set()
            if not self._route_ready:
                self._dirty.set()  # keep trying for the route, gently
                await asyncio.sleep(RETRY_DELAY)
            # Wake for a change, or for the periodic full resync.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), max(0.0, next_full - self.clock()))


async def run_proxy(
    client: ApiClient,
    *,
    node_name: str,
    node_ips: Iterable[str],
    host_netns: str | None = None,
    cluster_cidr: str | None = None,
    service_cidr: str = DEFAULT_SERVICE_CIDR,
    bridge: str = DEFAULT_BRIDGE,
    resync_period: float = RESYNC_PERIOD,
) -> None:
    """Run the nftables service proxy for node `node_name` until cancelled."""
    informers = InformerFactory(client)
    proxier = Proxier(informers, node_name=node_name, node_ips=node_ips, host_netns=host_netns,
                      cluster_cidr=cluster_cidr, service_cidr=service_cidr, bridge=bridge,
                      resync_period=resync_period)  # fmt: skip
    informers.start()
    try:
        await proxier.run()
    finally:
        await informers.stop()
