"""What the EndpointSlice mirroring controller decides, as pure functions.

A Service without a selector gets its endpoints from its user, as an
Endpoints object; consumers of EndpointSlices (the service proxy, DNS,
`kubectl describe svc`) would not see them. So, as kubernetes'
endpointslicemirroring-controller does, every such Endpoints is mirrored into
EndpointSlices: each (repacked) subset becomes endpoints of its address type
and ports, `ready` for `addresses` and not for `notReadyAddresses`, at most
1,000 addresses per subset; one slice per address type and port set, owned
by the Endpoints, labelled with the service's name and
`endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io`,
carrying the Endpoints' labels and annotations (less the trigger time and
kubectl's last-applied configuration).

Not mirrored: Endpoints labelled `endpointslice.kubernetes.io/skip-mirror:
"true"` (the API server's own `kubernetes` Endpoints, whose slice it writes
itself), leader-election Endpoints, and those of services with a selector
(the EndpointSlice controller covers them; their mirrored slices are deleted).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.controllers.endpoints_decisions import LAST_CHANGE_TRIGGER_TIME, repack_subsets
from kybernetes.controllers.endpointslice_decisions import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointKey,
    PortKey,
    SlicePlan,
    endpoint_key,
    port_key,
)

__all__ = [
    "MAX_ENDPOINTS_PER_SUBSET",
    "MIRRORING_CONTROLLER_NAME",
    "SKIP_MIRROR_LABEL",
    "Mirror",
    "address_type",
    "desired_mirror",
    "reconcile_mirror",
    "should_mirror",
]

Obj = dict[str, Any]

MIRRORING_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ENDPOINTS_PER_SUBSET = 1000

GroupKey = tuple[str, PortKey]  # (address type, ports)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def should_mirror(endpoints: Obj | None) -> bool:
    if endpoints is None:
        return False
    meta = _meta(endpoints)
    return (meta.get("labels") or {}).get(SKIP_MIRROR_LABEL) != "true" and (
        LEADER_ANNOTATION not in (meta.get("annotations") or {}))  # fmt: skip


def address_type(ip: str) -> str | None:
    """IPv4 or IPv6, or None for what is not an IP address."""
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def mirrored_labels(endpoints: Obj) -> dict[str, str]:
    labels = {k: v for k, v in (_meta(endpoints).get("labels") or {}).items()
              if k not in (MANAGED_BY_LABEL, SERVICE_NAME_LABEL)}  # fmt: skip
    labels[SERVICE_NAME_LABEL] = _meta(endpoints)["name"]
    labels[MANAGED_BY_LABEL] = MIRRORING_CONTROLLER_NAME
    return labels


def mirrored_annotations(endpoints: Obj) -> dict[str, str]:
    return {k: v for k, v in (_meta(endpoints).get("annotations") or {}).items()
            if k not in (LAST_CHANGE_TRIGGER_TIME, LAST_APPLIED)}  # fmt: skip


def _slice_port(port: Obj) -> Obj:
    mirrored: Obj = {"name": str(port.get("name") or ""), "port": port.get("port"),
                     "protocol": port.get("protocol") or "TCP"}  # fmt: skip
    if port.get("appProtocol"):
        mirrored["appProtocol"] = port["appProtocol"]
    return mirrored


def _endpoint(address: Obj, ready: bool) -> Obj:
    endpoint: Obj = {"addresses": [address["ip"]], "conditions": {"ready": ready}}
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    if address.get("nodeName"):
        endpoint["nodeName"] = address["nodeName"]
    if address.get("targetRef"):
        endpoint["targetRef"] = address["targetRef"]
    return endpoint


@dataclass
class Mirror:
    """The endpoints to mirror, grouped by address type and ports."""

    ports: dict[GroupKey, list[Obj]] = field(default_factory=dict)
    endpoints: dict[GroupKey, dict[EndpointKey, Obj]] = field(default_factory=dict)
    invalid: int = 0  # addresses that are not IPs
    skipped: int = 0  # addresses beyond the per-subset maximum


def desired_mirror(endpoints: Obj, max_per_subset: int = MAX_ENDPOINTS_PER_SUBSET) -> Mirror:
    mirror = Mirror()
    entries = [
        (address, port, ready)
        for subset in endpoints.get("subsets") or []
        for port in subset.get("ports") or [None]
        for ready, field_name in ((True, "addresses"), (False, "notReadyAddresses"))
        for address in subset.get(field_name) or []
        if address.get("ip")
    ]  # fmt: skip
    for subset in repack_subsets(entries):  # canonical: one subset per set of addresses
        ports = [_slice_port(p) for p in subset.get("ports") or []]
        members = [(a, True) for a in subset.get("addresses") or []] + [
            (a, False) for a in subset.get("notReadyAddresses") or []]  # fmt: skip
        added = invalid = 0
        for address, ready in members:
            if added >= max_per_subset:
                break
            kind = address_type(str(address.get("ip")))
            if kind is None:
                invalid += 1
                continue
            key = (kind, port_key(ports))
            mirror.ports.setdefault(key, ports)
            endpoint = _endpoint(address, ready)
            mirror.endpoints.setdefault(key, {}).setdefault(endpoint_key(endpoint), endpoint)
            added += 1
        mirror.invalid += invalid
        mirror.skipped += len(members) - added - invalid
    return mirror


def _new_slice(endpoints: Obj, kind: str, ports: list[Obj], items: list[Obj]) -> Obj:
    meta = _meta(endpoints)
    slice_meta: Obj = {
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", ""),
        "labels": mirrored_labels(endpoints),
        "ownerReferences": [{"apiVersion": "v1", "kind": "Endpoints", "name": meta["name"],
                             "uid": meta.get("uid", ""), "controller": True,
                             "blockOwnerDeletion": True}],
    }  # fmt: skip
    annotations = mirrored_annotations(endpoints)
    if annotations:
        slice_meta["annotations"] = annotations
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": slice_meta,
            "addressType": kind, "endpoints": items, "ports": ports}  # fmt: skip


def _same(new: Obj, old: Obj) -> bool:
    new_meta, old_meta = _meta(new), _meta(old)
    return (
        new.get("addressType") == old.get("addressType")
        and (new.get("ports") or []) == (old.get("ports") or [])
        and (new.get("endpoints") or []) == (old.get("endpoints") or [])
        and (new_meta.get("labels") or {}) == (old_meta.get("labels") or {})
        and (new_meta.get("annotations") or {}) == (old_meta.get("annotations") or {})
    )


def reconcile_mirror(endpoints: Obj, existing: Sequence[Obj], mirror: Mirror) -> SlicePlan:
    """One slice per address type and port set: the first existing one of a group is
    rewritten when it differs, the others deleted; a create paired with a delete becomes
    an update of the doomed slice."""
    plan = SlicePlan()
    groups: dict[GroupKey, list[Obj]] = {}
    for eps in sorted(existing, key=lambda s: _meta(s).get("name", "")):
        key = (str(eps.get("addressType")), port_key(eps.get("ports") or []))
        groups.setdefault(key, []).append(eps)
    for key in sorted(mirror.endpoints):
        slices = groups.pop(key, [])
        plan.delete.extend(slices[1:])
        wanted = list(mirror.endpoints[key].values())
        if not wanted:
            plan.delete.extend(slices[:1])
            continue
        fresh = _new_slice(endpoints, key[0], mirror.ports[key], wanted)
        if not slices:
            plan.create.append(fresh)
        elif not _same(fresh, slices[0]):
            plan.update.append(_rewrite(slices[0], fresh))
    for slices in groups.values():
        plan.delete.extend(slices)
    keep = []
    for doomed in plan.delete:
        match = next((c for c in plan.create if c["addressType"] == doomed.get("addressType")),
                     None)  # fmt: skip
        if match is None:
            keep.append(doomed)
            continue
        plan.create.remove(match)
        plan.update.append(_rewrite(doomed, match))
    plan.delete = keep
    if _meta(endpoints).get("deletionTimestamp"):
        plan.create = []
    return plan


def _rewrite(old: Obj, fresh: Obj) -> Obj:
    """`fresh`'s content and labels in `old` (its name, uid and resourceVersion)."""
    meta = {**_meta(old)}
    for key in ("labels", "annotations", "ownerReferences"):
        if key in _meta(fresh):
            meta[key] = _meta(fresh)[key]
        else:
            meta.pop(key, None)
    return {**old, "metadata": meta, "addressType": fresh["addressType"],
            "endpoints": fresh["endpoints"], "ports": fresh["ports"]}  # fmt: skip
