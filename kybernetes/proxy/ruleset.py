"""The nftables ruleset for a set of service ports, and the script that gets there (pure).

The shape is kube-proxy's nftables mode, in one table of our own
(`ip kybernetes`; nothing else on the machine is touched):

* fixed base chains on the nat and filter hooks, and four verdict maps
  keyed by what a packet is sent to: `service-ips`
  (`ip daddr . meta l4proto . th dport`: cluster IPs, external IPs,
  load-balancer addresses), `service-nodeports` (`meta l4proto . th dport`
  on the node's addresses, the `nodeport-ips` set), and their
  `no-endpoint-*` twins, checked in filter chains at priority -110 (before
  the nat output chain at -100), which reject at once a service with no
  endpoints: a TCP reset, so the client sees "connection refused" at once
  (an ICMP port unreachable would do the same, but the kernel rate-limits
  ICMP to a handful a second per client, and the rest would time out), and
  ICMP port unreachable for UDP and SCTP;
* a `cluster-ips-check` filter chain, as kube-proxy's, for new connections
  still addressed to the service range after DNAT (the forward hook, and
  the output hook at -90): a cluster IP on a port that no service serves
  is refused (TCP reset), an address of the range that no service has
  (yet) is dropped (`full_script`'s `service_cidr` says why);
* per service port a `svc-` chain (traffic to the cluster IP) and, when it
  is reachable from outside, an `ext-` chain (node port, external IPs,
  load-balancer addresses) that masquerades (policy Cluster) or keeps the
  client's address and picks only local endpoints (policy Local; pods and
  the node itself still reach every endpoint, as kube-proxy short-circuits
  them);
* an endpoint is picked and DNAT-ed to by one rule,
  `dnat ip addr . port to numgen random mod N map { i : ip . port }` (equal
  weights). kube-proxy has a chain per endpoint instead; here those exist
  only where they are needed, for affinity, because every `nft -f` first
  reads all the table's chains: at 1,000 services of 10 endpoints, 11,000
  chains make each small update cost 40-50 ms of nft, 1,000 about 10;
* hairpin (a pod reaching itself through its service) is one postrouting
  rule, `ct status dnat ip saddr . ip daddr @hairpin masquerade`, over a set
  of `ip . ip` for every endpoint: the reply must come back through the
  bridge to be un-NATed, not short-cut inside the pod;
* ClientIP session affinity is one dynamic set per endpoint with the
  service's timeout and an `ep-` chain per endpoint that adds the client
  (`update @set`) and DNATs; the service chain sends a client found in an
  endpoint's set back to it before choosing at random (kube-proxy's way;
  the jhash alternative of node-runtime.md §4 has no timeout and moves
  clients when endpoints change).

A `Ruleset` is the wanted state as data (chains, sets, map elements), so
`diff_script` can compute the few commands that take the kernel from the
ruleset loaded last to the new one — a change to one service adds, flushes
or deletes only its own chains and map elements — and `full_script`
replaces the whole table atomically (start, periodic resync, recovery).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kybernetes.proxy.model import Endpoint, ServicePort

__all__ = [
    "FAMILY",
    "MAPS",
    "TABLE",
    "Ruleset",
    "build_ruleset",
    "diff_script",
    "full_script",
    "merge",
    "remove_script",
]

FAMILY = "ip"
TABLE = "kybernetes"
MASQ_MARK = "0x4000"
# nft 1.0.6 rejects `priority dstnat` on the output hook (node-runtime.md §4): numbers there.
BASE = """\
  set nodeport-ips { type ipv4_addr; }
  set hairpin { type ipv4_addr . ipv4_addr; }
  set cluster-ips { type ipv4_addr; }
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
  map service-nodeports { type inet_proto . inet_service : verdict; }
  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }
  map no-endpoint-nodeports { type inet_proto . inet_service : verdict; }
  chain reject-chain { meta l4proto tcp reject with tcp reset; reject; }
  chain mark-for-masquerade { meta mark set meta mark | MARK; }
  chain masquerading {
    ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random
    meta mark & MARK == 0 return
    meta mark set meta mark ^ MARK
    masquerade fully-random
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
    ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
  }
  chain service-endpoints-check {
    ip daddr . meta l4proto . th dport vmap @no-endpoint-services
  }
  chain nodeport-endpoints-check {
    ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
  }
  chain cluster-ips-check {
    ip daddr @cluster-ips goto reject-chain
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
  chain filter-input {
    type filter hook input priority -110; policy accept;
    ct state new jump nodeport-endpoints-check
    ct state new jump service-endpoints-check
  }
  chain filter-forward {
    type filter hook forward priority -110; policy accept;
    ct state new jump service-endpoints-check
    ct state new jump cluster-ips-check
  }
  chain filter-output {
    type filter hook output priority -110; policy accept;
    ct state new jump service-endpoints-check
    ct state new jump nodeport-endpoints-check
  }
  chain filter-output-post-dnat {
    type filter hook output priority -90; policy accept;
    ct state new jump cluster-ips-check
  }
""".replace("MARK", MASQ_MARK)
MAPS = ("service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports")
REJECT = "goto reject-chain"


@dataclass(frozen=True)
class Ruleset:
    """Everything in our table beyond the fixed base: the part that follows services."""

    node_ips: tuple[str, ...] = ()
    chains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> rules
    sets: Mapping[str, int] = field(default_factory=dict)  # affinity set -> timeout (s)
    maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # map -> key -> verdict
    hairpin: frozenset[str] = frozenset()  # endpoint addresses
    cluster_ips: frozenset[str] = frozenset()

    def elements(self, name: str) -> Mapping[str, str]:
        return self.maps.get(name) or {}


def merge(parts: Iterable[Ruleset], *, node_ips: Iterable[str]) -> Ruleset:
    """One ruleset from the rulesets of separate services (which share no names)."""
    chains: dict[str, tuple[str, ...]] = {}
    sets: dict[str, int] = {}
    maps: dict[str, dict[str, str]] = {name: {} for name in MAPS}
    hairpin: set[str] = set()
    cluster_ips: set[str] = set()
    for part in parts:
        hairpin |= part.hairpin
        cluster_ips |= part.cluster_ips
        chains.update(part.chains)
        sets.update(part.sets)
        for name in MAPS:
            maps[name].update(part.elements(name))
    return Ruleset(nodeport_addresses(node_ips), chains, sets, maps, frozenset(hairpin),
                   frozenset(cluster_ips))  # fmt: skip


def endpoint_chain(port: ServicePort, endpoint: Endpoint) -> str:
    return f"ep-{port.id}__{endpoint.ip}/{endpoint.port}"


def affinity_set(port: ServicePort, endpoint: Endpoint) -> str:
    # The timeout is part of the name: a new timeout makes a new set, and the
    # chains that use it change with it (a set's timeout cannot be altered).
    return f"aff-{port.id}__{endpoint.ip}/{endpoint.port}-{port.affinity_timeout}"


def _select(port: ServicePort, endpoints: Sequence[Endpoint], prefix: str = "") -> list[str]:
    """Rules that send a packet to one of `endpoints` (affinity first, then at random)."""
    if not port.affinity_timeout:
        targets = ", ".join(f"{i} : {e.ip} . {e.port}" for i, e in enumerate(endpoints))
        return [f"{prefix}meta l4proto {port.protocol} dnat ip addr . port to "
                f"numgen random mod {len(endpoints)} map {{ {targets} }}"]  # fmt: skip
    rules = [f"{prefix}ip saddr @{affinity_set(port, e)} goto {endpoint_chain(port, e)}"
             for e in endpoints]  # fmt: skip
    choices = ", ".join(f"{i} : goto {endpoint_chain(port, e)}" for i, e in enumerate(endpoints))
    rules.append(f"{prefix}numgen random mod {len(endpoints)} vmap {{ {choices} }}")
    return rules


def _endpoint_rules(port: ServicePort, endpoint: Endpoint) -> tuple[str, ...]:
    # `dnat to ip:port` needs an L4 match in the same rule (node-runtime.md §4).
    return (f"update @{affinity_set(port, endpoint)} {{ ip saddr }}",
            f"meta l4proto {port.protocol} dnat to {endpoint.ip}:{endpoint.port}")  # fmt: skip


def _service_rules(port: ServicePort, cluster_cidr: str | None) -> tuple[str, ...]:
    rules = []
    if cluster_cidr:
        # From outside the pod network (the node itself, another host): masquerade,
        # so the reply comes back through this node to be un-NATed.
        rules.append(f"ip saddr != {cluster_cidr} jump mark-for-masquerade")
    internal = port.local_endpoints if port.internal_local else port.endpoints
    # internalTrafficPolicy Local with no endpoint on this node: dropped, as kubernetes does.
    return tuple(rules + (_select(port, internal) if internal else ["drop"]))


def _external_rules(port: ServicePort, cluster_cidr: str | None) -> tuple[str, ...]:
    if not port.external_local:
        return ("jump mark-for-masquerade", *_select(port, port.endpoints))
    rules = []
    if cluster_cidr:
        rules += _select(port, port.endpoints, f"ip saddr {cluster_cidr} ")  # pods: all endpoints
    rules.append("fib saddr type local jump mark-for-masquerade")  # the node itself: likewise
    rules += _select(port, port.endpoints, "fib saddr type local ")
    local = port.local_endpoints
    # Policy Local keeps the client's address, so only endpoints on this node can answer.
    return tuple(rules + (_select(port, local) if local else ["drop"]))


def build_ruleset(ports: Iterable[ServicePort], *, node_ips: Iterable[str],
                  cluster_cidr: str | None = None) -> Ruleset:  # fmt: skip
    """The wanted ruleset; `cluster_cidr` is the pod network (None: masquerade nothing extra)."""
    chains: dict[str, tuple[str, ...]] = {}
    sets: dict[str, int] = {}
    maps: dict[str, dict[str, str]] = {name: {} for name in MAPS}
    hairpin: set[str] = set()
    cluster_ips: set[str] = set()
    for port in ports:
        proto = port.protocol
        cluster_ips.add(port.cluster_ip)
        frontends = [*port.external_ips, *port.load_balancer_ips]
        if not port.endpoints:
            for ip in [port.cluster_ip, *frontends]:
                maps["no-endpoint-services"][f"{ip} . {proto} . {port.port}"] = REJECT
            if port.node_port:
                maps["no-endpoint-nodeports"][f"{proto} . {port.node_port}"] = REJECT
            continue
        hairpin.update(e.ip for e in port.endpoints)
        for endpoint in port.endpoints if port.affinity_timeout else ():
            chains[endpoint_chain(port, endpoint)] = _endpoint_rules(port, endpoint)
            sets[affinity_set(port, endpoint)] = port.affinity_timeout
        chains[f"svc-{port.id}"] = _service_rules(port, cluster_cidr)
        maps["service-ips"][f"{port.cluster_ip} . {proto} . {port.port}"] = f"goto svc-{port.id}"
        if port.external:
            chains[f"ext-{port.id}"] = _external_rules(port, cluster_cidr)
            for ip in frontends:
                maps["service-ips"][f"{ip} . {proto} . {port.port}"] = f"goto ext-{port.id}"
            if port.node_port:
                maps["service-nodeports"][f"{proto} . {port.node_port}"] = f"goto ext-{port.id}"
    return Ruleset(nodeport_addresses(node_ips), chains, sets, maps, frozenset(hairpin),
                   frozenset(cluster_ips))  # fmt: skip


def nodeport_addresses(node_ips: Iterable[str]) -> tuple[str, ...]:
    """The node's addresses that serve node ports: never loopback, as in kube-proxy's nftables
    mode (a DNAT-ed 127.x source cannot leave the host; it would need route_localnet)."""
    return tuple(sorted({ip for ip in node_ips if not ipaddress.IPv4Address(ip).is_loopback}))


def _chain_order(names: Iterable[str]) -> list[str]:
    """Endpoint chains before the chains that jump to them (and the reverse to delete)."""
    return sorted(names, key=lambda n: (not n.startswith("ep-"), n))


def _set_definition(name: str, timeout: int) -> str:
    return f"set {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"


def _add_elements(map_name: str, elements: Mapping[str, str]) -> list[str]:
    if not elements:
        return []
    body = ", ".join(f"{key} : {verdict}" for key, verdict in sorted(elements.items()))
    return [f"add element {FAMILY} {TABLE} {map_name} {{ {body} }}"]


def _set_elements(verb: str, set_name: str, members: Iterable[str]) -> list[str]:
    """`add`/`delete element` of `members` (none: no command)."""
    listed = ", ".join(members)
    return [f"{verb} element {FAMILY} {TABLE} {set_name} {{ {listed} }}"] if listed else []


def _node_ips(ips: Sequence[str]) -> list[str]:
    return _set_elements("add", "nodeport-ips", ips)


def _hairpin(verb: str, ips: Iterable[str]) -> list[str]:
    return _set_elements(verb, "hairpin", (f"{ip} . {ip}" for ip in sorted(ips)))


def _cluster_ips(verb: str, ips: Iterable[str]) -> list[str]:
    return _set_elements(verb, "cluster-ips", sorted(ips))


def full_script(ruleset: Ruleset, *, service_cidr: str | None = None) -> str:
    """Replace the whole table in one transaction (creating it first makes the delete safe).

    With `service_cidr`, a new connection to an address of the range that no
    service has (yet) is dropped, not sent on un-NATed: conntrack would keep
    that un-NATed flow for two minutes, and a later connection that happened
    to reuse its ports would follow it past the rules ("No route to host").
    Dropped, the client's next try meets the rules once they are loaded.
    """
    base = BASE.rstrip("\n")
    if service_cidr:
        base = base.replace("    ip daddr @cluster-ips goto reject-chain\n",
                            "    ip daddr @cluster-ips goto reject-chain\n"
                            f"    ip daddr {service_cidr} drop\n")  # fmt: skip
    lines = [f"add table {FAMILY} {TABLE}", f"delete table {FAMILY} {TABLE}",
             f"table {FAMILY} {TABLE} {{", base]  # fmt: skip
    lines += [f"  {_set_definition(name, t)}" for name, t in sorted(ruleset.sets.items())]
    for name in _chain_order(ruleset.chains):
        lines.append(f"  chain {name} {{")
        lines += [f"    {rule}" for rule in ruleset.chains[name]]
        lines.append("  }")
    lines.append("}")
    lines += _node_ips(ruleset.node_ips)
    lines += _hairpin("add", ruleset.hairpin)
    lines += _cluster_ips("add", ruleset.cluster_ips)
    for map_name in MAPS:
        lines += _add_elements(map_name, ruleset.elements(map_name))
    return "\n".join(lines) + "\n"


def diff_script(old: Ruleset, new: Ruleset) -> str:
    """The commands from `old` (loaded) to `new`, touching only what changed ("" if nothing)."""
    t = f"{FAMILY} {TABLE}"
    lines = [f"add {_set_definition(name, timeout).replace('set ', f'set {t} ', 1)}"
             for name, timeout in sorted(new.sets.items()) if name not in old.sets]  # fmt: skip
    added = [n for n in _chain_order(new.chains) if n not in old.chains]
    changed = [n for n in _chain_order(new.chains)
               if n in old.chains and old.chains[n] != new.chains[n]]  # fmt: skip
    lines += [f"add chain {t} {name}" for name in added]
    lines += [f"flush chain {t} {name}" for name in changed]
    for name in _chain_order([*added, *changed]):
        lines += [f"add rule {t} {name} {rule}" for rule in new.chains[name]]
    if old.node_ips != new.node_ips:
        lines += [f"flush set {t} nodeport-ips", *_node_ips(new.node_ips)]
    lines += _hairpin("add", new.hairpin - old.hairpin)
    lines += _cluster_ips("add", new.cluster_ips - old.cluster_ips)
    for map_name in MAPS:
        before, after = old.elements(map_name), new.elements(map_name)
        gone = [k for k in sorted(before) if after.get(k) != before[k]]
        if gone:
            lines.append(f"delete element {t} {map_name} {{ {', '.join(gone)} }}")
        lines += _add_elements(map_name, {k: v for k, v in after.items() if before.get(k) != v})
    # Stale chains: empty them all first (they may jump to each other), then delete.
    stale = [n for n in reversed(_chain_order(old.chains)) if n not in new.chains]
    lines += [f"flush chain {t} {name}" for name in stale]
    lines += [f"delete chain {t} {name}" for name in stale]
    lines += [f"delete set {t} {name}" for name in sorted(old.sets) if name not in new.sets]
    lines += _hairpin("delete", old.hairpin - new.hairpin)
    lines += _cluster_ips("delete", old.cluster_ips - new.cluster_ips)
    return "\n".join(lines) + "\n" if lines else ""


def remove_script() -> str:
    """Delete our table, whether or not it exists."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
