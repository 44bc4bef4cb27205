"""Name resolution in the cluster domain: every record kind, NXDOMAIN versus NODATA."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype as T
import pytest

from kybernetes.dns.resolve import Answer, ZoneConfig, resolve
from tests.dns.fixtures import Caches, endpoint, endpoint_slice, pod, service

CONFIG = ZoneConfig()


def ask(caches: Caches, name: str, rdtype: int = T.A, config: ZoneConfig = CONFIG) -> Answer:
    answer = resolve(caches.view, dns.name.from_text(name), rdtype, config=config, serial=7)
    assert answer is not None, f"{name} is not the cluster's"
    return answer


def records(answer: Answer, rdtype: int | None = None) -> list[str]:
    return sorted(rd.to_text() for rr in answer.answer for rd in rr
                  if rdtype is None or rr.rdtype == rdtype)  # fmt: skip


def is_nodata(answer: Answer) -> bool:
    return (answer.rcode == dns.rcode.NOERROR and not answer.answer
            and [rr.rdtype for rr in answer.authority] == [T.SOA])  # fmt: skip


def is_nxdomain(answer: Answer) -> bool:
    return answer.rcode == dns.rcode.NXDOMAIN and [rr.rdtype for rr in answer.authority] == [T.SOA]


@pytest.fixture
def caches() -> Caches:
    return Caches().add(
        service("web", "10.96.0.50", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                            {"name": "dns", "port": 53, "protocol": "UDP"},
                                            {"port": 9000, "protocol": "TCP"}]),
        service("db", None, clusterIP="None"),  # headless
        endpoint_slice("db", [endpoint("10.244.0.5", hostname="db-0"),
                              endpoint("10.244.0.6", hostname="db-1"),
                              endpoint("10.244.0.7"),
                              endpoint("10.244.0.8", ready=False),
                              endpoint("10.244.0.9", ready=None)]),
        service("empty", None, clusterIP="None"),  # headless, no endpoints
        service("ext", None, type="ExternalName", externalName="example.org"),
        service("alias", None, type="ExternalName", externalName="web.default.svc.cluster.local"),
        service("v6", "fd00::10"),
        pod("p", "10.244.1.2", namespace="team"),
    )  # fmt: skip


def test_cluster_ip_service_has_an_a_record_with_ttl_30(caches: Caches) -> None:
    answer = ask(caches, "web.default.svc.cluster.local.")
    assert records(answer) == ["10.96.0.50"]
    assert answer.answer[0].ttl == 30 and answer.rcode == dns.rcode.NOERROR


def test_names_are_case_insensitive_and_the_owner_keeps_the_question_case(caches: Caches) -> None:
    answer = ask(caches, "WeB.Default.SVC.Cluster.Local.")
    assert records(answer) == ["10.96.0.50"]
    assert answer.answer[0].name.to_text() == "WeB.Default.SVC.Cluster.Local."


def test_a_name_with_other_types_only_is_nodata_not_nxdomain(caches: Caches) -> None:
    assert is_nodata(ask(caches, "web.default.svc.cluster.local.", T.AAAA))
    assert is_nodata(ask(caches, "web.default.svc.cluster.local.", T.MX))
    assert is_nodata(ask(caches, "web.default.svc.cluster.local.", T.TXT))


def test_unknown_names_are_nxdomain_with_the_soa(caches: Caches) -> None:
    for name in ("nope.default.svc.cluster.local.", "web.other.svc.cluster.local.",
                 "x.web.default.svc.cluster.local.", "a.b.c.web.default.svc.cluster.local.",
                 "whatever.cluster.local."):  # fmt: skip
        answer = ask(caches, name)
        assert is_nxdomain(answer), name
    soa = ask(caches, "nope.default.svc.cluster.local.").authority[0]
    assert soa.name.to_text() == "cluster.local." and soa.ttl == 5
    assert soa[0].minimum == 5 and soa[0].serial == 7
    assert soa[0].mname.to_text() == "ns.dns.cluster.local."


def test_empty_non_terminals_are_nodata(caches: Caches) -> None:
    for name in (
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "pod.cluster.local.",
        "_tcp.web.default.svc.cluster.local.",
        "_udp.web.default.svc.cluster.local.",
    ):
        assert is_nodata(ask(caches, name)), name
    assert is_nxdomain(ask(caches, "_sctp.web.default.svc.cluster.local."))
    assert is_nxdomain(ask(caches, "nons.svc.cluster.local."))


def test_ipv6_cluster_ip_is_aaaa(caches: Caches) -> None:
    assert records(ask(caches, "v6.default.svc.cluster.local.", T.AAAA)) == ["fd00::10"]
    assert is_nodata(ask(caches, "v6.default.svc.cluster.local.", T.A))


def test_headless_service_answers_every_ready_endpoint(caches: Caches) -> None:
    answer = ask(caches, "db.default.svc.cluster.local.")
    # not-ready 10.244.0.8 is left out; an unset `ready` counts as ready
    assert records(answer) == ["10.244.0.5", "10.244.0.6", "10.244.0.7", "10.244.0.9"]


def test_headless_service_without_ready_endpoints_does_not_exist(caches: Caches) -> None:
    assert is_nxdomain(ask(caches, "empty.default.svc.cluster.local."))


def test_endpoint_hostnames_under_a_headless_service(caches: Caches) -> None:
    assert records(ask(caches, "db-0.db.default.svc.cluster.local.")) == ["10.244.0.5"]
    assert records(ask(caches, "DB-1.db.default.svc.cluster.local.")) == ["10.244.0.6"]
    # an endpoint without hostname is named by its dashed IP
    assert records(ask(caches, "10-244-0-7.db.default.svc.cluster.local.")) == ["10.244.0.7"]
    assert is_nxdomain(ask(caches, "10-244-0-8.db.default.svc.cluster.local."))  # not ready
    assert is_nxdomain(ask(caches, "db-9.db.default.svc.cluster.local."))
    # hostnames are a headless service's only
    assert is_nxdomain(ask(caches, "db-0.web.default.svc.cluster.local."))


def test_srv_for_named_ports_of_a_cluster_ip_service(caches: Caches) -> None:
    answer = ask(caches, "_http._tcp.web.default.svc.cluster.local.", T.SRV)
    assert records(answer) == ["0 100 80 web.default.svc.cluster.local."]
    assert [(rr.name.to_text(), rd.to_text()) for rr in answer.additional for rd in rr] == [
        ("web.default.svc.cluster.local.", "10.96.0.50")]  # fmt: skip
    assert records(ask(caches, "_dns._udp.web.default.svc.cluster.local.", T.SRV)) == [
        "0 100 53 web.default.svc.cluster.local."]  # fmt: skip
    assert is_nxdomain(ask(caches, "_dns._tcp.web.default.svc.cluster.local.", T.SRV))
    assert is_nxdomain(ask(caches, "_nope._tcp.web.default.svc.cluster.local.", T.SRV))
    assert is_nodata(ask(caches, "_http._tcp.web.default.svc.cluster.local.", T.A))


def test_srv_for_a_headless_service_names_each_endpoint(caches: Caches) -> None:
    answer = ask(caches, "_http._tcp.db.default.svc.cluster.local.", T.SRV)
    assert records(answer) == [
        "0 25 8080 10-244-0-7.db.default.svc.cluster.local.",
        "0 25 8080 10-244-0-9.db.default.svc.cluster.local.",
        "0 25 8080 db-0.db.default.svc.cluster.local.",
        "0 25 8080 db-1.db.default.svc.cluster.local.",
    ]
    extra = sorted((rr.name.to_text(), rd.to_text()) for rr in answer.additional for rd in rr)
    assert ("db-0.db.default.svc.cluster.local.", "10.244.0.5") in extra and len(extra) == 4


def test_pod_records_verified_against_the_pod_cache(caches: Caches) -> None:
    assert records(ask(caches, "10-244-1-2.team.pod.cluster.local.")) == ["10.244.1.2"]
    assert is_nxdomain(ask(caches, "10-244-1-2.default.pod.cluster.local."))  # other namespace
    assert is_nxdomain(ask(caches, "10-244-1-3.team.pod.cluster.local."))
    assert is_nxdomain(ask(caches, "not-an-ip.team.pod.cluster.local."))
    insecure = ZoneConfig(pod_mode="insecure")
    assert records(ask(caches, "10-9-9-9.any.pod.cluster.local.", config=insecure)) == ["10.9.9.9"]
    assert records(ask(caches, "fd00--1.any.pod.cluster.local.", T.AAAA, config=insecure)) == [
        "fd00::1"]  # fmt: skip
    disabled = ZoneConfig(pod_mode="disabled")
    assert is_nxdomain(ask(caches, "10-244-1-2.team.pod.cluster.local.", config=disabled))


def test_external_name_is_a_cname_chased_upstream(caches: Caches) -> None:
    answer = ask(caches, "ext.default.svc.cluster.local.", T.A)
    assert records(answer) == ["example.org."] and answer.answer[0].rdtype == T.CNAME
    assert answer.chase == dns.name.from_text("example.org.")
    cname = ask(caches, "ext.default.svc.cluster.local.", T.CNAME)
    assert records(cname) == ["example.org."] and cname.chase is None


def test_external_name_inside_the_cluster_is_followed_here(caches: Caches) -> None:
    answer = ask(caches, "alias.default.svc.cluster.local.", T.A)
    assert [rr.rdtype for rr in answer.answer] == [T.CNAME, T.A]
    assert records(answer, T.A) == ["10.96.0.50"] and answer.chase is None


def test_ptr_for_service_ips_and_endpoint_hostnames(caches: Caches) -> None:
    answer = ask(caches, "50.0.96.10.in-addr.arpa.", T.PTR)
    assert records(answer) == ["web.default.svc.cluster.local."]
    answer = ask(caches, "5.0.244.10.in-addr.arpa.", T.PTR)
    assert records(answer) == ["db-0.db.default.svc.cluster.local."]
    v6 = dns.name.from_text(
        "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    )
    answer = resolve(caches.view, v6, T.PTR, config=CONFIG, serial=1)
    assert answer is not None and records(answer) == ["v6.default.svc.cluster.local."]


def test_unknown_reverse_names_and_outside_names_are_forwarded(caches: Caches) -> None:
    view = caches.view
    for name in (
        "7.0.244.10.in-addr.arpa.",  # an endpoint without hostname: no PTR here
        "1.1.168.192.in-addr.arpa.",
        "168.192.in-addr.arpa.",
        "example.org.",
        "web.default.",
        "web.default.svc.",
    ):  # no search list in the server
        assert resolve(view, dns.name.from_text(name), T.A, config=CONFIG, serial=1) is None, name


def test_apex_soa_ns_and_dns_version(caches: Caches) -> None:
    soa = ask(caches, "cluster.local.", T.SOA)
    assert soa.answer[0].rdtype == T.SOA
    ns = ask(caches, "cluster.local.", T.NS)
    assert records(ns) == ["ns.dns.cluster.local."]
    assert [rd.to_text() for rr in ns.additional for rd in rr] == ["10.96.0.10"]
    assert records(ask(caches, "ns.dns.cluster.local.")) == ["10.96.0.10"]
    assert records(ask(caches, "dns-version.cluster.local.", T.TXT)) == ['"1.1.0"']
    assert is_nodata(ask(caches, "cluster.local.", T.A))


def test_any_returns_what_the_name_has(caches: Caches) -> None:
    assert records(ask(caches, "web.default.svc.cluster.local.", T.ANY), T.A) == ["10.96.0.50"]


def test_generation_moves_on_changes_that_alter_answers() -> None:
    caches = Caches()
    web = service("web", "10.96.0.50")
    caches.add(web)
    before = caches.view.generation
    relabelled = {
        **web,
        "metadata": {**web["metadata"], "resourceVersion": "x1", "labels": {"a": "b"}},
    }
    caches.add(relabelled)  # metadata only: no answer changes
    assert caches.view.generation == before
    moved = {
        **relabelled,
        "metadata": {**web["metadata"], "resourceVersion": "x2"},
        "spec": {**web["spec"], "clusterIP": "10.96.0.51", "clusterIPs": ["10.96.0.51"]},
    }
    caches.add(moved)
    assert caches.view.generation == before + 1
    p = pod("p", "10.244.0.9")
    caches.add(p)
    assert caches.view.generation == before + 2
    caches.add(
        {
            **p,
            "metadata": {**p["metadata"], "resourceVersion": "y"},
            "status": {**p["status"], "phase": "Running"},
        }
    )  # same IPs
    assert caches.view.generation == before + 2
    caches.remove(moved)
    assert caches.view.generation == before + 3
    assert is_nxdomain(ask(caches, "web.default.svc.cluster.local."))
