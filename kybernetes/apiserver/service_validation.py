"""The checks of a Service spec beyond its type and ports' numbers (kube's ValidateService).

Port names are DNS labels and unique; a target port is a number in range or an
IANA service name; no two ports share a number and protocol; the session
affinity is one kube knows and a ClientIP timeout is within a day; a ClusterIP
is an IP address or "None"; an ExternalName is a DNS name. The words are
kube-apiserver's, so `kubectl apply` prints what it would print there.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import dns1123_label_causes, dns1123_subdomain_causes

__all__ = ["DEFAULT_AFFINITY_SECONDS", "default_session_affinity", "service_spec_causes"]

DEFAULT_AFFINITY_SECONDS = 10800  # kube's DefaultClientIPServiceAffinitySeconds
MAX_AFFINITY_SECONDS = 86400
_AFFINITIES = ("ClientIP", "None")
_PORT_NAME_CHARSET = re.compile(r"^[-a-z0-9]+$")
_PORT_RANGE = "must be between 1 and 65535, inclusive"


def default_session_affinity(spec: dict[str, Any]) -> None:
    """None has no config; ClientIP's timeout is three hours unless set (kube's defaults)."""
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        if not isinstance(config, dict):
            config = spec["sessionAffinityConfig"] = {}
        client_ip = config.get("clientIP")
        if not isinstance(client_ip, dict):
            client_ip = config["clientIP"] = {}
        client_ip.setdefault("timeoutSeconds", DEFAULT_AFFINITY_SECONDS)


def port_name_problems(name: str) -> list[str]:
    """kube's IsValidPortName: an IANA service name."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARSET.match(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _target_port_causes(target: Any, path: str) -> list[Cause]:
    if isinstance(target, int) and not isinstance(target, bool):
        if 0 < target < 65536:
            return []
        return [Cause(path, "FieldValueInvalid", f"Invalid value: {target}: {_PORT_RANGE}")]
    if isinstance(target, str):
        return [Cause(path, "FieldValueInvalid", f'Invalid value: "{target}": {problem}')
                for problem in port_name_problems(target)]  # fmt: skip
    return []


def _duplicate(port: dict[str, Any]) -> str:
    """A port's (protocol, number) as kube prints the key in its Duplicate error."""
    return (f'core.ServicePort{{Name:"", Protocol:"{port.get("protocol")}", '
            f"AppProtocol:(*string)(nil), Port:{port.get('port')}, TargetPort:"
            'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')  # fmt: skip


def _port_causes(ports: list[Any]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        path = f"spec.ports[{i}]"
        name = port.get("name")
        if isinstance(name, str) and name:
            causes += dns1123_label_causes(name, f"{path}.name")
        causes += _target_port_causes(port.get("targetPort"), f"{path}.targetPort")
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            causes.append(
                Cause(path, "FieldValueDuplicate", f"Duplicate value: {_duplicate(port)}")
            )
        seen.add(key)
    return causes


def _affinity_causes(spec: dict[str, Any]) -> list[Cause]:
    affinity = spec.get("sessionAffinity")
    if affinity not in _AFFINITIES:
        supported = ", ".join(f'"{a}"' for a in _AFFINITIES)
        message = f'Unsupported value: "{affinity}": supported values: {supported}'
        return [Cause("spec.sessionAffinity", "FieldValueNotSupported", message)]
    config = spec.get("sessionAffinityConfig") or {}
    seconds = (config.get("clientIP") or {}).get("timeoutSeconds") if affinity == "ClientIP" else 1
    if not isinstance(seconds, int) or not 0 < seconds <= MAX_AFFINITY_SECONDS:
        path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
        message = f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"
        return [Cause(path, "FieldValueInvalid", f"Invalid value: {seconds}: {message}")]
    return []


def _cluster_ip_causes(spec: dict[str, Any]) -> list[Cause]:
    ip = spec.get("clusterIP")
    if not isinstance(ip, str) or ip in ("", "None"):
        return []
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        message = f"Invalid value: \"{ip}\": must be empty, 'None', or a valid IP address"
        return [Cause("spec.clusterIP", "FieldValueInvalid", message)]
    return []


def service_spec_causes(spec: dict[str, Any]) -> list[Cause]:
    causes = _port_causes(list(spec.get("ports") or []))
    causes += _affinity_causes(spec)
    causes += _cluster_ip_causes(spec)
    external = spec.get("externalName")
    if spec.get("type") == "ExternalName" and isinstance(external, str) and external:
        # A trailing dot marks the name fully qualified; it is no part of the check.
        causes += dns1123_subdomain_causes(external.removesuffix("."), "spec.externalName")
    return causes
