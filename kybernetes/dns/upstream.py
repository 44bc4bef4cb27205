"""Forwarding what is not the cluster's to the node's own resolvers.

The upstreams are the `nameserver` lines of the node's /etc/resolv.conf
(kube-dns and CoreDNS' `forward . /etc/resolv.conf` do the same), minus
any that is this server itself, which would loop. Each upstream is tried in
order with a timeout; an upstream UDP answer with TC set is asked again over
TCP. A fresh query with a random ID goes upstream, never the client's own
message, so the client's ID and flags are nobody else's business.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

__all__ = ["Upstream", "forward", "parse_upstream", "resolv_conf_nameservers"]

log = logging.getLogger(__name__)

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 figure: no IP fragmentation


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_upstream(text: str) -> Upstream:
    """`1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return Upstream(str(ipaddress.ip_address(host)), int(port.lstrip(":") or 53))
    if text.count(":") == 1:
        host, port = text.split(":")
        return Upstream(str(ipaddress.ip_address(host)), int(port))
    return Upstream(str(ipaddress.ip_address(text)))


def resolv_conf_nameservers(text: str, *, exclude: Iterable[str] = ()) -> list[Upstream]:
    """The nameservers of a resolv.conf, without the addresses in `exclude`."""
    skip = set(exclude)
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                upstream = parse_upstream(words[1].split("%", 1)[0])
            except ValueError:
                continue
            if upstream.host not in skip and upstream not in found:
                found.append(upstream)
    return found


async def forward(
    qname: dns.name.Name,
    rdtype: int,
    rdclass: int,
    *,
    upstreams: list[Upstream],
    per_upstream: float,
    dnssec_ok: bool = False,
    checking_disabled: bool = False,
) -> dns.message.Message | None:
    """The first answer an upstream gives (UDP, TCP when truncated); None: none answered."""
    query = dns.message.make_query(
        qname,
        dns.rdatatype.RdataType(rdtype),
        dns.rdataclass.RdataClass(rdclass),
        use_edns=0,
        payload=EDNS_PAYLOAD,
        want_dnssec=dnssec_ok,
    )
    if checking_disabled:
        query.flags |= dns.flags.CD
    for upstream in upstreams:
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query,
                upstream.host,
                timeout=per_upstream,
                port=upstream.port,
                ignore_unexpected=True,
            )
        except (dns.exception.DNSException, OSError) as err:
            log.debug("upstream %s did not answer %s: %r", upstream, qname, err)
            continue
        return response
    return None
