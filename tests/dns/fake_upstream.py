"""A stand-in for the node's resolver on 127.0.0.2: fixed answers, UDP and TCP.

`example.org` has an A record, `big.example.org` has more TXT than fits in
512 bytes (over UDP it answers TC, as a real resolver does), everything
else is NXDOMAIN. It counts the queries it gets per transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

HOST = "127.0.0.2"


def _reply(wire: bytes, *, udp: bool) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text().lower()
    if name == "example.org." and question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", "192.0.2.1"))
    elif name == "big.example.org.":
        texts = [f'"record {i:03d} {"x" * 40}"' for i in range(30)]
        response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "TXT", texts))
    elif name != "example.org.":
        response.set_rcode(dns.rcode.NXDOMAIN)
        soa = "a0.org. hostmaster.org. 1 7200 900 1209600 3600"
        response.authority.append(dns.rrset.from_text("org.", 900, "IN", "SOA", soa))
    return response.to_wire(max_size=512 if udp else 65535, prefer_truncation=udp)


class FakeUpstream:
    def __init__(self) -> None:
        self.queries = {"udp": 0, "tcp": 0}
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> str:
        self._tcp = await asyncio.start_server(self._stream, HOST, 0)
        self.port = self._tcp.sockets[0].getsockname()[1]
        upstream = self

        class Proto(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                upstream.queries["udp"] += 1
                self.transport.sendto(_reply(data, udp=True), addr)

        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(Proto, local_addr=(HOST, self.port))
        return f"{HOST}:{self.port}"

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length = int.from_bytes(await reader.readexactly(2), "big")
            self.queries["tcp"] += 1
            reply = _reply(await reader.readexactly(length), udp=False)
            writer.write(len(reply).to_bytes(2, "big") + reply)
            await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
