"""Userspace mode: an asyncio TCP/UDP proxy per service frontend (no nftables, no root).

For the `process` runtime and machines without nftables. Every frontend of
a service port — cluster IP, node port on each node address, external IPs,
load-balancer addresses — is a listening socket in this process; a new
connection (or a new UDP client) goes to a ready endpoint in round-robin
order, skipping to the next one when an endpoint refuses, and a service
with no endpoints closes the connection at once (reset). It keeps what it
can of the nftables mode's semantics: ClientIP affinity with its timeout,
the Local traffic policies. It cannot keep the client's address (the
endpoint sees this process), and a cluster IP is only served where it is a
local address: `alias_cluster_ips` adds each one to `lo` (root; the machine's
own namespace) — otherwise cluster IPs are skipped with a warning and node
ports and external addresses still work.

`frontends` (pure) is the wanted set of listeners; `reconcile` opens and
closes sockets to match it, and endpoint changes swap the endpoint list a
listener reads at each new connection, so they never drop open ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.client.factory import InformerFactory
from kybernetes.client.rest import ApiClient
from kybernetes.proxy.model import Endpoint, ServicePort, service_ports

__all__ = ["Frontend", "Picker", "UserspaceProxier", "frontends", "run_userspace_proxy"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
UDP_IDLE = 30.0  # seconds a UDP client's upstream socket lives without traffic
Key = tuple[str, str, int]  # (address, protocol, port)


@dataclass
class Frontend:
    """One listening address and where its traffic goes."""

    service: str  # ServicePort.id, for logs
    endpoints: tuple[Endpoint, ...]
    affinity_timeout: int = 0


def frontends(ports: Iterable[ServicePort], *, node_ips: Iterable[str]) -> dict[Key, Frontend]:
    """Every listener the service ports call for, with the endpoints each may use (pure)."""
    wanted: dict[Key, Frontend] = {}
    addresses = sorted(set(node_ips))
    for port in ports:
        internal = port.local_endpoints if port.internal_local else port.endpoints
        external = port.local_endpoints if port.external_local else port.endpoints
        wanted[(port.cluster_ip, port.protocol, port.port)] = Frontend(
            port.id, internal, port.affinity_timeout
        )
        outside = [(ip, port.port) for ip in (*port.external_ips, *port.load_balancer_ips)]
        if port.node_port:
            outside += [(ip, port.node_port) for ip in addresses]
        for ip, number in outside:
            wanted[(ip, port.protocol, number)] = Frontend(port.id, external, port.affinity_timeout)
    return {k: v for k, v in wanted.items() if k[1] in ("tcp", "udp")}


@dataclass
class Picker:
    """Round-robin over a frontend's endpoints, with ClientIP affinity (clock injected)."""

    clock: Callable[[], float] = time.monotonic
    _next: dict[str, int] = field(default_factory=dict)
    _affinity: dict[tuple[str, str], tuple[Endpoint, float]] = field(default_factory=dict)

    def order(self, frontend: Frontend, client_ip: str) -> list[Endpoint]:
        """Endpoints to try, in order: the client's affine endpoint first, then round-robin."""
        endpoints = list(frontend.endpoints)
        if not endpoints:
            return []
        start = self._next.get(frontend.service, 0) % len(endpoints)
        self._next[frontend.service] = start + 1
        ordered = endpoints[start:] + endpoints[:start]
        if frontend.affinity_timeout:
            known = self._affinity.get((frontend.service, client_ip))
            if known and known[1] > self.clock() and known[0] in ordered:
                ordered.remove(known[0])
                ordered.insert(0, known[0])
        return ordered

    def used(self, frontend: Frontend, client_ip: str, endpoint: Endpoint) -> None:
        if frontend.affinity_timeout:
            expires = self.clock() + frontend.affinity_timeout
            self._affinity[(frontend.service, client_ip)] = (endpoint, expires)


class _Udp(asyncio.DatagramProtocol):
    """One UDP frontend: a socket upstream per client, closed after `UDP_IDLE` of silence."""

    def __init__(self, proxier: UserspaceProxier, key: Key) -> None:
        self.proxier, self.key = proxier, key
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], tuple[asyncio.DatagramTransport, Endpoint]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        frontend = self.proxier.frontends.get(self.key)
        if flow is not None and frontend is not None and flow[1] in frontend.endpoints:
            flow[0].sendto(data)
            return
        if frontend is None or not frontend.endpoints:
            return  # nothing to send it to: dropped, as UDP is
        self.proxier.spawn(self._open(frontend, addr, data), f"udp flow {addr}")

    async def _open(self, frontend: Frontend, addr: tuple[str, int], data: bytes) -> None:
        endpoint = self.proxier.picker.order(frontend, addr[0])[0]
        self.proxier.picker.used(frontend, addr[0], endpoint)
        loop = asyncio.get_running_loop()
        old = self.flows.pop(addr, None)
        if old:
            old[0].close()
        upstream, _ = await loop.create_datagram_endpoint(
            lambda: _UdpReply(self, addr), remote_addr=(endpoint.ip, endpoint.port)
        )
        self.flows[addr] = (upstream, endpoint)
        upstream.sendto(data)

    def close(self) -> None:
        for upstream, _ in self.flows.values():
            upstream.close()
        if self.transport:
            self.transport.close()


class _UdpReply(asyncio.DatagramProtocol):
    def __init__(self, frontend: _Udp, client: tuple[str, int]) -> None:
        self.frontend, self.client = frontend, client
        self.transport: asyncio.DatagramTransport | None = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport
        self._touch()

    def _touch(self) -> None:
        if self.idle:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(UDP_IDLE, self._expire)

    def _expire(self) -> None:
        if self.transport:
            self.transport.close()
        flow = self.frontend.flows.get(self.client)
        if flow and flow[0] is self.transport:
            del self.frontend.flows[self.client]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._touch()
        if self.frontend.transport:
            self.frontend.transport.sendto(data, self.client)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0): the client sees "connection refused/reset" now."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class UserspaceProxier:
    def __init__(
        self,
        informers: InformerFactory,
        *,
        node_name: str,
        node_ips: Iterable[str],
        alias_cluster_ips: bool = False,
        picker: Picker | None = None,
    ) -> None:
        self.node_name = node_name
        self.node_ips = tuple(node_ips)
        self.alias_cluster_ips = alias_cluster_ips
        self.picker = picker or Picker()
        self.services = informers.informer("", "v1", "services")
        self.slices = informers.informer("discovery.k8s.io", "v1", "endpointslices")
        for informer in (self.services, self.slices):
            informer.on_add(self._changed)
            informer.on_update(lambda old, new: self._changed(new))
            informer.on_delete(self._changed)
        self._wake = asyncio.Event()
        self.frontends: dict[Key, Frontend] = {}
        self.listeners: dict[Key, asyncio.Server | _Udp] = {}
        self._unbindable: set[Key] = set()  # warned about once
        self._tasks: set[asyncio.Task[None]] = set()

    def _changed(self, obj: dict[str, Any]) -> None:
        self._wake.set()

    def spawn(self, coro: Any, name: str) -> None:
        """A connection's task: kept, so it is cancelled when the proxy stops."""
        task = asyncio.get_running_loop().create_task(coro, name=f"kyb-userspace {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("userspace proxy: %s failed: %r", task.get_name(), task.exception())

    async def reconcile(self) -> None:
        ports = service_ports(self.services.items.values(), self.slices.items.values(),
                              node_name=self.node_name)  # fmt: skip
        self.frontends = frontends(ports, node_ips=self.node_ips)
        for key in [k for k in self.listeners if k not in self.frontends]:
            listener = self.listeners.pop(key)
            listener.close()
        cluster_ips = {p.cluster_ip for p in ports}
        for key in self.frontends:
            if key in self.listeners:
                continue
            try:
                self.listeners[key] = await self._listen(key, cluster=key[0] in cluster_ips)
                self._unbindable.discard(key)
            except OSError as err:
                if key not in self._unbindable:
                    log.warning("userspace proxy: cannot listen on %s %s:%d: %s",
                                key[1], key[0], key[2], err)  # fmt: skip
                    self._unbindable.add(key)

    async def _listen(self, key: Key, *, cluster: bool) -> asyncio.Server | _Udp:
        ip = key[0]
        try:
            return await self._bind(key)
        except OSError as err:
            if err.errno != errno.EADDRNOTAVAIL or not (cluster and self.alias_cluster_ips):
                raise
        # The cluster IP is not an address of this machine: make it one, on lo.
        process = await asyncio.create_subprocess_exec(
            "ip", "addr", "replace", f"{ip}/32", "dev", "lo",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await process.wait()
        return await self._bind(key)

    async def _bind(self, key: Key) -> asyncio.Server | _Udp:
        ip, proto, port = key
        if proto == "udp":
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self, key), local_addr=(ip, port), reuse_port=False
            )
            return protocol
        return await asyncio.start_server(
            lambda r, w: self.spawn(self._tcp(key, r, w), f"tcp {ip}:{port}"),
            host=ip, port=port, reuse_address=True,
        )  # fmt: skip

    async def _tcp(self, key: Key, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:  # fmt: skip
        client = writer.get_extra_info("peername") or ("", 0)
        frontend = self.frontends.get(key)
        upstream = None
        for endpoint in self.picker.order(frontend, client[0]) if frontend else []:
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(endpoint.ip, endpoint.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                continue  # refused or unreachable: the next endpoint
            assert frontend is not None
            self.picker.used(frontend, client[0], endpoint)
            break
        if upstream is None:
            _reset(writer)  # no endpoint took it: refuse at once, not a timeout
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    async def run(self) -> None:
        await InformerFactory.wait_synced(self.services, self.slices)
        try:
            while True:
                self._wake.clear()
                await self.reconcile()
                await self._wake.wait()
        finally:
            for listener in self.listeners.values():
                listener.close()
            self.listeners.clear()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks))


async def run_userspace_proxy(
    client: ApiClient,
    *,
    node_name: str,
    node_ips: Iterable[str],
    alias_cluster_ips: bool = False,
) -> None:
    """Run the userspace service proxy for node `node_name` until cancelled."""
    informers = InformerFactory(client)
    proxier = UserspaceProxier(informers, node_name=node_name, node_ips=node_ips,
                               alias_cluster_ips=alias_cluster_ips)  # fmt: skip
    informers.start()
    try:
        await proxier.run()
    finally:
        await informers.stop()
