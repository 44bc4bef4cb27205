"""Columns of networking.k8s.io/v1 and discovery.k8s.io/v1 kinds.

Lists are cut after three entries with "+ N more...", as kubectl shows
them; an Ingress without any host shows `*`, and an EndpointSlice with no
port or no address `<unset>`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers.common import (
    AGE,
    NAME,
    Column,
    format_label_selector,
    get,
)

__all__ = ["COLUMNS"]

_SHOWN = 3


def _with_more(shown: list[str], total: int, *, empty: str) -> str:
    text = ",".join(shown)
    if total > _SHOWN:
        return f"{text} + {total - _SHOWN} more..."
    return text or empty


def _ingress_hosts(ing: Obj) -> str:
    rules = get(ing, "spec", "rules", default=[])
    hosts: list[str] = []
    more = False
    for rule in rules:
        # "more" means a rule follows the third host; the remainder counts every rule.
        more = more or len(hosts) == _SHOWN
        if not more and isinstance(rule, Mapping) and rule.get("host"):
            hosts.append(str(rule["host"]))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - _SHOWN} more..." if more else text


def _ingress_address(ing: Obj) -> str:
    # The server always prints wide, so the list is not cut to 16 characters.
    found = set()
    for point in get(ing, "status", "loadBalancer", "ingress", default=[]):
        address = point.get("ip") or point.get("hostname")
        if address:
            found.add(str(address))
    return ",".join(sorted(found))


def _ingress_ports(ing: Obj) -> str:
    return "80, 443" if get(ing, "spec", "tls") else "80"


def _ingress_class_parameters(ic: Obj) -> str:
    params = get(ic, "spec", "parameters")
    if not isinstance(params, Mapping):
        return "<none>"
    kind = str(params.get("kind") or "")
    if params.get("apiGroup") is not None:
        kind += f".{params['apiGroup']}"
    return f"{kind}/{params.get('name') or ''}"


def _slice_ports(eps: Obj) -> str:
    ports = eps.get("ports") or []
    shown = []
    for port in ports[:_SHOWN]:
        if port.get("port") is not None:
            shown.append(str(port["port"]))
        elif port.get("name") is not None:
            shown.append(str(port["name"]))
        else:
            shown.append("*")
    return _with_more(shown, len(ports), empty="<unset>")


def _slice_endpoints(eps: Obj) -> str:
    addresses = [str(a) for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return _with_more(addresses[:_SHOWN], len(addresses), empty="<unset>")


COLUMNS = {
    ("networking.k8s.io", "Ingress"): [
        NAME,
        Column("Class", lambda o: str(get(o, "spec", "ingressClassName", default="<none>")),
               description="The IngressClass that handles the ingress."),
        Column("Hosts", _ingress_hosts, description="Hosts the rules match."),
        Column("Address", _ingress_address, description="Load-balancer addresses."),
        Column("Ports", _ingress_ports, description="80, and 443 with TLS."),
        AGE,
    ],
    ("networking.k8s.io", "IngressClass"): [
        NAME,
        Column("Controller", lambda o: str(get(o, "spec", "controller", default="")),
               description="The controller that implements the class."),
        Column("Parameters", _ingress_class_parameters,
               description="The resource holding the class's parameters."),
        AGE,
    ],
    ("networking.k8s.io", "NetworkPolicy"): [
        NAME,
        Column("Pod-Selector", lambda o: format_label_selector(
            get(o, "spec", "podSelector", default={})),
               description="The pods the policy applies to."),
        AGE,
    ],
    ("discovery.k8s.io", "EndpointSlice"): [
        NAME,
        Column("AddressType", lambda o: str(o.get("addressType") or ""),
               description="IPv4, IPv6 or FQDN."),
        Column("Ports", _slice_ports, description="The slice's ports."),
        Column("Endpoints", _slice_endpoints, description="The first endpoint addresses."),
        AGE,
    ],
}  # fmt: skip
