"""The DNS server end to end: a real API server, run_dns on loopback, a real DNS client.

The client is dnspython's (UDP and TCP, with and without EDNS); names
outside the cluster go to a fake upstream on 127.0.0.2, never further.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype as T
import orjson
import pytest

from kybernetes.client.rest import ApiClient
from kybernetes.dns import run_dns
from kybernetes.util.tasks import cancel_and_wait
from tests.apiserver.conftest import Cluster, cluster  # noqa: F401 - the fixture
from tests.dns.fake_upstream import FakeUpstream

DEADLINE = 10.0  # well under the 30 s TTL: an answer that changes in time was not cached


@dataclass
class Dns:
    client: ApiClient
    address: tuple[str, int]
    upstream: FakeUpstream

    async def query(self, name: str, rdtype: int = T.A, *, tcp: bool = False,
                    edns: bool = True) -> dns.message.Message:  # fmt: skip
        q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
        host, port = self.address
        if tcp:
            return await dns.asyncquery.tcp(q, host, port=port, timeout=5)
        return await dns.asyncquery.udp(q, host, port=port, timeout=5)

    async def addresses(self, name: str, **kw: Any) -> list[str]:
        response = await self.query(name, **kw)
        return sorted(rd.to_text() for rr in response.answer for rd in rr
                      if rr.rdtype in (T.A, T.AAAA))  # fmt: skip


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def server(cluster: Cluster) -> AsyncIterator[Dns]:  # noqa: F811
    upstream = FakeUpstream()
    where = await upstream.start()
    client = ApiClient.from_kubeconfig(cluster.kubeconfig)
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_dns(client, listen=("127.0.0.1", 0), upstream=[where],
                                       ready=ready))  # fmt: skip
    try:
        address = await asyncio.wait_for(asyncio.shield(ready), 20)
        yield Dns(client, address, upstream)
    finally:
        await cancel_and_wait(task)
        await upstream.stop()
        await client.close()


def svc(name: str, *, ip: str | None = None, headless: bool = False, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}
    if headless:
        body["clusterIP"] = "None"
    elif ip:
        body["clusterIP"] = ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


SERVICES = "/api/v1/namespaces/default/services"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


async def test_kube_dns_service_exists_with_its_ip_and_our_endpoints(
    server: Dns,
    cluster: Cluster,  # noqa: F811
) -> None:
    out = await cluster.kubectl("get", "service", "kube-dns", "-n", "kube-system", "-o", "json")
    spec = orjson.loads(out)["spec"]
    assert spec["clusterIP"] == "10.96.0.10"
    assert {(p["name"], p["port"], p["protocol"]) for p in spec["ports"]} == {
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")}  # fmt: skip
    out = await cluster.kubectl("get", "endpointslice", "kube-dns", "-n", "kube-system",
                                "-o", "json")  # fmt: skip
    slice_ = orjson.loads(out)
    assert slice_["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert {p["port"] for p in slice_["ports"]} == {server.address[1]}
    out = await cluster.kubectl("get", "endpoints", "kube-dns", "-n", "kube-system")
    assert f"127.0.0.1:{server.address[1]}" in out
    # and the DNS server names itself
    assert await server.addresses("kube-dns.kube-system.svc.cluster.local.") == ["10.96.0.10"]


async def test_a_record_follows_the_service_never_the_cache(server: Dns) -> None:
    name = "web.default.svc.cluster.local."
    nx = await server.query(name)
    assert nx.rcode() == dns.rcode.NXDOMAIN  # and now that "no" is cached...
    await server.client.create(SERVICES, svc("web", ip="10.96.100.1"))

    async def answers(ip: str) -> bool:
        return await server.addresses(name) == [ip]

    await eventually(lambda: answers("10.96.100.1"), "the new service's A record")
    response = await server.query(name)
    assert response.answer[0].ttl == 30 and response.flags & dns.flags.AA
    # a new ClusterIP (delete and recreate): the answer changes although 30 s have not passed
    await server.client.delete(f"{SERVICES}/web")
    await eventually(lambda: _rcode_is(server, name, dns.rcode.NXDOMAIN), "NXDOMAIN after delete")
    await server.client.create(SERVICES, svc("web", ip="10.96.100.2"))
    await eventually(lambda: answers("10.96.100.2"), "the recreated service's A record")
    assert await server.addresses(name, tcp=True) == ["10.96.100.2"]


async def _rcode_is(server: Dns, name: str, rcode: int) -> bool:
    return (await server.query(name)).rcode() == rcode


def _slice(service: str, ips: list[str], *, hostnames: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-1", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": i != 1},
                       **({"hostname": f"{service}-{i}"} if hostnames else {})}
                      for i, ip in enumerate(ips)],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }  # fmt: skip


async def test_headless_service_srv_hostnames_and_ptr(server: Dns) -> None:
    await server.client.create(SERVICES, svc("db", headless=True))
    await server.client.create(
        SLICES, _slice("db", ["10.244.0.10", "10.244.0.11", "10.244.0.12"], hostnames=True)
    )
    await server.client.create(SERVICES, svc("api", ip="10.96.100.7"))
    name = "db.default.svc.cluster.local."

    async def all_ready() -> bool:  # endpoint 1 is not ready
        return await server.addresses(name) == ["10.244.0.10", "10.244.0.12"]

    await eventually(all_ready, "every ready endpoint of the headless service")
    assert await server.addresses("db-2.db.default.svc.cluster.local.") == ["10.244.0.12"]
    srv = await server.query("_http._tcp.db.default.svc.cluster.local.", T.SRV)
    assert sorted(rd.to_text() for rr in srv.answer for rd in rr) == [
        "0 50 8080 db-0.db.default.svc.cluster.local.",
        "0 50 8080 db-2.db.default.svc.cluster.local."]  # fmt: skip
    await eventually(lambda: _has_answer(server, "7.100.96.10.in-addr.arpa.", T.PTR), "PTR")
    ptr = await server.query("7.100.96.10.in-addr.arpa.", T.PTR)
    assert [rd.to_text() for rr in ptr.answer for rd in rr] == ["api.default.svc.cluster.local."]
    ptr = await server.query("10.0.244.10.in-addr.arpa.", T.PTR)
    assert [rd.to_text() for rr in ptr.answer for rd in rr] == [
        "db-0.db.default.svc.cluster.local."
    ]
    srv = await server.query("_http._tcp.api.default.svc.cluster.local.", T.SRV, tcp=True)
    assert [rd.to_text() for rr in srv.answer for rd in rr] == [
        "0 100 80 api.default.svc.cluster.local."]  # fmt: skip
    # NODATA: the name exists, not with this type
    nodata = await server.query("api.default.svc.cluster.local.", T.AAAA)
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert [rr.rdtype for rr in nodata.authority] == [T.SOA]


async def _has_answer(server: Dns, name: str, rdtype: int) -> bool:
    return bool((await server.query(name, rdtype)).answer)


async def test_large_answers_are_truncated_over_udp_and_whole_over_tcp(server: Dns) -> None:
    ips = [f"10.244.1.{i}" for i in range(2, 62)]
    await server.client.create(SERVICES, svc("many", headless=True))
    await server.client.create(SLICES, _slice("many", ips))
    name = "many.default.svc.cluster.local."
    await eventually(lambda: _has_answer(server, name, T.A), "the headless service's records")
    q = dns.message.make_query(name, T.A)  # no EDNS: 512 bytes at most
    raw = await dns.asyncquery.udp(q, server.address[0], port=server.address[1], timeout=5,
                                   raise_on_truncation=False)  # fmt: skip
    assert raw.flags & dns.flags.TC
    whole = await server.addresses(name, tcp=True)
    assert len(whole) == len(ips) - 1  # one is not ready


async def test_outside_names_go_to_the_upstream(server: Dns) -> None:
    assert await server.addresses("example.org.") == ["192.0.2.1"]
    assert server.upstream.queries["udp"] == 1
    assert await server.addresses("EXAMPLE.org.") == ["192.0.2.1"]  # cached
    assert server.upstream.queries["udp"] == 1
    # no search list in the server: a short name is the upstream's, which says NXDOMAIN
    assert (await server.query("web.default.")).rcode() == dns.rcode.NXDOMAIN
    # the upstream truncates over UDP: the server asks it again over TCP
    big = await server.query("big.example.org.", T.TXT, tcp=True)
    assert len(big.answer[0]) == 30 and server.upstream.queries["tcp"] >= 1
    small = dns.message.make_query("big.example.org.", T.TXT)
    raw = await dns.asyncquery.udp(small, server.address[0], port=server.address[1], timeout=5)
    assert raw.flags & dns.flags.TC  # and to a 512-byte client we are the one truncating


async def test_external_name_is_a_cname_followed_upstream(server: Dns) -> None:
    await server.client.create(SERVICES, svc("ext", type="ExternalName",
                                             externalName="example.org"))  # fmt: skip
    name = "ext.default.svc.cluster.local."
    await eventually(lambda: _has_answer(server, name, T.A), "the ExternalName's answer")
    answer = await server.query(name)
    assert [(rr.rdtype, rd.to_text()) for rr in answer.answer for rd in rr] == [
        (T.CNAME, "example.org."), (T.A, "192.0.2.1")]  # fmt: skip


async def test_a_stopped_server_takes_back_the_kube_dns_endpoints(cluster: Cluster) -> None:  # noqa: F811
    client = ApiClient.from_kubeconfig(cluster.kubeconfig)
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_dns(client, listen=("127.0.0.1", 0), upstream=[],
                                       ready=ready))  # fmt: skip
    slice_path = "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns"
    try:
        await asyncio.wait_for(asyncio.shield(ready), 20)
        assert (await client.get(slice_path))["endpoints"][0]["addresses"] == ["127.0.0.1"]
    finally:
        await cancel_and_wait(task)
    out = await cluster.kubectl("get", "endpointslices,endpoints", "-n", "kube-system",
                                "--ignore-not-found", "-o", "name")  # fmt: skip
    assert "kube-dns" not in out
    await client.close()
