"""Endpoints and EndpointSlices written by hand: defaulted and checked as kube-apiserver does.

The controllers write these objects correctly; users and other controllers (the
conformance tests, operators feeding selector-less Services) write them too, and
the service proxy and the DNS trust what is stored. So, as kube: a port's
protocol defaults to TCP (and a slice port's name to ""); addresses must be IP
addresses of the slice's type; ports are in range, names DNS labels and unique;
a slice says its address type, which never changes. The words are kube's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, dns1123_label_causes, dns1123_subdomain_causes
from kybernetes.apiserver.strategy import Strategy

__all__ = ["EndpointSliceStrategy", "EndpointsStrategy"]

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_PORT_RANGE = "must be between 1 and 65535, inclusive"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _default_protocols(ports: Any) -> None:
    for port in _list(ports):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _invalid(path: str, value: Any, detail: str) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return Cause(path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")


def _port_causes(port: dict[str, Any], path: str, *, required: bool) -> list[Cause]:
    causes: list[Cause] = []
    number = port.get("port")
    in_range = isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536
    if (number is not None or required) and not in_range:
        causes.append(_invalid(f"{path}.port", number, _PORT_RANGE))
    protocol = port.get("protocol")
    if protocol not in _PROTOCOLS:
        supported = ", ".join(f'"{p}"' for p in _PROTOCOLS)
        message = f'Unsupported value: "{protocol}": supported values: {supported}'
        causes.append(Cause(f"{path}.protocol", "FieldValueNotSupported", message))
    return causes


def _named_ports(
    ports: list[Any], path: str, *, names_required: bool, port_required: bool
) -> list[Cause]:
    """A list of ports; an Endpoints port must have a number, a slice's may not (all ports)."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        at = f"{path}[{i}]"
        name = port.get("name") or ""
        if names_required and not name:
            causes.append(Cause(f"{at}.name", "FieldValueRequired", "Required value"))
        elif name:
            causes += dns1123_label_causes(str(name), f"{at}.name")
            if name in seen:
                causes.append(Cause(f"{at}.name", "FieldValueDuplicate",
                                    f'Duplicate value: "{name}"'))  # fmt: skip
            seen.add(str(name))
        causes += _port_causes(port, at, required=port_required)
    return causes


def _ip_causes(value: Any, path: str, family: str = "") -> list[Cause]:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        address = None
    if family == "IPv4" and (address is None or address.version != 4):
        return [_invalid(path, value, "must be a valid IPv4 address")]
    if family == "IPv6" and (address is None or address.version != 6):
        return [_invalid(path, value, "must be a valid IPv6 address")]
    if address is None:
        return [_invalid(path, value, _IP)]
    return []


class EndpointsStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        for subset in _list(obj.get("subsets")):
            if isinstance(subset, dict):
                _default_protocols(subset.get("ports"))

    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        for i, subset in enumerate(_list(obj.get("subsets"))):
            if not isinstance(subset, dict):
                continue
            for field in ("addresses", "notReadyAddresses"):
                for j, address in enumerate(_list(subset.get(field))):
                    if isinstance(address, dict):
                        causes += _ip_causes(address.get("ip"), f"subsets[{i}].{field}[{j}].ip")
            ports = _list(subset.get("ports"))
            causes += _named_ports(
                ports, f"subsets[{i}].ports", names_required=len(ports) > 1, port_required=True
            )
        return causes


class EndpointSliceStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        _default_protocols(obj.get("ports"))
        for port in _list(obj.get("ports")):
            if isinstance(port, dict):
                port.setdefault("name", "")

    def validate(self, obj: Obj) -> list[Cause]:
        family = obj.get("addressType")
        if not family:
            causes = [Cause("addressType", "FieldValueRequired", "Required value")]
        elif family not in _ADDRESS_TYPES:
            supported = ", ".join(f'"{t}"' for t in _ADDRESS_TYPES)
            message = f'Unsupported value: "{family}": supported values: {supported}'
            causes = [Cause("addressType", "FieldValueNotSupported", message)]
        else:
            causes = []
        for i, endpoint in enumerate(_list(obj.get("endpoints"))):
            if not isinstance(endpoint, dict):
                continue
            addresses = _list(endpoint.get("addresses"))
            path = f"endpoints[{i}].addresses"
            if not addresses:
                causes.append(Cause(path, "FieldValueRequired",
                                    "Required value: must contain at least 1 address"))  # fmt: skip
            for j, address in enumerate(addresses):
                if family == "FQDN":
                    causes += dns1123_subdomain_causes(str(address), f"{path}[{j}]")
                elif family in ("IPv4", "IPv6"):
                    causes += _ip_causes(address, f"{path}[{j}]", family)
        return causes + _named_ports(
            _list(obj.get("ports")), "ports", names_required=False, port_required=False
        )

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(new)
        if new.get("addressType") != old.get("addressType"):
            causes.append(_invalid("addressType", new.get("addressType"), "field is immutable"))
        return causes
