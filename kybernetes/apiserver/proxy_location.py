"""Where `pods/proxy`, `services/proxy` and `nodes/proxy` send a request: kube-apiserver's
ResourceLocation.

The object's name in the URL may carry a scheme and a port: `name`,
`name:port` or `scheme:name:port` (scheme `http` or `https`). A pod is
reached on its IP and the port asked for, else its first container port. A
Service is reached on one of its Endpoints' ready addresses at the endpoint
port behind the Service port asked for (by name, or by number through the
Service's ports), chosen at random; an address counts only while it still
names a pod of the namespace that has that IP (what keeps a hand-made
Endpoints from pointing the API server anywhere). A node is reached at its
kubelet (its address and kubelet port, over HTTPS with the API server's
client certificate) unless another port is asked for. Loopback and link-local
addresses are never dialled. Errors are kube's, in its words.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver import errors
from kybernetes.apiserver.podlogs import kubelet_endpoint

__all__ = [
    "Location",
    "check_proxyable",
    "node_location",
    "pod_location",
    "service_location",
    "split_name",
]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Location:
    scheme: str
    host: str
    port: int | None
    kubelet: bool = False  # the node's kubelet: HTTPS with the API server's client certificate

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def split_name(raw: str, kind: str) -> tuple[str, str, str]:
    """(scheme, name, port) of `name`, `name:port` or `scheme:name:port`."""
    parts = raw.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        scheme, name, port = "", "", ""
    if not name or scheme not in ("", "http", "https"):
        raise errors.bad_request(f'invalid {kind} request "{raw}"')
    return scheme or "http", name, port


def check_proxyable(ip: str, *, allow_loopback: bool = False) -> None:
    """kube's IsProxyableIP: a 400 for what is no pod's address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise errors.bad_request("address not allowed") from None
    if (
        (address.is_loopback and not allow_loopback)
        or address.is_link_local
        or (address.is_multicast or address.is_unspecified)
    ):
        raise errors.bad_request("address not allowed")


def _port_number(port: str) -> int | None:
    if not port:
        return None
    if not port.isdigit():
        raise errors.bad_request(f'invalid port "{port}"')
    return int(port)


def pod_location(pod: Obj, scheme: str, port: str, *, allow_loopback: bool = False) -> Location:
    if not port:
        for container in (pod.get("spec") or {}).get("containers") or []:
            ports = container.get("ports") or []
            if ports:
                port = str(ports[0].get("containerPort", ""))
                break
    ip = str((pod.get("status") or {}).get("podIP") or "")
    check_proxyable(ip, allow_loopback=allow_loopback)
    return Location(scheme, ip, _port_number(port))


def node_location(node: Obj, scheme: str, port: str, *, allow_loopback: bool = False) -> Location:
    """The node's kubelet (no port, or the kubelet's: HTTPS with the API server's
    credentials, whatever scheme was asked), else `scheme` on the node's address
    at `port`, as kube's node ResourceLocation picks them."""
    host, kubelet_port = kubelet_endpoint(node, "it has no kubelet to proxy to")
    check_proxyable(host, allow_loopback=allow_loopback)
    if not port or port == str(kubelet_port):
        return Location("https", host, kubelet_port, kubelet=True)
    return Location(scheme, host, _port_number(port))


def _port_name(service: Obj, port: str) -> str:
    """The Service port a number names (the Endpoints know ports by name only)."""
    if not port.isdigit():
        return port
    for service_port in (service.get("spec") or {}).get("ports") or []:
        if service_port.get("port") == int(port):
            return str(service_port.get("name") or "")
    name = service["metadata"]["name"]
    raise errors.service_unavailable(f'no service port {port} found for service "{name}"')


def service_location(
    service: Obj,
    endpoints: Obj | None,
    scheme: str,
    port: str,
    *,
    pod_ips: Callable[[str], list[str]],
    allow_loopback: bool = False,
    rng: random.Random | None = None,
) -> Location:
    """An address of `endpoints` serving the Service port `port`; `pod_ips(name)` gives
    the IPs of a pod of the Service's namespace ([] when there is none)."""
    pick = rng or random.Random()
    name = service["metadata"]["name"]
    wanted = _port_name(service, port)
    subsets = list((endpoints or {}).get("subsets") or [])
    if not subsets:
        raise errors.service_unavailable(f'no endpoints available for service "{name}"')
    pick.shuffle(subsets)
    namespace = service["metadata"].get("namespace")
    for subset in subsets:
        for endpoint_port in subset.get("ports") or []:
            if (endpoint_port.get("name") or "") != wanted:
                continue
            addresses = list(subset.get("addresses") or [])
            pick.shuffle(addresses)
            for address in addresses:
                ref = address.get("targetRef") or {}
                if ref.get("kind") != "Pod" or ref.get("namespace", namespace) != namespace:
                    continue
                if address.get("ip") not in pod_ips(str(ref.get("name", ""))):
                    continue
                check_proxyable(address["ip"], allow_loopback=allow_loopback)
                return Location(scheme, address["ip"], int(endpoint_port["port"]))
    raw = f"{name}:{port}" if port else name
    raise errors.service_unavailable(f'no endpoints available for service "{raw}"')
