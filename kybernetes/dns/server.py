"""The DNS server: UDP and TCP on one address, answers from the view, the rest forwarded.

One query goes: parse (dnspython) → the answer cache → `resolve` against the
informer caches → a finished wire message, all on the event loop without a
single await, so a cluster name costs one parse and a dict lookup when it
is cached. Only forwarding (names outside the cluster, and the target of an
ExternalName outside it) awaits; those run as tasks the server tracks,
bounded in number, and cancels when it stops.

Over UDP an answer is cut to the client's size (512 bytes, or the EDNS
payload it offers, at most 4096) and flagged TC, so the client asks again
over TCP, where an answer may be 64 KiB. TCP connections may carry several
queries and are closed after an idle time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from kybernetes.dns.cache import FORWARD, AnswerCache
from kybernetes.dns.resolve import Answer, ZoneConfig, resolve
from kybernetes.dns.upstream import Upstream, forward
from kybernetes.dns.view import ClusterView

__all__ = ["DnsServer"]

log = logging.getLogger(__name__)

UDP_MIN = 512
UDP_MAX = 4096
TCP_MAX = 65535
OUR_PAYLOAD = 1232
TCP_IDLE = 10.0
MAX_PENDING = 1000  # forwards in flight; past this a UDP query is dropped (the client retries)
BIND_ATTEMPTS = 20


class DnsServer:
    def __init__(
        self,
        view: ClusterView,
        *,
        listen: tuple[str, int],
        upstreams: list[Upstream],
        config: ZoneConfig | None = None,
        forward_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.view = view
        self.config = config or ZoneConfig()
        self.upstreams = upstreams
        self.cache = AnswerCache(ttl=self.config.ttl, clock=clock)
        self._listen = listen
        self._forward_timeout = forward_timeout
        self._clock = clock
        self._wall = wall
        self._serial = (-1, 0)  # (generation, SOA serial): the time of the last change seen
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._streams: set[asyncio.StreamWriter] = set()
        self.address: tuple[str, int] = listen

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen on UDP and TCP (port 0: one free port for both); the bound address."""
        host, port = self._listen
        for _ in range(BIND_ATTEMPTS if port == 0 else 1):
            self._tcp = await asyncio.start_server(self._serve_stream, host, port,
                                                   reuse_address=True)  # fmt: skip
            bound = self._tcp.sockets[0].getsockname()[1]
            try:
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(host, bound),
                    family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                )  # fmt: skip
            except OSError as err:
                self._tcp.close()
                await self._tcp.wait_closed()
                if port != 0 or err.errno != errno.EADDRINUSE:
                    raise
                continue
            self._udp = transport
            self.address = (host, bound)
            log.info("DNS listening on %s:%d (UDP and TCP)", host, bound)
            return self.address
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._streams):
            writer.close()
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(self._pending)
        if self._tcp is not None:
            await self._tcp.wait_closed()

    # -- answering -------------------------------------------------------------------

    def answer_now(self, wire: bytes, *, limit: int | None) -> bytes | dns.message.Message | None:
        """The reply to `wire`, or the parsed query when it must be forwarded, or None (drop).

        `limit`: the largest reply (TCP_MAX over TCP); None over UDP, where the
        client's own limit is read from the query (512, or its EDNS payload).
        """
        # Two queries that differ only in their ID get replies that differ only in
        # theirs: the query's own bytes are the key, so a hit needs no parsing.
        key = (limit, wire[2:])
        cached = self.cache.cluster(key, self.view.generation_of)
        if cached:
            return wire[:2] + cached[2:]
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            return None
        except dns.exception.DNSException:
            return _error(wire, dns.rcode.FORMERR)
        if query.flags & dns.flags.QR:
            return None  # a response is never answered (no loops between servers)
        if query.opcode() != dns.opcode.QUERY:
            return _error(wire, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _error(wire, dns.rcode.FORMERR)
        if query.edns > 0:
            response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
            response.set_rcode(dns.rcode.BADVERS)
            return response.to_wire()
        size = _size(query, limit)
        question = query.question[0]
        if cached == FORWARD:
            return query
        answer = None
        generation = self.view.generation  # read before resolving: a later change retires it
        if question.rdclass == dns.rdataclass.IN:
            answer = resolve(self.view, question.name, question.rdtype, config=self.config,
                             serial=self._soa_serial(generation))  # fmt: skip
        if answer is None:
            self.cache.keep_cluster(key, None, generation, FORWARD)
            return query
        if answer.chase is not None:
            return query  # an ExternalName leaving the cluster: forward() finishes it
        reply = _render(query, answer, size=size, authoritative=True)
        if len(reply) <= UDP_MAX:  # a rare huge TCP answer is rebuilt, not kept
            scoped = self.view.generation_of(answer.scope)
            self.cache.keep_cluster(key, answer.scope, scoped, reply)
        return reply

    async def answer(self, wire: bytes, *, limit: int | None) -> bytes | None:
        """The reply to `wire` (None: no reply), forwarding when needed."""
        now = self.answer_now(wire, limit=limit)
        if not isinstance(now, dns.message.Message):
            return now
        return await self._forwarded(now, size=_size(now, limit))

    async def _forwarded(self, query: dns.message.Message, *, size: int) -> bytes:
        question = query.question[0]
        prefix: list[Any] = []
        name, rdtype = question.name, question.rdtype
        if question.rdclass == dns.rdataclass.IN:
            answer = resolve(self.view, name, rdtype, config=self.config,
                             serial=self._soa_serial(self.view.generation))  # fmt: skip
            if answer is not None and answer.chase is not None:
                prefix, name = answer.answer, answer.chase
        key = (name.to_text().lower(), rdtype, question.rdclass,
               query.ednsflags & dns.flags.DO, query.flags & dns.flags.CD)  # fmt: skip
        kept = self.cache.forwarded(key)
        if kept is None:
            if not self.upstreams:
                return _render(query, Answer(dns.rcode.SERVFAIL), size=size)
            upstream = await forward(
                name, rdtype, question.rdclass, upstreams=self.upstreams,
                per_upstream=self._forward_timeout,
                dnssec_ok=bool(query.ednsflags & dns.flags.DO),
                checking_disabled=bool(query.flags & dns.flags.CD),
            )  # fmt: skip
            if upstream is None:
                return _render(query, Answer(dns.rcode.SERVFAIL), size=size)
            self.cache.keep_forwarded(key, upstream)
            rcode: int = upstream.rcode()
            sections = (upstream.answer, upstream.authority, upstream.additional)
        else:
            rcode, sections = kept.rcode, kept.aged(self._clock())
        answer_, authority, additional = sections
        return _render(query, Answer(rcode, prefix + list(answer_), list(authority),
                                     list(additional)), size=size)  # fmt: skip

    def _soa_serial(self, generation: int) -> int:
        if self._serial[0] != generation:
            self._serial = (generation, int(self._wall()) & 0xFFFFFFFF)
        return self._serial[1]

    # -- transports ------------------------------------------------------------------

    def datagram(self, data: bytes, addr: Any, transport: asyncio.DatagramTransport) -> None:
        reply = self.answer_now(data, limit=None)
        if isinstance(reply, bytes):
            transport.sendto(reply, addr)
        elif reply is not None:
            if len(self._pending) >= MAX_PENDING:
                return
            self._spawn(self._forward_datagram(reply, addr, transport))

    async def _forward_datagram(
        self, query: dns.message.Message, addr: Any, transport: asyncio.DatagramTransport
    ) -> None:
        reply = await self._forwarded(query, size=_size(query, None))
        if not transport.is_closing():
            transport.sendto(reply, addr)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="kyb-dns forward")
        self._pending.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("DNS forwarding failed", exc_info=task.exception())

    async def _serve_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                            ) -> None:  # fmt: skip
        self._streams.add(writer)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE):
                    length = int.from_bytes(await reader.readexactly(2), "big")
                    wire = await reader.readexactly(length)
                reply = await self.answer(wire, limit=TCP_MAX)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away or went quiet: close
        finally:
            self._streams.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._transport is not None:
            self._server.datagram(data, addr, self._transport)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS UDP error: %r", exc)  # an ICMP error from a client that left


def _size(query: dns.message.Message, limit: int | None) -> int:
    """How large the reply may be: the TCP limit, or what the UDP client can take."""
    if limit is not None:
        return limit
    if query.edns >= 0:
        return max(UDP_MIN, min(query.payload, UDP_MAX))
    return UDP_MIN


def _render(query: dns.message.Message, answer: Answer, *, size: int,
            authoritative: bool = False) -> bytes:  # fmt: skip
    response = dns.message.make_response(query, recursion_available=True,
                                         our_payload=OUR_PAYLOAD)  # fmt: skip
    if authoritative:
        response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.Rcode(answer.rcode))
    response.answer = answer.answer
    response.authority = answer.authority
    response.additional = answer.additional
    return response.to_wire(max_size=size, prefer_truncation=True)


def _error(wire: bytes, rcode: int) -> bytes | None:
    """An error reply to a query we could not (or would not) read: header only."""
    if len(wire) < 12:
        return None
    response = dns.message.Message(id=int.from_bytes(wire[:2], "big"))
    response.flags = dns.flags.QR | (int.from_bytes(wire[2:4], "big") & dns.flags.RD)
    response.set_rcode(dns.rcode.Rcode(rcode))
    return response.to_wire()
