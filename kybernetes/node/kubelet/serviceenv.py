"""The legacy service environment variables a container starts with (`FOO_SERVICE_HOST`, ...).

Docker-links style variables, as the kubelet makes them (pkg/kubelet/envvars):
every Service with a cluster IP in the pod's namespace when the pod's
`enableServiceLinks` is true (the default), and always the API server's
own `kubernetes` Service of the `default` namespace, which is how in-cluster
clients (client-go, the official Python client) find the API. A Service of
the pod's namespace wins over the `default` one of the same name. The
container's own variables win over all of these, and `$(VAR)` may refer to
them. Pure functions over Service objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["service_env", "visible_services"]

Obj = dict[str, Any]
MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def _has_cluster_ip(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def visible_services(services: Iterable[Obj], namespace: str, *, links: bool) -> list[Obj]:
    """The Services whose variables a pod of `namespace` gets, one per name."""
    chosen: dict[str, Obj] = {}
    mine: dict[str, Obj] = {}
    for service in services:
        if not _has_cluster_ip(service):
            continue
        meta = service.get("metadata") or {}
        name, where = str(meta.get("name", "")), meta.get("namespace")
        if where == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen[name] = service
        elif where == namespace and links:
            mine[name] = service
    chosen.update(mine)  # the pod's own namespace wins
    return [chosen[name] for name in sorted(chosen)]


def _variable_name(name: str) -> str:
    out = name.replace(".", "_").replace("-", "_").upper()
    return f"_{out}" if out[:1].isdigit() else out


def service_env(services: Iterable[Obj]) -> dict[str, str]:
    """The variables for these Services, in the kubelet's order."""
    env: dict[str, str] = {}
    for service in services:
        if not _has_cluster_ip(service):
            continue
        spec = service["spec"]
        ip, ports = str(spec["clusterIP"]), list(spec.get("ports") or [])
        prefix = _variable_name(str(service["metadata"]["name"]))
        env[f"{prefix}_SERVICE_HOST"] = ip
        if ports:
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:  # only the first port may be unnamed
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_variable_name(str(port['name']))}"] = str(
                    port.get("port"))  # fmt: skip
        for index, port in enumerate(ports):
            protocol = str(port.get("protocol") or "TCP")
            url = f"{protocol.lower()}://{ip}:{port.get('port')}"
            if index == 0:
                env[f"{prefix}_PORT"] = url  # Docker special-cases the first port
            link = f"{prefix}_PORT_{port.get('port')}_{protocol.upper()}"
            env[link] = url
            env[f"{link}_PROTO"] = protocol.lower()
            env[f"{link}_PORT"] = str(port.get("port"))
            env[f"{link}_ADDR"] = ip
    return env
