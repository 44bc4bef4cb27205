"""Answers for names in the cluster domain: pure, a ClusterView in, records out.

The names and records follow the Kubernetes DNS specification (the one
kube-dns and CoreDNS' kubernetes plugin serve):

- `svc.ns.svc.<domain>`: A/AAAA with the ClusterIPs; for a headless service
  one A/AAAA per ready endpoint (from its EndpointSlices); for an
  ExternalName service a CNAME to `spec.externalName`, followed for the
  client (in the cluster, or by the caller upstream: `Answer.chase`).
- `_port._proto.svc.ns.svc.<domain>`: SRV per named port (priority 0, the
  weights sharing 100), targets the service name or, for headless services,
  each endpoint's name; their addresses go in the additional section.
- `host.svc.ns.svc.<domain>`: an endpoint of a headless service by its
  EndpointSlice hostname (StatefulSet pods: `web-0.web.ns.svc...`), or by its
  dashed IP when it has none.
- `1-2-3-4.ns.pod.<domain>`: a pod's A record ("verified": only while a pod
  of that namespace has the IP; "insecure": any well-formed IP, as kube-dns
  did; "disabled").
- PTR for ClusterIPs, and for endpoint IPs that have a hostname; other
  reverse names are not ours (`resolve` returns None: forward them).
- `dns-version.<domain>` TXT, SOA and NS at the apex.

A name exists when it or a name below it has a record: one that exists
without records of the asked type gets NOERROR with an empty answer
(NODATA), one that does not gets NXDOMAIN; both carry the SOA whose minimum
(short) is the negative-caching TTL. A headless service with no ready
endpoint has no record, so its name does not exist (as with CoreDNS).
Names are matched case-insensitively; the answer's owner keeps the case of
the question. There is no search list here: `web.default.` is outside the
domain and is the forwarder's to answer.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from kybernetes.dns.view import ClusterView, cluster_ips, slice_service

__all__ = ["DNS_SCHEMA_VERSION", "Answer", "ZoneConfig", "endpoint_label", "resolve"]

Obj = dict[str, Any]
A, AAAA, CNAME, PTR, SRV, SOA, NS, TXT, ANY = (
    dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.PTR,
    dns.rdatatype.SRV, dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.TXT,
    dns.rdatatype.ANY,
)  # fmt: skip
DNS_SCHEMA_VERSION = "1.1.0"
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))
MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class ZoneConfig:
    domain: dns.name.Name = field(default_factory=lambda: dns.name.from_text("cluster.local."))
    ttl: int = 30  # kube-dns' figure for every cluster record
    negative_ttl: int = 5  # SOA minimum: how long a resolver may remember a "no"
    dns_ips: tuple[str, ...] = ("10.96.0.10",)  # ns.dns.<domain>: the kube-dns ClusterIP
    pod_mode: str = "verified"  # verified | insecure | disabled


@dataclass
class Answer:
    rcode: int = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    # An ExternalName's target outside the domain: the caller resolves it
    # upstream for the asked type and appends what it gets.
    chase: dns.name.Name | None = None
    # The one namespace whose objects the answer depends on; None: it may
    # depend on any (reverse names, CNAME chains), so any change retires it.
    scope: str | None = None


@dataclass
class _Node:
    """The records one name owns, as (type, rdata text), and additional records."""

    records: list[tuple[int, str]] = field(default_factory=list)
    additional: list[tuple[str, int, str]] = field(default_factory=list)


def resolve(
    view: ClusterView, qname: dns.name.Name, qtype: int, *, config: ZoneConfig, serial: int
) -> Answer | None:
    """The answer for (qname, qtype, IN); None when the name is not ours to answer."""
    if qname.is_subdomain(config.domain):
        return _resolve_in_zone(view, qname, qtype, config=config, serial=serial, depth=0)
    if any(qname.is_subdomain(zone) for zone in REVERSE_ZONES):
        return _reverse(view, qname, qtype, config=config)
    return None


def _resolve_in_zone(
    view: ClusterView, qname: dns.name.Name, qtype: int, *, config: ZoneConfig, serial: int,
    depth: int,
) -> Answer:  # fmt: skip
    labels = [label.decode("ascii", "replace").lower()
              for label in qname.relativize(config.domain).labels]  # fmt: skip
    # `x.ns.svc` and `x.ns.pod` answers read only namespace ns (services, slices, pods).
    scope = labels[-2] if len(labels) >= 2 and labels[-1] in ("svc", "pod") else None
    node = _node(view, labels, config=config, serial=serial)
    if node is None:
        return Answer(dns.rcode.NXDOMAIN, authority=[_soa(config, serial)], scope=scope)
    cname = [text for rdtype, text in node.records if rdtype == CNAME]
    if cname and qtype not in (CNAME, ANY):
        return _follow(view, qname, qtype, cname[0], config=config, serial=serial, depth=depth)
    wanted = [(t, text) for t, text in node.records if qtype in (t, ANY)]
    if not wanted:
        return Answer(authority=[_soa(config, serial)], scope=scope)
    answer = Answer(answer=_rrsets(qname, wanted, config.ttl), scope=scope)
    targets = {text.split()[-1] for t, text in wanted if t in (SRV, NS)}
    extra = [(owner, t, text) for owner, t, text in node.additional if owner in targets]
    for owner in sorted({owner for owner, _, _ in extra}):
        answer.additional += _rrsets(
            dns.name.from_text(owner), [(t, x) for o, t, x in extra if o == owner], config.ttl
        )
    return answer


def _follow(
    view: ClusterView, qname: dns.name.Name, qtype: int, target_text: str, *,
    config: ZoneConfig, serial: int, depth: int,
) -> Answer:  # fmt: skip
    """A CNAME answers every type: give it, then what its target has of the asked type."""
    link = _rrsets(qname, [(CNAME, target_text)], config.ttl)
    target = dns.name.from_text(target_text)
    if not target.is_subdomain(config.domain):
        return Answer(answer=link, chase=target)
    if depth >= MAX_CNAME_CHAIN:
        return Answer(dns.rcode.SERVFAIL, answer=link)
    rest = _resolve_in_zone(view, target, qtype, config=config, serial=serial, depth=depth + 1)
    rest.answer = link + rest.answer
    rest.scope = None  # the chain may cross namespaces
    return rest


def _rrsets(owner: dns.name.Name, records: Iterable[tuple[int, str]], ttl: int) -> list[Any]:
    by_type: dict[int, list[str]] = {}
    for rdtype, text in records:
        texts = by_type.setdefault(rdtype, [])
        if text not in texts:
            texts.append(text)
    return [
        dns.rrset.from_text_list(owner, ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(t), texts)
        for t, texts in by_type.items()
    ]


@functools.lru_cache(maxsize=4)
def _soa(config: ZoneConfig, serial: int) -> Any:
    # Kept per serial: parsing an SOA from text costs more than the rest of an answer.
    domain = config.domain.to_text()
    text = (f"ns.dns.{domain} hostmaster.{domain} {serial} 7200 1800 86400 "
            f"{config.negative_ttl}")  # fmt: skip
    return dns.rrset.from_text(config.domain, config.negative_ttl, dns.rdataclass.IN, SOA, text)


def _address(ip: str) -> tuple[int, str]:
    return (AAAA if ":" in ip else A, ip)


def _node(view: ClusterView, labels: list[str], *, config: ZoneConfig, serial: int) -> _Node | None:
    """What `labels` (below the domain, outermost last) owns; None: no such name."""
    domain = config.domain.to_text()
    if not labels:
        node = _Node([(SOA, _soa(config, serial)[0].to_text()), (NS, f"ns.dns.{domain}")])
        node.additional = [(f"ns.dns.{domain}", *_address(ip)) for ip in config.dns_ips]
        return node
    top = labels[-1]
    if labels == ["dns-version"]:
        return _Node([(TXT, f'"{DNS_SCHEMA_VERSION}"')])
    if top == "dns" and labels in (["dns"], ["ns", "dns"]):
        return _Node([_address(ip) for ip in config.dns_ips] if len(labels) == 2 else [])
    if top == "svc":
        if len(labels) == 1:
            return _Node()  # an empty non-terminal above every service
        namespace = labels[-2]
        if len(labels) == 2:
            return _Node() if view.namespace_has_services(namespace) else None
        service = view.service(namespace, labels[-3])
        if service is None:
            return None
        return _service_node(view, service, labels[:-3], domain=domain)
    if top == "pod":
        if config.pod_mode == "disabled":
            return None
        if len(labels) == 1 or len(labels) == 2:
            return _Node()
        if len(labels) == 3:
            return _pod_node(view, labels[0], labels[1], config=config)
    return None


def _pod_node(view: ClusterView, label: str, namespace: str, *, config: ZoneConfig) -> _Node | None:
    text = label.replace("-", ".") if label.count("-") == 3 and "--" not in label else (
        label.replace("-", ":"))  # fmt: skip
    try:
        ip = str(ipaddress.ip_address(text))
    except ValueError:
        return None
    if config.pod_mode == "verified" and not view.pod_has_ip(namespace, ip):
        return None
    return _Node([_address(ip)])


def _ready(endpoint: Obj) -> bool:
    # The API says an unset `ready` means ready; the EndpointSlice controller
    # already counts publishNotReadyAddresses services' endpoints as ready.
    return (endpoint.get("conditions") or {}).get("ready") is not False


def endpoint_label(endpoint: Obj, ip: str) -> str:
    """An endpoint's name below its service: its hostname, else its dashed IP."""
    hostname = endpoint.get("hostname")
    return str(hostname).lower() if hostname else ip.replace(".", "-").replace(":", "-")


def _endpoints(view: ClusterView, service: Obj) -> list[tuple[str, str, list[Obj]]]:
    """(label, ip, ports) of each ready endpoint address of a service, in slice order."""
    meta = service["metadata"]
    found = []
    for slice_ in view.slices_of(meta.get("namespace", ""), meta["name"]):
        ports = slice_.get("ports") or []
        for endpoint in slice_.get("endpoints") or []:
            if not _ready(endpoint):
                continue
            for ip in endpoint.get("addresses") or []:
                found.append((endpoint_label(endpoint, ip), str(ip), ports))
    return found


def _srv_weight(count: int) -> int:
    return max(1, 100 // max(count, 1))


def _service_node(
    view: ClusterView, service: Obj, below: list[str], *, domain: str
) -> _Node | None:
    """The service's own name (below == []) or a name under it."""
    spec = service.get("spec") or {}
    meta = service["metadata"]
    fqdn = f"{meta['name']}.{meta.get('namespace', '')}.svc.{domain}"
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").rstrip(".")
        return _Node([(CNAME, f"{target}.")]) if target and not below else None
    if len(below) > 2:
        return None
    ips = cluster_ips(service)
    if ips:  # a ClusterIP service: its IPs, and SRV to its own name per port
        ports = [(p, [(fqdn, *_address(ip)) for ip in ips]) for p in spec.get("ports") or []]
        if not below:
            node = _Node([_address(ip) for ip in ips])
            _add_srv(node, [(p, fqdn, extra) for p, extra in ports], None, None)
            return node
        return _srv_node([(p, fqdn, extra) for p, extra in ports], below)
    endpoints = _endpoints(view, service)  # headless
    targets = [(port, f"{label}.{fqdn}", [(f"{label}.{fqdn}", *_address(ip))])
               for label, ip, ports in endpoints for port in ports]  # fmt: skip
    if not below:
        if not endpoints:
            return None
        node = _Node([_address(ip) for _, ip, _ in endpoints])
        _add_srv(node, targets, None, None)
        return node
    if len(below) == 1 and not below[0].startswith("_"):  # one endpoint by its name
        mine = [(label, ip, ports) for label, ip, ports in endpoints if label == below[0]]
        if not mine:
            return None
        node = _Node([_address(ip) for _, ip, _ in mine])
        _add_srv(node, [t for t in targets if t[1] == f"{below[0]}.{fqdn}"], None, None)
        return node
    return _srv_node(targets, below)


def _srv_node(targets: list[tuple[Obj, str, list[tuple[str, int, str]]]], below: list[str]
              ) -> _Node | None:  # fmt: skip
    """`_port._proto` (SRV) or `_proto` (an empty non-terminal) under a service."""
    if not all(label.startswith("_") and len(label) > 1 for label in below):
        return None
    if len(below) == 1:
        protocol = below[0][1:]
        named = [t for t in targets if t[0].get("name")
                 and str(t[0].get("protocol") or "TCP").lower() == protocol]  # fmt: skip
        return _Node() if named else None
    node = _Node()
    _add_srv(node, targets, below[0][1:], below[1][1:])
    return node if node.records else None


def _add_srv(node: _Node, targets: list[tuple[Obj, str, list[tuple[str, int, str]]]],
             port_name: str | None, protocol: str | None) -> None:  # fmt: skip
    """SRV records for the ports matching name and protocol (None: any)."""
    chosen = [
        (port, target, extra) for port, target, extra in targets
        if (port_name is None or str(port.get("name") or "").lower() == port_name)
        and (protocol is None or str(port.get("protocol") or "TCP").lower() == protocol)
        and port.get("port")
    ]  # fmt: skip
    weight = _srv_weight(len(chosen))
    for port, target, extra in chosen:
        node.records.append((SRV, f"0 {weight} {port['port']} {target}"))
        node.additional += extra


def _reverse(view: ClusterView, qname: dns.name.Name, qtype: int, *, config: ZoneConfig
             ) -> Answer | None:  # fmt: skip
    """PTR for the IPs the cluster names; other reverse names go upstream."""
    try:
        ip = str(ipaddress.ip_address(dns.reversename.to_address(qname)))
    except (dns.exception.SyntaxError, ValueError):
        return None
    domain = config.domain.to_text()
    names: list[str] = []
    for service in view.services_with_ip(ip):
        meta = service["metadata"]
        names.append(f"{meta['name']}.{meta.get('namespace', '')}.svc.{domain}")
        break  # a ClusterIP belongs to one service
    if not names:
        for slice_ in view.slices_with_ip(ip):
            services = [s.split("/", 1) for s in slice_service(slice_)]
            for endpoint in slice_.get("endpoints") or []:
                if endpoint.get("hostname") and ip in (endpoint.get("addresses") or []):
                    names += [f"{endpoint['hostname'].lower()}.{svc}.{ns}.svc.{domain}"
                              for ns, svc in services]  # fmt: skip
    if not names:
        return None
    if qtype not in (PTR, ANY):
        return Answer()  # the name exists with a PTR only
    return Answer(answer=_rrsets(qname, [(PTR, n) for n in names], config.ttl))
