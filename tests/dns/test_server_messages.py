"""DnsServer.answer_now without sockets: the message rules of the server itself."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype as T

from kybernetes.dns.server import DnsServer
from kybernetes.dns.upstream import Upstream
from tests.dns.fixtures import Caches, endpoint, endpoint_slice, service


def server(caches: Caches) -> DnsServer:
    return DnsServer(caches.view, listen=("127.0.0.1", 0), upstreams=[Upstream("127.0.0.2")])


def ask(srv: DnsServer, query: dns.message.Message) -> dns.message.Message:
    reply = srv.answer_now(query.to_wire(), limit=None)
    assert isinstance(reply, bytes)
    return dns.message.from_wire(reply)


def test_a_cached_answer_carries_each_query_s_own_id_and_flags() -> None:
    caches = Caches().add(service("web", "10.96.0.50"))
    srv = server(caches)
    first = dns.message.make_query("web.default.svc.cluster.local.", "A")
    second = dns.message.make_query("web.default.svc.cluster.local.", "A")
    second.id = (first.id + 1) % 65536
    a, b = ask(srv, first), ask(srv, second)
    assert (a.id, b.id) == (first.id, second.id)
    assert srv.cache.hits >= 1  # the second came from the cache
    assert b.flags & dns.flags.AA and b.flags & dns.flags.RA and b.flags & dns.flags.QR
    assert [rd.to_text() for rd in b.answer[0]] == ["10.96.0.50"]


def test_the_question_case_is_echoed_even_from_the_cache() -> None:
    srv = server(Caches().add(service("web", "10.96.0.50")))
    ask(srv, dns.message.make_query("web.default.svc.cluster.local.", "A"))
    mixed = ask(srv, dns.message.make_query("WEB.default.svc.cluster.local.", "A"))
    assert mixed.question[0].name.to_text() == "WEB.default.svc.cluster.local."


def test_a_change_is_seen_by_the_next_query() -> None:
    caches = Caches().add(service("web", "10.96.0.50"))
    srv = server(caches)
    q = dns.message.make_query("web.default.svc.cluster.local.", "A")
    assert [rd.to_text() for rd in ask(srv, q).answer[0]] == ["10.96.0.50"]
    caches.add(service("web", "10.96.0.51"))
    assert [rd.to_text() for rd in ask(srv, q).answer[0]] == ["10.96.0.51"]


def test_outside_names_are_handed_back_for_forwarding() -> None:
    srv = server(Caches())
    query = dns.message.make_query("example.org.", "A")
    assert isinstance(srv.answer_now(query.to_wire(), limit=None), dns.message.Message)
    # and again once that is cached as "forward"
    assert isinstance(srv.answer_now(query.to_wire(), limit=None), dns.message.Message)


def test_malformed_and_unsupported_queries() -> None:
    srv = server(Caches())
    assert srv.answer_now(b"\x00\x01", limit=None) is None  # not even a header
    query = dns.message.make_query("web.default.svc.cluster.local.", "A")
    garbled = query.to_wire()[:-3]
    reply = srv.answer_now(garbled, limit=None)
    assert isinstance(reply, bytes)
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    notify = dns.message.make_query("cluster.local.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert ask(srv, notify).rcode() == dns.rcode.NOTIMP
    response = dns.message.make_response(query)
    assert srv.answer_now(response.to_wire(), limit=None) is None  # never answer answers
    future = dns.message.make_query("web.default.svc.cluster.local.", "A", use_edns=1)
    assert ask(srv, future).rcode() == dns.rcode.BADVERS


def test_udp_size_follows_edns_and_tcp_is_whole() -> None:
    caches = Caches().add(service("big", None, clusterIP="None"))
    caches.add(endpoint_slice("big", [endpoint(f"10.244.0.{i}") for i in range(1, 81)]))
    srv = server(caches)
    name = "big.default.svc.cluster.local."
    plain = ask(srv, dns.message.make_query(name, "A"))
    assert plain.flags & dns.flags.TC and not plain.answer
    edns = ask(srv, dns.message.make_query(name, "A", use_edns=0, payload=4096))
    assert not edns.flags & dns.flags.TC and len(edns.answer[0]) == 80
    tcp = srv.answer_now(dns.message.make_query(name, "A").to_wire(), limit=65535)
    assert isinstance(tcp, bytes) and len(dns.message.from_wire(tcp).answer[0]) == 80
    assert dns.message.from_wire(tcp).answer[0].rdtype == T.A


def test_a_change_in_one_namespace_leaves_the_others_cached() -> None:
    caches = Caches().add(service("web", "10.96.0.50"), service("api", "10.96.0.60", "team"))
    srv = server(caches)
    web = dns.message.make_query("web.default.svc.cluster.local.", "A")
    api = dns.message.make_query("api.team.svc.cluster.local.", "A")
    ptr = dns.message.make_query("50.0.96.10.in-addr.arpa.", "PTR")
    for q in (web, api, ptr):
        ask(srv, q)
    caches.add(service("other", "10.96.0.70", "team"))
    hits = srv.cache.hits
    assert [rd.to_text() for rd in ask(srv, web).answer[0]] == ["10.96.0.50"]
    assert srv.cache.hits == hits + 1  # default did not change
    ask(srv, api)
    ask(srv, ptr)
    assert srv.cache.hits == hits + 1  # team did, and a PTR may name any namespace
    caches.add(service("web", "10.96.0.51"))
    assert [rd.to_text() for rd in ask(srv, web).answer[0]] == ["10.96.0.51"]
