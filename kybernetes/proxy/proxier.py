"""The service proxy on one node: informers in, nftables rules out (kube-proxy's nftables mode).

Every Service or EndpointSlice event marks its service dirty; one loop
recomputes the rules of the dirty services from the caches (pure: `model`,
`ruleset`) and loads the difference from what it loaded for them last, so
events that arrive while a load runs are folded into the next one and a
change to one service costs the same however many there are. The first sync after
start, one every `resync_period` and the one after any failure replace the
whole table atomically, which rebuilds the rules from the API and repairs
anything changed behind our back. Rules stay in place when the proxy stops
(a restarting proxy must not break traffic); `remove_rules` takes them away
when the node itself goes (`kyb stop`, `kyb delete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.informer import key_of
from kybernetes.client.rest import ApiClient
from kybernetes.proxy.host import (
    DEFAULT_BRIDGE,
    DEFAULT_SERVICE_CIDR,
    CommandError,
    Host,
    stale_udp_flows,
)
from kybernetes.proxy.model import (
    SIMULATED_LABEL,
    ServicePort,
    ports_of,
    slice_service,
    without_nodes,
)
from kybernetes.proxy.ruleset import Ruleset, build_ruleset, diff_script, full_script, merge

__all__ = ["Proxier", "run_proxy"]

log = logging.getLogger(__name__)

# Seconds between full replacements of the table: a backstop against rules changed
# behind our back. Rare on purpose: a replacement starts the ClientIP affinity
# sets afresh (as kube-proxy's hourly full sync is rare).
RESYNC_PERIOD = 3600.0
RETRY_DELAY = 1.0
BY_SERVICE = "proxy-service"  # EndpointSlices by `namespace/service`


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
        self.node_ips = tuple(sorted(set(node_ips)))
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.bridge = bridge
        self.resync_period = resync_period
        self.clock = clock
        self.host = Host(host_netns)
        self.services = informers.informer("", "v1", "services")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        self.slices.add_index(BY_SERVICE, _slice_service_index)
        self.services.on_add(lambda svc: self._mark(key_of(svc)))
        self.services.on_update(lambda old, new: self._mark(key_of(new)))
        self.services.on_delete(lambda svc: self._mark(key_of(svc)))
        self.slices.on_add(lambda eps: self._mark(slice_service(eps)))
        self.slices.on_update(lambda old, new: self._mark(slice_service(old), slice_service(new)))
        self.slices.on_delete(lambda eps: self._mark(slice_service(eps)))
        # Simulated nodes' pods have made-up addresses with no route: traffic must never
        # be sent there (it would follow the machine's default route off the machine).
        self.nodes = informers.informer("", "v1", "nodes")
        self.nodes.on_add(lambda node: self._mark(*self.services.items))
        self._dirty: set[str] = set()  # service keys whose rules may have changed
        self._wake = asyncio.Event()
        self._route_ready = False
        # What the kernel has, per service, as far as we know (None: unknown, load all).
        self._loaded: dict[str, tuple[list[ServicePort], Ruleset]] | None = None
        self.syncs = 0  # loads done (tests and `kyb status`)
        self.synced = asyncio.Event()  # set after the first successful full load

    def _mark(self, *keys: str) -> None:
        self._dirty.update(k for k in keys if k)
        self._wake.set()

    def _service_rules(self, key: str) -> tuple[list[ServicePort], Ruleset]:
        """The ports and rules of one service, from the caches (pure but for the reads)."""
        service = self.services.get(key)
        if service is None:
            return [], Ruleset()
        namespace, _, name = key.partition("/")
        simulated = {n["metadata"]["name"] for n in self.nodes.items.values()
                     if _labels(n).get(SIMULATED_LABEL) == "true"}  # fmt: skip
        found = self.slices.by_index(BY_SERVICE, key)
        slices = {(namespace, name): [without_nodes(eps, simulated) for eps in found]}
        ports = ports_of(service, slices, node_name=self.node_name)
        return ports, build_ruleset(ports, node_ips=self.node_ips, cluster_cidr=self.cluster_cidr)

    def applied(self) -> Ruleset | None:
        """The ruleset loaded last, as far as we know (None: unknown until the next full load)."""
        if self._loaded is None:
            return None
        return merge((rules for _, rules in self._loaded.values()), node_ips=self.node_ips)

    def wanted(self) -> Ruleset:
        """The whole ruleset the caches call for."""
        parts = (self._service_rules(key)[1] for key in sorted(self.services.items))
        return merge(parts, node_ips=self.node_ips)

    async def sync(self, *, full: bool = False) -> None:
        """Make the kernel's rules match the caches (all of them when `full`).

        Only the services marked since the last sync are recomputed and
        diffed, so one change costs the same with 10 services or 10,000.
        """
        dirty, self._dirty = self._dirty, set()
        loaded = self._loaded or {}
        whole = full or self._loaded is None
        keys = set(self.services.items) | set(loaded) if whole else dirty
        fresh = {key: self._service_rules(key) for key in keys}
        now = {} if whole else dict(loaded)
        for key, (ports, rules) in fresh.items():
            if ports:
                now[key] = (ports, rules)
            else:
                now.pop(key, None)
        after = merge((rules for _, rules in fresh.values()), node_ips=self.node_ips)
        if whole:
            script = full_script(after, service_cidr=self.service_cidr)
        else:
            before = merge((loaded[k][1] for k in keys if k in loaded), node_ips=self.node_ips)
            # Services share endpoint addresses: the hairpin set is everyone's, not theirs.
            script = diff_script(dataclasses.replace(before, hairpin=_hairpin(loaded)),
                                 dataclasses.replace(after, hairpin=_hairpin(now)))  # fmt: skip
        try:
            if script:
                await self.host.nft(script)
                self.syncs += 1
        except BaseException:
            self._loaded = None  # unknown state: the next sync replaces everything
            self._dirty |= dirty
            raise
        self._loaded = now
        # The route only once the rules are in: before them, a connection to a
        # cluster IP would leave un-NATed (full_script tells why that lingers).
        await self._prepare_host()
        old_ports = [p for k in keys if k in loaded for p in loaded[k][0]]
        stale = stale_udp_flows(old_ports, [p for ports, _ in fresh.values() for p in ports])
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
        await InformerFactory.wait_synced(self.services, self.slices, self.nodes)
        next_full = self.clock()
        while True:
            full = self._loaded is None or self.clock() >= next_full
            self._wake.clear()
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
                self._wake.set()  # keep trying for the route, gently
                await asyncio.sleep(RETRY_DELAY)
            # Wake for a change, or for the periodic full resync.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_full - self.clock()))


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _hairpin(loaded: dict[str, tuple[list[ServicePort], Ruleset]]) -> frozenset[str]:
    return frozenset().union(*(rules.hairpin for _, rules in loaded.values()))


def _slice_service_index(eps: dict[str, Any]) -> list[str]:
    key = slice_service(eps)
    return [key] if key else []


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
