"""The routing table of the ingress proxy, as pure functions (STYLE.md habit 1).

`build_routes` turns the Ingresses of our class, the Services and the
EndpointSlices into an immutable `RouteTable`; the proxy swaps the whole
table when anything changes, so a request in flight keeps the table (and the
endpoint) it started with, and a new one sees the new table at once.
`route` answers "where does this host and path go" from a table alone.

Matching follows the Ingress API's rules:

- Hosts: an exact host, or `*.suffix` matching exactly one more DNS label
  (`*.foo.com` matches `bar.foo.com`, not `foo.com` nor `a.bar.foo.com`).
  A request tries the rules of its exact host, then of the wildcard that
  covers it, then the rules without a host; the first group with a matching
  path wins (so a host-less `/` rule serves what a host leaves out).
- Paths: `Exact` matches the path as written (`/foo` is not `/foo/`);
  `Prefix` matches element by element after splitting on `/`, ignoring a
  trailing slash (`/foo` matches `/foo`, `/foo/` and `/foo/bar`, never
  `/foobar`); `ImplementationSpecific` is treated as `Prefix`. Of several
  matching paths the longest wins, `Exact` before `Prefix` at equal length.
- When the same host, path and type appear in several Ingresses, the oldest
  Ingress wins (creationTimestamp, then namespace/name), as ingress-nginx
  merges them. A host group whose paths all miss goes to the defaultBackend
  of the oldest Ingress with rules for it, else to the oldest Ingress's
  defaultBackend of all, else nowhere (404).

A backend is resolved here, once per change, to the ready endpoints of the
Service port (by number or name) read from its EndpointSlices; a resource
backend, a missing Service or port, or an ExternalName Service resolve to
no endpoints, which the proxy answers with 503.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SERVICE_NAME_LABEL",
    "Backend",
    "HostRoutes",
    "PathRoute",
    "RouteTable",
    "build_routes",
    "host_matches",
    "normalize_host",
    "path_matches",
    "route",
    "tls_secret_for",
]

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Backend:
    """Where a matched request goes: ready endpoints, or why there are none."""

    key: str  # "namespace/service:port": the round-robin position is kept per key
    endpoints: tuple[tuple[str, int], ...] = ()
    problem: str = ""  # why there are no endpoints to try (for the log), "" if none


@dataclass(frozen=True)
class PathRoute:
    path: str
    exact: bool  # Exact, else Prefix (ImplementationSpecific included)
    backend: Backend
    origin: str = ""  # namespace/name of the Ingress, for logs
    segments: tuple[str, ...] = ()  # of `path`, split once here rather than per request

    def matches(self, path: str, segments: list[str]) -> bool:
        if self.exact:
            return path == self.path
        return (
            len(segments) >= len(self.segments)
            and tuple(segments[: len(self.segments)]) == self.segments
        )


@dataclass(frozen=True)
class HostRoutes:
    paths: tuple[PathRoute, ...] = ()  # in precedence order: longest first, Exact first
    default: Backend | None = None


@dataclass(frozen=True)
class RouteTable:
    exact: Mapping[str, HostRoutes] = field(default_factory=dict)
    wildcard: Mapping[str, HostRoutes] = field(default_factory=dict)  # key: ".foo.com"
    any_host: HostRoutes = field(default_factory=HostRoutes)
    default: Backend | None = None
    tls: Mapping[str, str] = field(default_factory=dict)  # host or *.pattern -> ns/secret
    tls_default: str = ""  # the secret of a TLS entry without hosts, if any


# -- matching ------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def path_matches(rule_path: str, *, exact: bool, request_path: str) -> bool:
    rule = PathRoute(rule_path, exact, Backend(""), segments=tuple(_segments(rule_path)))
    return rule.matches(request_path, _segments(request_path))


def host_matches(rule_host: str, host: str) -> bool:
    if not rule_host:
        return True
    if rule_host.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and "." + rest == rule_host[1:]
    return rule_host == host


def normalize_host(header: str) -> str:
    """The Host header without its port, lower-cased (`[::1]:80` -> `::1`)."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _wildcard_key(host: str) -> str:
    label, dot, rest = host.partition(".")
    return "." + rest if label and dot else ""


def route(table: RouteTable, host: str, path: str) -> Backend | None:
    """The backend for a request, or None (404: nothing matches, no default backend)."""
    host = normalize_host(host)
    groups = [table.exact.get(host), table.wildcard.get(_wildcard_key(host)), table.any_host]
    first_group: HostRoutes | None = None
    segments = _segments(path)
    for group in groups:
        if group is None or not group.paths:
            continue
        first_group = first_group or group
        for candidate in group.paths:
            if candidate.matches(path, segments):
                return candidate.backend
    if first_group is not None and first_group.default is not None:
        return first_group.default
    return table.default


def tls_secret_for(table: RouteTable, server_name: str) -> str:
    """The `namespace/secret` whose certificate serves `server_name` ("" for the default)."""
    name = normalize_host(server_name)
    if name in table.tls:
        return table.tls[name]
    key = _wildcard_key(name)
    if key and "*" + key in table.tls:
        return table.tls["*" + key]
    return table.tls_default


# -- building ------------------------------------------------------------------


def _age(ing: Obj) -> tuple[str, str, str]:
    meta = ing.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))  # fmt: skip


def _ready_endpoints(slices: Iterable[Obj], port_name: str) -> tuple[tuple[str, int], ...]:
    found: set[tuple[str, int]] = set()
    for eps in slices:
        if eps.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue
        number = next(
            (p.get("port") for p in eps.get("ports") or []
             if (p.get("name") or "") == port_name and p.get("protocol", "TCP") == "TCP"),
            None,
        )  # fmt: skip
        if not isinstance(number, int):
            continue
        for endpoint in eps.get("endpoints") or []:
            # An unset condition means ready (the EndpointSlice API's rule).
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or []
            if addresses:  # the addresses of one endpoint are fungible: use the first
                found.add((str(addresses[0]), number))
    return tuple(sorted(found))


def _backend(
    namespace: str,
    spec: Obj,
    *,
    services: Mapping[str, Obj],
    slices: Mapping[str, Sequence[Obj]],
) -> Backend:
    service = spec.get("service")
    if not service:
        kind = (spec.get("resource") or {}).get("kind", "resource")
        return Backend(f"{namespace}/{kind}", problem=f"{kind} backends are not supported")
    name = str(service.get("name") or "")
    port = service.get("port") or {}
    wanted = port.get("number") or port.get("name") or ""
    key = f"{namespace}/{name}:{wanted}"
    svc = services.get(f"{namespace}/{name}")
    if svc is None:
        return Backend(key, problem=f'service "{namespace}/{name}" not found')
    if (svc.get("spec") or {}).get("type") == "ExternalName":
        return Backend(key, problem=f'service "{namespace}/{name}" is of type ExternalName')
    for svc_port in (svc.get("spec") or {}).get("ports") or []:
        if (port.get("number") and svc_port.get("port") == port["number"]) or (
            port.get("name") and svc_port.get("name") == port["name"]
        ):
            ready = _ready_endpoints(slices.get(f"{namespace}/{name}", ()),
                                     str(svc_port.get("name") or ""))  # fmt: skip
            return Backend(key, ready, "" if ready else "no ready endpoints")
    return Backend(key, problem=f'service "{namespace}/{name}" has no port {wanted}')


def _precedence(route_: PathRoute) -> tuple[int, int]:
    return (-len(route_.path), 0 if route_.exact else 1)


@dataclass
class _Group:
    paths: list[PathRoute] = field(default_factory=list)
    seen: set[tuple[str, bool]] = field(default_factory=set)
    default: Backend | None = None

    def freeze(self) -> HostRoutes:
        return HostRoutes(tuple(sorted(self.paths, key=_precedence)), self.default)


def build_routes(
    ingresses: Iterable[Obj],
    *,
    services: Iterable[Obj],
    endpoint_slices: Iterable[Obj],
) -> RouteTable:
    """The table for `ingresses` (already filtered to our class)."""
    by_service: dict[str, Obj] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        by_service[f"{meta.get('namespace')}/{meta.get('name')}"] = svc
    slices: dict[str, list[Obj]] = {}
    for eps in endpoint_slices:
        meta = eps.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            slices.setdefault(f"{meta.get('namespace')}/{owner}", []).append(eps)

    groups: dict[str, _Group] = {}  # "" for host-less rules
    default: Backend | None = None
    tls: dict[str, str] = {}
    tls_default = ""
    for ing in sorted(ingresses, key=_age):
        meta = ing.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        origin = f"{namespace}/{meta.get('name')}"
        spec = ing.get("spec") or {}

        def resolve(backend: Obj, namespace: str = namespace) -> Backend:
            return _backend(namespace, backend, services=by_service, slices=slices)

        own_default = resolve(spec["defaultBackend"]) if spec.get("defaultBackend") else None
        if default is None:
            default = own_default
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "").lower()
            group = groups.setdefault(host, _Group())
            if group.default is None:
                group.default = own_default
            for item in (rule.get("http") or {}).get("paths") or []:
                exact = item.get("pathType") == "Exact"
                path = str(item.get("path") or "/")
                if (path, exact) in group.seen:
                    continue  # an older Ingress has it
                group.seen.add((path, exact))
                group.paths.append(PathRoute(path, exact, resolve(item.get("backend") or {}),
                                             origin, tuple(_segments(path))))  # fmt: skip
        for entry in spec.get("tls") or []:
            secret = entry.get("secretName")
            if not secret:
                continue
            hosts = entry.get("hosts") or []
            if not hosts and not tls_default:
                tls_default = f"{namespace}/{secret}"
            for host in hosts:
                tls.setdefault(str(host).lower(), f"{namespace}/{secret}")

    exact = {h: g.freeze() for h, g in groups.items() if h and not h.startswith("*.")}
    wildcard = {h[1:]: g.freeze() for h, g in groups.items() if h.startswith("*.")}
    any_host = groups[""].freeze() if "" in groups else HostRoutes()
    return RouteTable(exact, wildcard, any_host, default, tls, tls_default)
