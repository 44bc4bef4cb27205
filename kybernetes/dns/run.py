"""The cluster DNS component: `run_dns`, and the endpoints of the kube-dns Service.

Traffic for the kube-dns ClusterIP (10.96.0.10:53) reaches this server the
way any Service's traffic reaches its pods: the service proxy sends it to
the Service's endpoints. kube-dns has no selector (the API server creates it
at bootstrap with its fixed ClusterIP), so this component writes its
endpoints itself, as the API server does for `kubernetes`: an Endpoints
(marked not to be mirrored) and an EndpointSlice naming the address the
server listens on, with ports `dns` (UDP) and `dns-tcp` (TCP) on the
listening port. A server listening on every address (0.0.0.0) publishes the
`advertise` address it is given, or nothing. One DNS server per cluster:
a second would replace the first's endpoints. On a clean stop the server
takes its endpoints back, so clients are refused at once rather than left
to time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from pathlib import Path
from typing import Any

import aiohttp

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient, ApiStatusError, resource_path
from kybernetes.dns.resolve import ZoneConfig
from kybernetes.dns.server import DnsServer
from kybernetes.dns.upstream import parse_upstream, resolv_conf_nameservers
from kybernetes.dns.view import SERVICE_NAME_LABEL, ClusterView

__all__ = ["DNS_NAMESPACE", "DNS_SERVICE", "publish_endpoints", "run_dns", "withdraw_endpoints"]

log = logging.getLogger(__name__)

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
MANAGED_BY = "kybernetes.io/dns"
WITHDRAW_TIMEOUT = 2.0
PUBLISH_RETRY = 0.5


def _endpoints_bodies(address: str, port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    ports = [{"name": "dns", "port": port, "protocol": "UDP"},
             {"name": "dns-tcp", "port": port, "protocol": "TCP"}]  # fmt: skip
    family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE,
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": ports}],
    }  # fmt: skip
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": DNS_SERVICE, "namespace": DNS_NAMESPACE,
                     "labels": {SERVICE_NAME_LABEL: DNS_SERVICE,
                                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": family,
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": ports,
    }  # fmt: skip
    return endpoints, slice_


async def _put(client: ApiClient, group: str, plural: str, body: dict[str, Any]) -> None:
    version = "v1"
    path = resource_path(group, version, plural, DNS_NAMESPACE)
    name = body["metadata"]["name"]
    for _ in range(5):
        try:
            current = await client.get(f"{path}/{name}")
        except ApiStatusError as err:
            if err.code != 404:
                raise
            try:
                await client.create(path, body)
                return
            except ApiStatusError as err2:
                if err2.reason != "AlreadyExists":
                    raise
                continue
        merged = {**current, **{k: v for k, v in body.items() if k != "metadata"}}
        merged["metadata"] = {**current["metadata"],
                              "labels": {**(current["metadata"].get("labels") or {}),
                                         **body["metadata"]["labels"]}}  # fmt: skip
        try:
            await client.update(f"{path}/{name}", merged)
            return
        except ApiStatusError as err:
            if err.code != 409:
                raise
    raise RuntimeError(f"could not write {plural} {DNS_NAMESPACE}/{name}: kept conflicting")


async def publish_endpoints(client: ApiClient, *, address: str, port: int) -> None:
    """Point the kube-dns Service at address:port (Endpoints and EndpointSlice)."""
    endpoints, slice_ = _endpoints_bodies(address, port)
    await _put(client, "", "endpoints", endpoints)
    await _put(client, "discovery.k8s.io", "endpointslices", slice_)


async def withdraw_endpoints(client: ApiClient, *, address: str) -> None:
    """Delete the kube-dns endpoints if they still name `address` (ours, not a successor's)."""
    for group, plural in (("discovery.k8s.io", "endpointslices"), ("", "endpoints")):
        path = resource_path(group, "v1", plural, DNS_NAMESPACE, DNS_SERVICE)
        try:
            current = await client.get(path)
        except ApiStatusError:
            continue
        named = {a for e in current.get("endpoints") or [] for a in e.get("addresses") or []}
        named |= {a.get("ip") for s in current.get("subsets") or []
                  for a in s.get("addresses") or []}  # fmt: skip
        if named == {address}:
            with contextlib.suppress(ApiStatusError):
                await client.delete(path)


async def _publish_until_done(client: ApiClient, *, address: str, port: int) -> None:
    """Publish, retrying while the API is unreachable: DNS is useless unpublished."""
    delay = PUBLISH_RETRY
    while True:
        try:
            await publish_endpoints(client, address=address, port=port)
            return
        except (ApiStatusError, aiohttp.ClientError, TimeoutError) as err:
            log.warning("cannot publish the kube-dns endpoints (%s); retrying", err)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


def _unspecified(host: str) -> bool:
    return ipaddress.ip_address(host).is_unspecified


async def run_dns(
    client: ApiClient,
    *,
    listen: tuple[str, int],
    upstream: list[str] | None = None,
    advertise: str | None = None,
    informers: InformerFactory | None = None,
    config: ZoneConfig | None = None,
    resolv_conf: Path = Path("/etc/resolv.conf"),
    ready: asyncio.Future[tuple[str, int]] | None = None,
) -> None:
    """Serve cluster DNS on `listen` (UDP and TCP) until cancelled.

    `upstream`: resolvers for names outside the cluster ("ip" or "ip:port");
    None reads the nameservers of `resolv_conf`. `advertise`: the address
    written into the kube-dns endpoints (default: the listen address, unless
    it is 0.0.0.0/::). `informers`: a shared factory (default: its own).
    `ready` gets the bound address once the server answers.
    """
    config = config or ZoneConfig()
    own = informers is None
    factory = informers or InformerFactory(client)
    view = ClusterView.from_factory(factory, pods=config.pod_mode == "verified")
    mine = {listen[0], *config.dns_ips}
    if upstream is not None:
        upstreams = [parse_upstream(u) for u in upstream]
    else:
        text = await asyncio.to_thread(_read, resolv_conf)
        upstreams = resolv_conf_nameservers(text, exclude=mine)
    upstreams = [u for u in upstreams if (u.host, u.port) != listen]
    if not upstreams:
        log.warning("DNS: no upstream resolvers: names outside %s get SERVFAIL", config.domain)
    factory.start()
    server = DnsServer(view, listen=listen, upstreams=upstreams, config=config)
    published = ""
    try:
        await InformerFactory.wait_synced(*view.informers)
        host, port = await server.start()
        published = advertise or ("" if _unspecified(host) else host)
        if published:
            await _publish_until_done(client, address=published, port=port)
        else:
            log.warning("DNS listens on %s: no address to publish for kube-dns", host)
        if ready is not None and not ready.done():
            ready.set_result((host, port))
        await asyncio.Event().wait()
    finally:
        await server.stop()
        if published:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(WITHDRAW_TIMEOUT):
                    await withdraw_endpoints(client, address=published)
        if own:
            await factory.stop()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
