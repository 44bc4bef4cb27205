"""What the Endpoints controller decides, as pure functions (STYLE.md habit 1).

For a Service with a selector and the pods it selects: the `subsets` of its
Endpoints, built the way kubernetes builds them. Every pod with an IP that
is neither finished nor (unless `publishNotReadyAddresses`) terminating
contributes one address per service port it can serve: the port resolved in
*that* pod (a number, or a container port looked up by name and protocol; a
pod without the named port is left out of that port only). Ready pods go to
`addresses`, the rest to `notReadyAddresses`. The addresses are then
regrouped ("repacked") so that each subset holds the ports that share exactly
the same set of addresses, every list sorted, so equal inputs give equal
output and an unchanged result is recognised and not written.

Above 1,000 addresses the Endpoints is truncated (ready addresses first,
each subset keeping its share) and annotated
`endpoints.kubernetes.io/over-capacity: truncated`. Unlike kubernetes, the
comparison with what is stored is made after truncating, so an over-capacity
service is not rewritten on every sync.

The helpers that both the Endpoints and the EndpointSlice controllers need
(readiness, ports, hostnames, which services a pod change concerns, the
last-change trigger time) live here too; `endpointslice_decisions` imports
them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "HEADLESS_LABEL",
    "LAST_CHANGE_TRIGGER_TIME",
    "MANAGED_BY_LABEL",
    "MAX_CAPACITY",
    "OVER_CAPACITY",
    "TriggerTimes",
    "desired_endpoints",
    "endpoint_address",
    "endpoint_subsets",
    "find_port",
    "format_time",
    "has_selector",
    "is_headless",
    "is_ready",
    "namespace_terminating",
    "parse_time",
    "pod_change_keys",
    "pod_endpoints_changed",
    "pod_ip",
    "repack_subsets",
    "selects",
    "services_of_pod",
    "services_to_update",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
    "truncate_subsets",
]

Obj = dict[str, Any]

CONTROLLER_NAME = "endpoint-controller"
MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by"
HEADLESS_LABEL = "service.kubernetes.io/headless"
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000


# -- pods ----------------------------------------------------------------------------------


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def is_ready(pod: Obj) -> bool:
    """The pod's `Ready` condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _ready_since(pod: Obj) -> str:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("lastTransitionTime") or "")
    return ""


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]  # podIPs is podIP's plural; older writers set only podIP
    return ips


def should_pod_be_in_endpoints(pod: Obj, *, include_terminating: bool) -> bool:
    """Not finished, has an IP, and not being deleted unless terminating pods count."""
    if is_terminal(pod) or not _pod_ips(pod):
        return False
    return include_terminating or not _meta(pod).get("deletionTimestamp")


def service_ip_family(service: Obj, pod: Obj) -> str:
    """IPv4 or IPv6: the service's first family, else its cluster IP's, else the pod IP's."""
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or []
    if families:
        return str(families[0])
    cluster_ip = str(spec.get("clusterIP") or "")
    probe = cluster_ip if cluster_ip and cluster_ip != "None" else str(
        (pod.get("status") or {}).get("podIP") or "")  # fmt: skip
    return "IPv6" if ":" in probe else "IPv4"


def pod_ip(pod: Obj, family: str) -> str:
    """The pod's IP of `family`, or "" when it has none."""
    for ip in _pod_ips(pod):
        if (":" in ip) == (family == "IPv6"):
            return ip
    return ""


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The port `service_port` reaches in this pod, or None when the pod lacks it.

    A number is taken as it is; a name is looked up among the containers'
    ports (and restartable init containers', the sidecars) of the same
    protocol.
    """
    target = service_port.get("targetPort")
    if target is None or target == "" or target == 0:
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or []), *sidecars]:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod with a hostname whose subdomain is this service (a headless service's DNS)."""
    spec, meta = pod.get("spec") or {}, _meta(pod)
    return bool(spec.get("hostname")) and spec.get("subdomain") == _meta(service).get(
        "name") and meta.get("namespace") == _meta(service).get("namespace")  # fmt: skip


def target_ref(pod: Obj) -> Obj:
    meta = _meta(pod)
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
            "uid": meta.get("uid", "")}  # fmt: skip


# -- services ------------------------------------------------------------------------------


def has_selector(service: Obj) -> bool:
    """Selects pods at all. An empty selector is treated as none: kubernetes stores an empty
    map as no map, and a service without a selector gets its endpoints from its user."""
    return bool((service.get("spec") or {}).get("selector"))


def is_headless(service: Obj) -> bool:
    """No cluster IP ("None" or unset), as kubernetes' IsServiceIPSet sees it."""
    return (service.get("spec") or {}).get("clusterIP") in (None, "", "None")


def selects(service: Obj, labels: Mapping[str, str]) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _port_name(port: Obj) -> str:
    return str(port.get("name") or "")


def _endpoint_port(service_port: Obj, number: int) -> Obj:
    """An Endpoints port: the service port's name (omitted when empty), the pod's number."""
    port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port = {"name": service_port["name"], **port}
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


# -- which services a pod change concerns ---------------------------------------------------


def pod_endpoints_changed(old: Obj, new: Obj) -> tuple[bool, bool]:
    """(the pod's endpoint changed, its service membership may have changed).

    Only what an endpoint shows counts: IPs, readiness, being deleted, being
    finished; membership follows labels, hostname and subdomain. Name, uid and
    node do not change once a pod has an IP, and container ports are immutable.
    """
    old_meta, new_meta = _meta(old), _meta(new)
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = (
        (old_meta.get("labels") or {}) != (new_meta.get("labels") or {})
        or old_spec.get("hostname") != new_spec.get("hostname")
        or old_spec.get("subdomain") != new_spec.get("subdomain")
    )
    pod_changed = (
        old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or is_ready(old) != is_ready(new)
        or _pod_ips(old) != _pod_ips(new)
        or is_terminal(old) != is_terminal(new)
    )
    return pod_changed, labels_changed


def services_to_update(old: set[str], new: set[str], *, pod_changed: bool) -> set[str]:
    """After a label change: every service of either side if the pod changed too, else only
    those it joined or left."""
    return old | new if pod_changed else old ^ new


def services_of_pod(services: list[Obj], pod: Obj) -> set[str]:
    """Keys of `services` (those of the pod's namespace) whose selector matches the pod."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return {_key(s) for s in services if selects(s, labels)}


def pod_change_keys(services: list[Obj], old: Obj, new: Obj) -> set[str]:
    """The services a pod update concerns (kubernetes' GetServicesToUpdateOnPodChange)."""
    if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
        return set()
    pod_changed, labels_changed = pod_endpoints_changed(old, new)
    if not pod_changed and not labels_changed:
        return set()
    now = services_of_pod(services, new)
    if not labels_changed:
        return now
    return services_to_update(services_of_pod(services, old), now, pod_changed=pod_changed)


def _key(obj: Obj) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace', '')}/{meta['name']}"


# -- subsets --------------------------------------------------------------------------------


def endpoint_address(pod: Obj, service: Obj) -> Obj | None:
    """The pod as an address of `service`, or None without an IP of the service's family."""
    ip = pod_ip(pod, service_ip_family(service, pod))
    if not ip:
        return None
    address: Obj = {"ip": ip}
    if should_set_hostname(pod, service):
        address["hostname"] = (pod.get("spec") or {})["hostname"]
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    address["targetRef"] = target_ref(pod)
    return address


def _address_key(address: Obj) -> tuple[str, str]:
    return str(address.get("ip", "")), str((address.get("targetRef") or {}).get("uid", ""))


def _port_key(port: Obj) -> tuple[str, int, str, str]:
    return (str(port.get("name") or ""), int(port.get("port") or 0),
            str(port.get("protocol") or ""), str(port.get("appProtocol") or ""))  # fmt: skip


NO_PORT: tuple[str, int, str, str] = ("", -1, "", "")  # a headless service's port-less entry


def endpoint_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The repacked, sorted subsets of `service`'s Endpoints for the pods it selects."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    ports = spec.get("ports") or []
    entries: list[tuple[Obj, Obj | None, bool]] = []  # (address, port, ready)
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, include_terminating=publish_not_ready):
            continue
        address = endpoint_address(pod, service)
        if address is None:
            continue
        ready = publish_not_ready or is_ready(pod)
        if not ports:
            if spec.get("clusterIP") == "None":  # a headless service may have no ports
                entries.append((address, None, ready))
            continue
        for service_port in ports:
            number = find_port(pod, service_port)
            if number is not None:
                entries.append((address, _endpoint_port(service_port, number), ready))
    return repack_subsets(entries)


def repack_subsets(entries: Iterable[tuple[Obj, Obj | None, bool]]) -> list[Obj]:
    """Group (address, port, ready) entries into subsets: each subset holds the ports that
    share exactly the same addresses. An address not ready for one port is not ready for it
    at all ("not ready trumps ready"), as in kubernetes' RepackSubsets."""
    addresses: dict[tuple[str, str], Obj] = {}
    ports: dict[tuple[str, int, str, str], Obj | None] = {}
    by_port: dict[tuple[str, int, str, str], dict[tuple[str, str], bool]] = {}
    for address, port, ready in entries:
        akey = _address_key(address)
        addresses.setdefault(akey, address)
        pkey = NO_PORT if port is None else _port_key(port)
        ports.setdefault(pkey, port)
        seen = by_port.setdefault(pkey, {})
        seen[akey] = seen.get(akey, True) and ready
    groups: dict[tuple[tuple[tuple[str, str], bool], ...], list[Obj]] = {}
    for pkey, seen in by_port.items():
        group = groups.setdefault(tuple(sorted(seen.items())), [])
        port = ports[pkey]
        if port is not None:
            group.append(port)
    subsets = []
    for members, group_ports in groups.items():
        subset: Obj = {}
        ready_ones = [addresses[a] for a, r in members if r]
        not_ready = [addresses[a] for a, r in members if not r]
        if ready_ones:
            subset["addresses"] = ready_ones
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if group_ports:
            subset["ports"] = sorted(group_ports, key=_port_key)
        subsets.append(subset)
    return sorted(subsets, key=_subset_key)


def _subset_key(subset: Obj) -> tuple[Any, ...]:
    # Ports are never shared between subsets, so they order subsets; port-less ones
    # (headless) order by their first address.
    first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{}])[0]
    return tuple(_port_key(p) for p in subset.get("ports") or []), _address_key(first)


def truncate_subsets(subsets: Sequence[Obj], capacity: int = MAX_CAPACITY) -> tuple[
        list[Obj], bool]:  # fmt: skip
    """At most `capacity` addresses: ready ones first, each subset keeping its share
    (rounded up, the last subsets getting what is left), as kubernetes truncates."""
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= capacity:
        return list(subsets), False
    truncate_ready = total_ready > capacity
    room = capacity if truncate_ready else capacity - total_ready
    total = total_ready if truncate_ready else total_not_ready
    left = room
    result = []
    for subset in subsets:
        subset = dict(subset)
        field_name = "addresses" if truncate_ready else "notReadyAddresses"
        members = subset.get(field_name) or []
        share = min(math.ceil(len(members) / total * room), left) if total else 0
        kept = members[:share]
        left -= len(kept)
        if kept:
            subset[field_name] = kept
        else:
            subset.pop(field_name, None)
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        result.append(subset)
    return result, True


# -- the Endpoints object ------------------------------------------------------------------


def endpoints_labels(service: Obj) -> dict[str, str]:
    """The service's labels, plus who manages the Endpoints and whether it is headless."""
    labels = dict(_meta(service).get("labels") or {})
    labels.pop(HEADLESS_LABEL, None)
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def desired_endpoints(
    service: Obj, pods: Iterable[Obj], current: Obj | None, *, trigger_time: str
) -> Obj | None:
    """The Endpoints to create (no resourceVersion) or update (`current`'s), or None when
    `current` already says it all. `trigger_time` ("" for none) is the
    last-change-trigger-time annotation written with a change."""
    subsets, truncated = truncate_subsets(endpoint_subsets(service, pods))
    labels = endpoints_labels(service)
    meta = _meta(current) if current is not None else {}
    annotations = dict(meta.get("annotations") or {})
    if (
        current is not None
        and (current.get("subsets") or []) == subsets
        and (meta.get("labels") or {}) == labels
        and (annotations.get(OVER_CAPACITY) == "truncated") == truncated
    ):
        return None
    if trigger_time:
        annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    if truncated:
        annotations[OVER_CAPACITY] = "truncated"
    else:
        annotations.pop(OVER_CAPACITY, None)
    new_meta = {**meta, "name": _meta(service)["name"], "labels": labels}
    new_meta["namespace"] = _meta(service).get("namespace", "")
    if annotations:
        new_meta["annotations"] = annotations
    else:
        new_meta.pop("annotations", None)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": new_meta, "subsets": subsets}


def namespace_terminating(status: Obj) -> bool:
    """A failed create's Status says the namespace is being deleted (creates will keep
    failing there, so the service is dropped rather than retried)."""
    causes = (status.get("details") or {}).get("causes") or []
    return status.get("code") == 403 and any(
        c.get("reason") == "NamespaceTerminating" for c in causes
    )


# -- the last-change trigger time -----------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(when: datetime) -> str:
    """Go's RFC3339Nano in UTC: fractions only when there are any, without trailing zeros."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


@dataclass
class _ServiceState:
    pods: dict[str, datetime] = field(default_factory=dict)
    service: datetime | None = None


class TriggerTimes:
    """When the change that an Endpoints (or EndpointSlice) write publishes happened.

    kubernetes' TriggerTimeTracker: per service, the earliest of the changes
    seen since the last sync — a pod's Ready condition moving, or the service
    being created; the service's creation time the first time a service is
    seen. "" means nothing new (the annotation is then removed). State, but
    no I/O: the caller passes everything in.
    """

    def __init__(self) -> None:
        self._state: dict[str, _ServiceState] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> str:
        state = self._state.get(key)
        known = state is not None
        if state is None:
            state = self._state[key] = _ServiceState()
        earliest: datetime | None = None
        pod_times: dict[str, datetime] = {}
        for pod in pods:
            when = parse_time(_ready_since(pod))
            if when is None:
                continue
            name = str(_meta(pod).get("name"))
            pod_times[name] = when
            before = state.pods.get(name)
            if before is None or when > before:
                earliest = when if earliest is None else min(earliest, when)
        created = parse_time(str(_meta(service).get("creationTimestamp") or ""))
        if created is not None and (state.service is None or created > state.service):
            earliest = created if earliest is None else min(earliest, created)
        state.pods, state.service = pod_times, created
        if not known:
            return format_time(created) if created is not None else ""
        return format_time(earliest) if earliest is not None else ""

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
