"""The wanted ruleset and the scripts that load it (pure; golden snippets)."""

from __future__ import annotations

import dataclasses

from kybernetes.proxy.model import Endpoint, ServicePort
from kybernetes.proxy.ruleset import Ruleset, build_ruleset, diff_script, full_script

A, B = Endpoint("10.244.0.3", 8080, True), Endpoint("10.244.0.4", 8080, False)
WEB = ServicePort(namespace="default", name="web", port_name="http", protocol="tcp",
                  cluster_ip="10.96.0.10", port=80, endpoints=(A, B))  # fmt: skip
EP_A = "ep-default/web/tcp/http__10.244.0.3/8080"
EP_B = "ep-default/web/tcp/http__10.244.0.4/8080"
CIDR = "10.244.0.0/16"
PICK_BOTH = ("meta l4proto tcp dnat ip addr . port to numgen random mod 2 map "
             "{ 0 : 10.244.0.3 . 8080, 1 : 10.244.0.4 . 8080 }")  # fmt: skip
PICK_A = "meta l4proto tcp dnat ip addr . port to numgen random mod 1 map { 0 : 10.244.0.3 . 8080 }"
PICK_B = "meta l4proto tcp dnat ip addr . port to numgen random mod 1 map { 0 : 10.244.0.4 . 8080 }"


def build(*ports: ServicePort, cidr: str | None = CIDR) -> Ruleset:
    return build_ruleset(ports, node_ips=["192.0.2.1"], cluster_cidr=cidr)


def test_cluster_ip_picks_an_endpoint_at_random_and_dnats() -> None:
    rules = build(WEB)
    assert rules.chains == {"svc-default/web/tcp/http": (
        "ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
        PICK_BOTH,
    )}  # fmt: skip
    assert rules.hairpin == {"10.244.0.3", "10.244.0.4"}
    assert (
        "add element ip kybernetes hairpin { 10.244.0.3 . 10.244.0.3, 10.244.0.4 . 10.244.0.4 }"
        in (full_script(rules).splitlines())
    )
    assert rules.maps["service-ips"] == {"10.96.0.10 . tcp . 80": "goto svc-default/web/tcp/http"}
    assert rules.maps["no-endpoint-services"] == {} and rules.sets == {}
    assert "ext-default/web/tcp/http" not in rules.chains  # not reachable from outside


def test_node_port_external_ips_and_load_balancer_masquerade_under_policy_cluster() -> None:
    port = dataclasses.replace(WEB, node_port=30080, external_ips=("192.0.2.9",),
                               load_balancer_ips=("192.0.2.1",))  # fmt: skip
    rules = build(port)
    assert rules.chains["ext-default/web/tcp/http"] == ("jump mark-for-masquerade", PICK_BOTH)
    assert rules.maps["service-nodeports"] == {"tcp . 30080": "goto ext-default/web/tcp/http"}
    assert rules.maps["service-ips"] == {
        "10.96.0.10 . tcp . 80": "goto svc-default/web/tcp/http",
        "192.0.2.9 . tcp . 80": "goto ext-default/web/tcp/http",
        "192.0.2.1 . tcp . 80": "goto ext-default/web/tcp/http",
    }
    assert "add element ip kybernetes nodeport-ips { 192.0.2.1 }" in full_script(rules)


def test_client_ip_affinity_sends_a_known_client_back_to_its_endpoint() -> None:
    rules = build(dataclasses.replace(WEB, affinity_timeout=60))
    set_a = "aff-default/web/tcp/http__10.244.0.3/8080-60"
    assert rules.sets == {set_a: 60, "aff-default/web/tcp/http__10.244.0.4/8080-60": 60}
    assert rules.chains["svc-default/web/tcp/http"][1] == f"ip saddr @{set_a} goto {EP_A}"
    assert rules.chains["svc-default/web/tcp/http"][3] == (
        f"numgen random mod 2 vmap {{ 0 : goto {EP_A}, 1 : goto {EP_B} }}"
    )
    assert rules.chains[EP_A] == (f"update @{set_a} {{ ip saddr }}",
                                  "meta l4proto tcp dnat to 10.244.0.3:8080")  # fmt: skip
    assert (f"set {set_a} {{ type ipv4_addr; flags dynamic,timeout; timeout 60s; }}"
            in full_script(rules))  # fmt: skip


def test_no_endpoints_rejects_and_gets_no_chains() -> None:
    rules = build(dataclasses.replace(WEB, endpoints=(), node_port=30080,
                                      external_ips=("192.0.2.9",)))  # fmt: skip
    assert rules.chains == {} and rules.maps["service-ips"] == {} and not rules.hairpin
    assert rules.maps["no-endpoint-services"] == {
        "10.96.0.10 . tcp . 80": "goto reject-chain",
        "192.0.2.9 . tcp . 80": "goto reject-chain",
    }
    assert rules.maps["no-endpoint-nodeports"] == {"tcp . 30080": "goto reject-chain"}
    assert "reject-chain { meta l4proto tcp reject with tcp reset; reject; }" in full_script(rules)


def test_local_traffic_policies() -> None:
    port = dataclasses.replace(WEB, node_port=30080, internal_local=True, external_local=True)
    rules = build(port)
    assert rules.chains["svc-default/web/tcp/http"][1:] == (PICK_A,)  # the local endpoint only
    assert rules.chains["ext-default/web/tcp/http"] == (
        f"ip saddr 10.244.0.0/16 {PICK_BOTH}",  # pods short-circuit to every endpoint
        "fib saddr type local jump mark-for-masquerade",
        f"fib saddr type local {PICK_BOTH}",  # and so does the node itself
        PICK_A,  # outside: local endpoints, the client's address kept
    )
    remote_only = build(dataclasses.replace(port, endpoints=(B,)))
    assert remote_only.chains["svc-default/web/tcp/http"][-1] == "drop"
    assert remote_only.chains["ext-default/web/tcp/http"][-1] == "drop"


def test_full_script_replaces_the_table_atomically() -> None:
    script = full_script(build(dataclasses.replace(WEB, affinity_timeout=60)))
    lines = script.splitlines()
    assert lines[:3] == ["add table ip kybernetes", "delete table ip kybernetes",
                         "table ip kybernetes {"]  # fmt: skip
    # nft 1.0.6 rejects `priority dstnat` on the output hook
    assert "    type nat hook output priority -100; policy accept;" in lines
    # endpoint chains come before the service chains that jump to them
    assert lines.index(f"  chain {EP_A} {{") < lines.index("  chain svc-default/web/tcp/http {")


def test_diff_touches_only_the_service_that_changed() -> None:
    other = dataclasses.replace(WEB, name="other", cluster_ip="10.96.0.11", endpoints=(B,))
    before = build(WEB, other)
    after = build(dataclasses.replace(WEB, endpoints=(B,)), other)
    svc = "ip kybernetes svc-default/web/tcp/http"
    assert diff_script(before, after).splitlines() == [
        f"flush chain {svc}",
        f"add rule {svc} ip saddr != 10.244.0.0/16 jump mark-for-masquerade",
        f"add rule {svc} {PICK_B}",
        "delete element ip kybernetes hairpin { 10.244.0.3 . 10.244.0.3 }",
    ]
    assert diff_script(after, after) == ""


def test_diff_moves_map_elements_and_creates_before_referencing() -> None:
    empty = dataclasses.replace(WEB, endpoints=())
    lines = diff_script(build(empty), build(WEB)).splitlines()
    assert lines[0] == "add chain ip kybernetes svc-default/web/tcp/http"
    assert lines.index("add element ip kybernetes service-ips { 10.96.0.10 . tcp . 80 : goto "
                       "svc-default/web/tcp/http }") > lines.index(
        "add chain ip kybernetes svc-default/web/tcp/http")  # fmt: skip
    assert "delete element ip kybernetes no-endpoint-services { 10.96.0.10 . tcp . 80 }" in lines


def test_affinity_chains_come_and_go_in_order() -> None:
    plain, sticky = build(WEB), build(dataclasses.replace(WEB, affinity_timeout=60))
    lines = diff_script(plain, sticky).splitlines()
    assert lines[2:5] == [f"add chain ip kybernetes {EP_A}", f"add chain ip kybernetes {EP_B}",
                          "flush chain ip kybernetes svc-default/web/tcp/http"]  # fmt: skip
    lines = diff_script(sticky, plain).splitlines()
    t = "ip kybernetes"
    assert lines[-6:] == [
        f"flush chain {t} {EP_B}", f"flush chain {t} {EP_A}",
        f"delete chain {t} {EP_B}", f"delete chain {t} {EP_A}",
        f"delete set {t} aff-default/web/tcp/http__10.244.0.3/8080-60",
        f"delete set {t} aff-default/web/tcp/http__10.244.0.4/8080-60",
    ]  # fmt: skip


def test_a_new_affinity_timeout_is_a_new_set_and_the_old_goes_last() -> None:
    before = build(dataclasses.replace(WEB, affinity_timeout=60, endpoints=(A,)))
    after = build(dataclasses.replace(WEB, affinity_timeout=90, endpoints=(A,)))
    lines = diff_script(before, after).splitlines()
    assert lines[0] == ("add set ip kybernetes aff-default/web/tcp/http__10.244.0.3/8080-90 "
                        "{ type ipv4_addr; flags dynamic,timeout; timeout 90s; }")  # fmt: skip
    assert lines[-1] == "delete set ip kybernetes aff-default/web/tcp/http__10.244.0.3/8080-60"


def test_loopback_never_serves_node_ports() -> None:
    assert build_ruleset([WEB], node_ips=["127.0.0.1", "192.0.2.1"]).node_ips == ("192.0.2.1",)


def test_node_addresses_changing_rewrite_only_their_set() -> None:
    before = build_ruleset([WEB], node_ips=["192.0.2.1"])
    after = build_ruleset([WEB], node_ips=["192.0.2.2", "192.0.2.1"])
    assert diff_script(before, after).splitlines() == [
        "flush set ip kybernetes nodeport-ips",
        "add element ip kybernetes nodeport-ips { 192.0.2.1, 192.0.2.2 }",
    ]


def test_every_cluster_ip_is_listed_with_or_without_endpoints() -> None:
    empty = dataclasses.replace(WEB, name="empty", cluster_ip="10.96.0.11", endpoints=())
    rules = build(WEB, empty)
    assert rules.cluster_ips == {"10.96.0.10", "10.96.0.11"}
    assert "add element ip kybernetes cluster-ips { 10.96.0.10, 10.96.0.11 }" in full_script(rules)
    gone = diff_script(rules, build(WEB)).splitlines()
    assert "delete element ip kybernetes cluster-ips { 10.96.0.11 }" in gone
    back = diff_script(build(WEB), rules).splitlines()
    assert "add element ip kybernetes cluster-ips { 10.96.0.11 }" in back


def test_the_service_range_no_service_has_is_dropped_after_dnat() -> None:
    script = full_script(build(WEB), service_cidr="10.96.0.0/12")
    check = script[script.index("chain cluster-ips-check {") :].split("}", 1)[0].splitlines()
    assert [line.strip() for line in check[1:] if line.strip()] == [
        "ip daddr @cluster-ips goto reject-chain",  # a cluster IP's other ports: refused
        "ip daddr 10.96.0.0/12 drop",  # no service's address (yet): never sent on un-NATed
    ]
    # Checked after the nat output hook (-100) and in forward (after prerouting's DNAT).
    assert "type filter hook output priority -90; policy accept;" in script
    assert "ip daddr 10.96.0.0/12 drop" not in full_script(build(WEB))
