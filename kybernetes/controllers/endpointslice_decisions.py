"""What the EndpointSlice controller decides, as pure functions (STYLE.md habit 1).

For a Service with a selector: one endpoint per selected pod that has an IP
and is not finished — terminating pods included, with conditions `ready`
(serving and not terminating, or `publishNotReadyAddresses`), `serving`
(the Ready condition) and `terminating` — grouped by the ports resolved in
each pod (pods whose named target ports resolve differently land in
different slices), at most `max_endpoints_per_slice` (100) per slice.

The reconciliation is kubernetes' (`endpointslice/reconciler.go`), so that a
change to one pod rewrites one slice, not all of them:

1. each existing slice keeps the endpoints still wanted (updated in place
   when they changed), and is deleted when it keeps none;
2. new endpoints first fill the slices that are being updated anyway
   (fullest first), then the unchanged slice they fit best in, and only then
   go to new slices;
3. a create paired with a delete becomes an update of the doomed slice;
4. a service without endpoints keeps one empty placeholder slice.

Slices of another owner (an earlier service of the same name) are deleted.
New endpoints are placed in a stable order (by pod namespace/name), where
kubernetes takes them in map order, so decisions are reproducible.

Ports always carry a `name` ("" when the service port has none): `kubectl
describe svc` dereferences it (kubectl-wire.md G6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.controllers.endpoints_decisions import (
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    find_port,
    is_headless,
    is_ready,
    pod_ip,
    service_ip_family,
    should_pod_be_in_endpoints,
    should_set_hostname,
    target_ref,
)

__all__ = [
    "CONTROLLER_NAME",
    "MANAGED_BY_LABEL",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL",
    "Desired",
    "SlicePlan",
    "desired_endpoints",
    "endpoint_ports",
    "owned_by",
    "pod_to_endpoint",
    "reconcile",
    "slice_labels",
]

Obj = dict[str, Any]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100

PortKey = tuple[tuple[str, int, str, str], ...]
EndpointKey = tuple[tuple[str, ...], str, str, str]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


# -- endpoints ------------------------------------------------------------------------------


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The service's ports as this pod serves them; a port the pod lacks is left out."""
    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {"name": str(service_port.get("name") or ""), "port": number,
                     "protocol": service_port.get("protocol") or "TCP"}  # fmt: skip
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def port_key(ports: Iterable[Obj]) -> PortKey:
    """Ports as a set: slices with equal keys hold the same ports."""
    return tuple(sorted(
        (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or ""),
         str(p.get("appProtocol") or ""))
        for p in ports
    ))  # fmt: skip


def pod_to_endpoint(pod: Obj, node: Obj | None, service: Obj) -> Obj:
    """The pod as an endpoint: conditions as kubernetes computes them, node, zone, pod."""
    spec = pod.get("spec") or {}
    serving = is_ready(pod)
    terminating = bool(_meta(pod).get("deletionTimestamp"))
    # A terminating pod is never "ready", unless the service publishes not-ready addresses.
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    ready = publish or (serving and not terminating)
    ip = pod_ip(pod, service_ip_family(service, pod))
    endpoint: Obj = {
        "addresses": [ip] if ip else [],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    if should_set_hostname(pod, service):
        endpoint["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    zone = (_meta(node).get("labels") or {}).get(ZONE_LABEL) if node is not None else None
    if zone:
        endpoint["zone"] = zone
    endpoint["targetRef"] = target_ref(pod)
    return endpoint


def endpoint_key(endpoint: Obj) -> EndpointKey:
    """What makes an endpoint the same one across syncs: its addresses, hostname and pod."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or [])), str(endpoint.get("hostname") or ""),
            str(ref.get("namespace") or ""), str(ref.get("name") or ""))  # fmt: skip


@dataclass
class Desired:
    """The endpoints a service should have, by the ports they serve."""

    ports: dict[PortKey, list[Obj]] = field(default_factory=dict)
    endpoints: dict[PortKey, dict[EndpointKey, Obj]] = field(default_factory=dict)
    # Pods left out because their node is unknown (kubernetes retries the service later).
    missing_nodes: list[str] = field(default_factory=list)


def desired_endpoints(service: Obj, pods: Iterable[Obj], nodes: Mapping[str, Obj]) -> Desired:
    """Every endpoint `service` should have. A pod on a node that does not exist is left out
    (and reported) unless the service publishes not-ready addresses, as kubernetes does."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    headless_without_ports = not spec.get("ports") and spec.get("clusterIP") == "None"
    desired = Desired()
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = [] if headless_without_ports else endpoint_ports(service, pod)
        key = port_key(ports)
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = nodes.get(node_name)
        if node is None and not publish:
            desired.missing_nodes.append(f"{_meta(pod).get('name')} (node {node_name!r})")
            continue
        endpoint = pod_to_endpoint(pod, node, service)
        desired.ports.setdefault(key, ports)
        group = desired.endpoints.setdefault(key, {})
        if endpoint["addresses"]:
            group[endpoint_key(endpoint)] = endpoint
    return desired


# -- slices ---------------------------------------------------------------------------------


def slice_labels(service: Obj) -> dict[str, str]:
    """The service's labels, less the reserved ones, plus the slice's own."""
    reserved = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    labels = {k: v for k, v in (_meta(service).get("labels") or {}).items() if k not in reserved}
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = _meta(service)["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def owned_by(eps: Obj, service: Obj) -> bool:
    uid = _meta(service).get("uid")
    return any(ref.get("kind") == "Service" and ref.get("uid") == uid and ref.get("controller")
               for ref in _meta(eps).get("ownerReferences") or [])  # fmt: skip


def new_slice(service: Obj, ports: Sequence[Obj], address_type: str = "IPv4") -> Obj:
    meta = _meta(service)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta.get("namespace", ""),
            "labels": slice_labels(service),
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": list(ports),
    }


def _is_placeholder_of(eps: Obj, service: Obj) -> bool:
    """An empty slice, labelled as the placeholder of `service` would be."""
    return (not eps.get("endpoints") and not eps.get("ports")
            and (_meta(eps).get("labels") or {}) == slice_labels(service)
            and eps.get("addressType") == "IPv4")  # fmt: skip


@dataclass
class SlicePlan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def _with_trigger_time(eps: Obj, trigger_time: str) -> Obj:
    meta = dict(_meta(eps))
    annotations = dict(meta.get("annotations") or {})
    if trigger_time:
        annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {**eps, "metadata": meta}


def reconcile(
    service: Obj,
    existing: Sequence[Obj],
    desired: Desired,
    *,
    max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
    trigger_time: str = "",
) -> SlicePlan:
    """The creates, updates and deletes that turn `existing` (this controller's slices
    for the service's name) into `desired`."""
    plan = SlicePlan()
    by_ports: dict[PortKey, list[Obj]] = {}
    for eps in existing:
        if eps.get("addressType") != "IPv4" or not owned_by(eps, service):
            plan.delete.append(eps)
        else:
            by_ports.setdefault(port_key(eps.get("ports") or []), []).append(eps)
    for key in sorted(desired.endpoints):
        _reconcile_ports(service, by_ports.get(key, []), dict(desired.endpoints[key]),
                         desired.ports[key], max_endpoints_per_slice, plan)  # fmt: skip
    for key, slices in by_ports.items():
        if key not in desired.endpoints:
            plan.delete.extend(slices)
    if len(plan.delete) == len(existing) and not plan.create:
        # Nothing would remain: keep (or make) one empty placeholder slice.
        if len(plan.delete) == 1 and _is_placeholder_of(plan.delete[0], service) and owned_by(
                plan.delete[0], service):  # fmt: skip
            plan.delete = []
        else:
            plan.create.append(new_slice(service, []))
    _creates_become_updates(service, plan)
    if _meta(service).get("deletionTimestamp"):
        plan.create = []  # no new slices the garbage collector would race with
    plan.create = [_with_trigger_time(s, trigger_time) for s in plan.create]
    plan.update = [_with_trigger_time(s, trigger_time) for s in plan.update]
    return plan


def _reconcile_ports(
    service: Obj,
    slices: list[Obj],
    wanted: dict[EndpointKey, Obj],
    ports: list[Obj],
    max_per_slice: int,
    plan: SlicePlan,
) -> None:
    """kubernetes' reconcileByPortMapping for the slices of one port set."""
    labels = slice_labels(service)
    to_update: dict[str, Obj] = {}
    unchanged: dict[str, Obj] = {}
    # 1. Keep what is still wanted in each slice; note which slices change.
    for eps in slices:
        name = _meta(eps)["name"]
        kept: list[Obj] = []
        changed = False
        for endpoint in eps.get("endpoints") or []:
            want = wanted.pop(endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                changed = changed or want != endpoint
        if changed or len(kept) != len(eps.get("endpoints") or []):
            if not kept:
                plan.delete.append(eps)
            else:
                to_update[name] = {**eps, "metadata": {**_meta(eps), "labels": labels},
                                   "endpoints": kept}  # fmt: skip
        elif (_meta(eps).get("labels") or {}) != labels:
            to_update[name] = {**eps, "metadata": {**_meta(eps), "labels": labels}}
        else:
            unchanged[name] = eps
    pending = [wanted[k] for k in sorted(wanted, key=lambda k: (k[2], k[3], k))]
    # 2. Fill the slices that are written anyway, fullest first.
    for eps in sorted(to_update.values(), key=lambda s: -len(s["endpoints"])):
        room = max_per_slice - len(eps["endpoints"])
        if pending and room > 0:
            eps["endpoints"] = [*eps["endpoints"], *pending[:room]]
            pending = pending[room:]
    # 3. Then the unchanged slice they fit in best, then new slices.
    while pending:
        target: Obj | None = None
        if len(pending) < max_per_slice and unchanged:
            target = _slice_to_fill(list(unchanged.values()), len(pending), max_per_slice)
        if target is None:
            target = new_slice(service, ports)
        else:
            del unchanged[_meta(target)["name"]]
            target = {**target, "endpoints": list(target.get("endpoints") or [])}
        room = max_per_slice - len(target["endpoints"])
        target["endpoints"] = [*target["endpoints"], *pending[:room]]
        pending = pending[room:]
        if _meta(target).get("name"):
            to_update[_meta(target)["name"]] = target
        else:
            plan.create.append(target)
    plan.update.extend(to_update.values())


def _slice_to_fill(slices: list[Obj], count: int, max_per_slice: int) -> Obj | None:
    """The slice that `count` more endpoints bring closest to full, if any has the room."""
    best, best_gap = None, max_per_slice
    for eps in sorted(slices, key=lambda s: _meta(s)["name"]):
        gap = max_per_slice - (count + len(eps.get("endpoints") or []))
        if 0 <= gap < best_gap:
            best, best_gap = eps, gap
            if gap == 0:
                break
    return best


def _creates_become_updates(service: Obj, plan: SlicePlan) -> None:
    """Rather than create one slice and delete another, rewrite the doomed one (kubernetes'
    finalize): fewer objects churn, and watchers see one change instead of two."""
    keep: list[Obj] = []
    for doomed in plan.delete:
        if plan.create and doomed.get("addressType") == "IPv4" and owned_by(doomed, service):
            fresh = plan.create.pop()
            meta = {**_meta(doomed), "labels": _meta(fresh)["labels"],
                    "ownerReferences": _meta(fresh)["ownerReferences"]}  # fmt: skip
            plan.update.append({**doomed, "metadata": meta, "endpoints": fresh["endpoints"],
                                "ports": fresh["ports"]})  # fmt: skip
        else:
            keep.append(doomed)
    plan.delete = keep
