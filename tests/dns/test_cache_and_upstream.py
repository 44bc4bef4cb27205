"""The answer cache (generations, TTLs on an injected clock) and resolv.conf parsing."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset

from kybernetes.dns.cache import AnswerCache
from kybernetes.dns.upstream import Upstream, parse_upstream, resolv_conf_nameservers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cluster_entries_die_with_their_generation_or_their_ttl() -> None:
    clock = Clock()
    cache = AnswerCache(ttl=30, clock=clock)
    generations = {None: 9, "a": 3, "b": 5}
    cache.keep_cluster("k", "a", 3, b"wire")
    cache.keep_cluster("all", None, 9, b"any")
    assert cache.cluster("k", generations.__getitem__) == b"wire"
    generations["b"] += 1
    generations[None] += 1
    assert cache.cluster("k", generations.__getitem__) == b"wire"  # another namespace changed
    assert cache.cluster("all", generations.__getitem__) is None  # but any change retires this
    generations["a"] += 1
    assert cache.cluster("k", generations.__getitem__) is None  # its namespace changed
    cache.keep_cluster("k", "a", 4, b"wire2")
    clock.now += 30
    assert cache.cluster("k", generations.__getitem__) is None


def _response(rcode: int, *, ttl: int = 300, soa_ttl: int = 900, minimum: int = 60
              ) -> dns.message.Message:  # fmt: skip
    response = dns.message.make_response(dns.message.make_query("example.org.", "A"))
    response.set_rcode(dns.rcode.Rcode(rcode))
    if rcode == dns.rcode.NOERROR:
        response.answer.append(dns.rrset.from_text("example.org.", ttl, "IN", "A", "192.0.2.1"))
    else:
        soa = f"a0.org. h.org. 1 7200 900 1209600 {minimum}"
        response.authority.append(dns.rrset.from_text("org.", soa_ttl, "IN", "SOA", soa))
    return response


def test_forwarded_answers_count_down_and_are_capped() -> None:
    clock = Clock()
    cache = AnswerCache(max_ttl=30, max_negative_ttl=5, clock=clock)
    cache.keep_forwarded("a", _response(dns.rcode.NOERROR, ttl=300))
    clock.now += 10
    kept = cache.forwarded("a")
    assert kept is not None and kept.aged(clock.now)[0][0].ttl == 290
    clock.now += 20
    assert cache.forwarded("a") is None  # capped at 30 s
    cache.keep_forwarded("short", _response(dns.rcode.NOERROR, ttl=3))
    clock.now += 3
    assert cache.forwarded("short") is None


def test_negative_answers_are_kept_briefly_and_errors_never() -> None:
    clock = Clock()
    cache = AnswerCache(max_ttl=30, max_negative_ttl=5, clock=clock)
    cache.keep_forwarded("nx", _response(dns.rcode.NXDOMAIN, soa_ttl=900, minimum=3600))
    clock.now += 4.9
    assert cache.forwarded("nx") is not None
    clock.now += 0.2
    assert cache.forwarded("nx") is None
    cache.keep_forwarded("fail", _response(dns.rcode.SERVFAIL))
    assert cache.forwarded("fail") is None


def test_resolv_conf_nameservers_skip_comments_duplicates_and_ourselves() -> None:
    text = """# generated
search example.internal
nameserver 192.0.2.53
nameserver 192.0.2.53
; nameserver 192.0.2.99
nameserver 10.96.0.10
nameserver fe80::1%eth0
nameserver not-an-ip
options ndots:2
"""
    found = resolv_conf_nameservers(text, exclude={"10.96.0.10"})
    assert found == [Upstream("192.0.2.53"), Upstream("fe80::1")]


def test_parse_upstream_forms() -> None:
    assert parse_upstream("127.0.0.2:5353") == Upstream("127.0.0.2", 5353)
    assert parse_upstream("[::1]:5353") == Upstream("::1", 5353)
    assert parse_upstream("::1") == Upstream("::1", 53)
    assert str(Upstream("::1", 53)) == "[::1]:53"
