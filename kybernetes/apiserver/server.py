"""Assemble and run the API server: TLS, the app, and what must exist at start.

The namespaces every cluster has (`default`, `kube-system`, `kube-public`,
`kube-node-lease`) are created at start if missing, before the server
reports ready, so the first `kubectl get ns` already shows them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kybernetes.apiserver import errors
from kybernetes.apiserver.admission import Admission
from kybernetes.apiserver.allocators import NodePorts, ServiceIPs
from kybernetes.apiserver.auth import AllowAll, Authenticator
from kybernetes.apiserver.crdsync import CrdSync
from kybernetes.apiserver.http import (
    KUBERNETES_VERSION,
    ApiContext,
    end_watches,
    make_handler,
    request_factory,
)
from kybernetes.apiserver.metrics import ApiMetrics, stored_objects
from kybernetes.apiserver.metricsscraper import MetricsScraper
from kybernetes.apiserver.openapi_source import builtin_schemas
from kybernetes.apiserver.pki import ClusterPKI
from kybernetes.apiserver.podlogs import KubeletConnector
from kybernetes.apiserver.resources import ResourceRegistry, builtin_registry
from kybernetes.apiserver.rest import Rest
from kybernetes.apiserver.satokens import TokenSigner
from kybernetes.apiserver.scheduling import BUILTIN_PRIORITY_CLASSES
from kybernetes.apiserver.storage import ObjectStorage
from kybernetes.apiserver.tokenrequest import ServiceAccountTokens
from kybernetes.store import Store
from kybernetes.store.cache import CachingStore

__all__ = ["SYSTEM_NAMESPACES", "ApiServer", "bootstrap", "start_apiserver"]

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SHUTDOWN_TIMEOUT = 5.0
KUBE_DNS_IP = "10.96.0.10"  # DESIGN.md: the cluster DNS address every pod is given


class _Runner(web.ServerRunner):
    """aiohttp's low-level server for the API (routing.py says why): its
    shutdown step ends the watches, after the listeners closed and before
    the requests in flight are waited for, as an app's on_shutdown would."""

    def __init__(self, ctx: ApiContext) -> None:
        server = web.Server(make_handler(ctx), request_factory=request_factory(
            asyncio.get_running_loop()), access_log=None)  # fmt: skip
        super().__init__(server, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self.ctx = ctx

    async def shutdown(self) -> None:
        end_watches(self.ctx)


@dataclass
class ApiServer:
    runner: _Runner
    rest: Rest
    registry: ResourceRegistry
    url: str
    cache: CachingStore
    kubelets: KubeletConnector | None = None
    scraper: MetricsScraper | None = None
    crd_sync: CrdSync | None = None

    async def stop(self) -> None:
        """Stop serving; the store given to start_apiserver stays open."""
        if self.scraper is not None:
            await self.scraper.stop()
        if self.crd_sync is not None:
            await self.crd_sync.stop()
        await self.runner.cleanup()
        await self.cache.stop_caching()
        if self.kubelets is not None:
            await self.kubelets.close()


async def _ensure(
    rest: Rest, plural: str, namespace: str, obj: dict[str, Any], group: str = ""
) -> None:
    rt = rest.registry.lookup(group, "v1", plural)
    assert rt is not None
    try:
        await rest.create(rt, namespace, obj, dry_run=False)
        log.info("created %s %s", plural, obj["metadata"]["name"])
    except errors.ApiError as err:
        if err.reason != "AlreadyExists":
            raise


async def bootstrap(rest: Rest) -> None:
    """What every cluster has: the system namespaces and the `kubernetes` service."""
    for name in SYSTEM_NAMESPACES:
        await _ensure(rest, "namespaces", "", {"metadata": {"name": name}})
    for priority_class in BUILTIN_PRIORITY_CLASSES:
        await _ensure(rest, "priorityclasses", "", priority_class, group="scheduling.k8s.io")
    await _ensure(rest, "services", "default", {
        "metadata": {"name": "kubernetes",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": rest.admission.service_ips.first,
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": 6443}]},
    })  # fmt: skip
    await _ensure_kube_dns(rest)


async def _ensure_kube_dns(rest: Rest) -> None:
    """The cluster DNS Service on its well-known ClusterIP; the DNS component writes its
    endpoints (kybernetes/dns/run.py). A cluster whose services already took that IP keeps
    running without it."""
    try:
        await _ensure(rest, "services", "kube-system", {
            "metadata": {"name": "kube-dns",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS",
                                    "kubernetes.io/cluster-service": "true"}},
            "spec": {"type": "ClusterIP", "clusterIP": KUBE_DNS_IP,
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                                "targetPort": 53}]},
        })  # fmt: skip
    except errors.ApiError as err:
        log.error("cannot create the kube-dns service: %s", err)


async def _put(rest: Rest, plural: str, group: str, namespace: str, obj: dict[str, Any]) -> None:
    """Create `obj`, or replace what is stored under its name (server-owned objects)."""
    rt = rest.registry.lookup(group, "v1", plural)
    assert rt is not None
    name = obj["metadata"]["name"]
    try:
        current = await rest.get(rt, namespace, name, "")
    except errors.ApiError as err:
        if err.code != 404:
            raise
        await rest.create(rt, namespace, obj, dry_run=False)
        return
    merged = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    await rest.update(rt, namespace, name, merged, subresource="", dry_run=False)


async def publish_api_endpoints(rest: Rest, address: str, port: int) -> None:
    """Point the `kubernetes` service at this API server, as kube-apiserver does."""
    port_spec = {"name": "https", "port": port, "protocol": "TCP"}
    service_rt = rest.registry.lookup("", "v1", "services")
    assert service_rt is not None
    service = await rest.get(service_rt, "default", "kubernetes", "")
    if service["spec"]["ports"][0].get("targetPort") != port:
        service["spec"]["ports"][0]["targetPort"] = port
        await rest.update(service_rt, "default", "kubernetes", service, subresource="",
                          dry_run=False)  # fmt: skip
    labels = {"endpointslice.kubernetes.io/skip-mirror": "true"}
    await _put(rest, "endpoints", "", "default", {
        "metadata": {"name": "kubernetes", "labels": labels},
        "subsets": [{"addresses": [{"ip": address}], "ports": [port_spec]}],
    })  # fmt: skip
    await _put(rest, "endpointslices", "discovery.k8s.io", "default", {
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [port_spec],
    })  # fmt: skip


async def start_apiserver(
    *,
    store: Store,
    pki: ClusterPKI,
    host: str,
    port: int,
    advertise_address: str = "127.0.0.1",
    authenticator: Authenticator | None = None,
    proxy_loopback: bool = False,
    shared: bool = False,
    primary: bool = True,
    port_when_told: Awaitable[int] | None = None,
) -> ApiServer:
    """Serve the API over HTTPS on host:port (0: any free port); ready on return.

    `shared`: other processes serve the same port and store (`kyb server
    --api-processes`): the port is bound with SO_REUSEPORT, which spreads
    new connections over the processes, and the CRDs stored by any process
    are followed (crdsync.py). Only the `primary` creates what every cluster
    has and publishes the `kubernetes` service's endpoints. `port_when_told`:
    get ready, then wait for it before listening, on the port it gives."""
    registry = builtin_registry()
    admission = Admission(ServiceIPs(store), NodePorts(store))
    cache = CachingStore(store, [rt.storage_prefix for rt in registry if not rt.computed])
    rest = Rest(ObjectStorage(cache), registry, admission)
    ready = asyncio.Event()
    kubelets = KubeletConnector(pki.admin_cert_pem, pki.admin_key_pem)
    scraper = _metrics_scraper(rest, registry, kubelets)
    ctx = ApiContext(
        registry=registry,
        rest=rest,
        authenticator=authenticator or Authenticator(),
        authorizer=AllowAll(),
        server_address=f"{host}:{port}",
        ready=ready.is_set,
        # The admin identity (system:masters) is what kubelets accept from us.
        kubelets=kubelets,
        resource_metrics=scraper.store,
        metrics=ApiMetrics(
            functools.partial(stored_objects, registry, cache), KUBERNETES_VERSION["gitVersion"]
        ),
        tokens=ServiceAccountTokens(rest, lambda: TokenSigner.load_or_create(pki.directory)),
        proxy_loopback=proxy_loopback,
    )
    runner = _Runner(ctx)
    crd_sync = CrdSync(rest)
    if shared:
        ctx.crd_sync = crd_sync
    try:
        if shared and primary and port:
            _refuse_taken_port(host, port)
        if primary:
            await bootstrap(rest)
        await crd_sync.sync()  # custom resources defined before this start are served again
        await runner.setup()
        builtin_schemas.warm()  # built in a subprocess while the server starts serving
        if port_when_told is not None:
            port = await port_when_told
        site = web.TCPSite(runner, host, port, ssl_context=pki.server_ssl_context(),
                           reuse_port=shared or None)  # fmt: skip
        await site.start()
    except BaseException:
        await runner.cleanup()
        await cache.stop_caching()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    ctx.server_address = f"{bound_host}:{bound_port}"
    if primary:
        await publish_api_endpoints(rest, advertise_address, bound_port)
    if shared:
        crd_sync.start()
    ready.set()
    scraper.start()
    return ApiServer(runner, rest, registry, f"https://{bound_host}:{bound_port}", cache,
                     ctx.kubelets, scraper, ctx.crd_sync)  # fmt: skip


def _refuse_taken_port(host: str, port: int) -> None:
    """OSError (EADDRINUSE) when something listens on the port already: with
    SO_REUSEPORT the bind itself would succeed beside another server that
    set it too, and the two would share the connections unnoticed."""
    socket.create_server((host, port)).close()


def _metrics_scraper(
    rest: Rest, registry: ResourceRegistry, kubelets: KubeletConnector
) -> MetricsScraper:
    """metrics.k8s.io's scraper, reading the nodes from the watch cache."""
    nodes = registry.lookup("", "v1", "nodes")
    assert nodes is not None
    return MetricsScraper(nodes=lambda: rest.storage.cached_list(nodes, ""), kubelets=kubelets)
