"""Which fields each kind lets a field selector use, and what an object exposes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kybernetes.api.selectors.errors import SelectorError
from kybernetes.api.selectors.fields import FieldRequirement, FieldSelector

__all__ = [
    "SUPPORTED_FIELDS",
    "check_field_selector",
    "convert_field_selector",
    "selectable_fields",
]

# --- which fields each kind supports ------------------------------------------------------


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _flag(value: object) -> str:
    """A bool as Go prints it; an absent bool is false, not ""."""
    return "true" if value is True else "false"


def _count(value: object) -> str:
    """An int as strconv.Itoa prints it; an absent count is 0, not ""."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _pod_fields(pod: Mapping[str, Any]) -> dict[str, str]:
    spec, status = _map(pod.get("spec")), _map(pod.get("status"))
    # The internal pod keeps only podIPs; v1's podIP is its first entry, or the only
    # address when podIPs is empty. serviceAccount is v1's deprecated alias.
    pod_ips = status.get("podIPs") or []
    ip = _map(pod_ips[0]).get("ip") if isinstance(pod_ips, list) and pod_ips else None
    return {
        "spec.nodeName": _text(spec.get("nodeName")),
        "spec.restartPolicy": _text(spec.get("restartPolicy")),
        "spec.schedulerName": _text(spec.get("schedulerName")),
        "spec.serviceAccountName": _text(
            spec.get("serviceAccountName") or spec.get("serviceAccount")
        ),
        "spec.hostNetwork": _flag(spec.get("hostNetwork")),
        "status.phase": _text(status.get("phase")),
        "status.podIP": _text(ip if pod_ips else status.get("podIP")),
        "status.nominatedNodeName": _text(status.get("nominatedNodeName")),
    }


def _event_fields(
    involved: Mapping[str, Any], reporting: object, source: object, event: Mapping[str, Any]
) -> dict[str, str]:
    return {
        "involvedObject.kind": _text(involved.get("kind")),
        "involvedObject.namespace": _text(involved.get("namespace")),
        "involvedObject.name": _text(involved.get("name")),
        "involvedObject.uid": _text(involved.get("uid")),
        "involvedObject.apiVersion": _text(involved.get("apiVersion")),
        "involvedObject.resourceVersion": _text(involved.get("resourceVersion")),
        "involvedObject.fieldPath": _text(involved.get("fieldPath")),
        "reason": _text(event.get("reason")),
        "reportingComponent": _text(reporting),
        # An event recorded through events.k8s.io has no source; its controller stands in.
        "source": _text(_map(source).get("component") or reporting),
        "type": _text(event.get("type")),
    }


def _core_event_fields(event: Mapping[str, Any]) -> dict[str, str]:
    involved = _map(event.get("involvedObject"))
    return _event_fields(involved, event.get("reportingComponent"), event.get("source"), event)


def _events_v1_event_fields(event: Mapping[str, Any]) -> dict[str, str]:
    # The same internal fields, read from events.k8s.io/v1's names for them.
    involved = _map(event.get("regarding"))
    reporting, source = event.get("reportingController"), event.get("deprecatedSource")
    return _event_fields(involved, reporting, source, event)


def _replicas_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {"status.replicas": _count(_map(obj.get("status")).get("replicas"))}


def _legacy_name_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    # Kubernetes keeps a bare "name" for PVs and PVCs "for backward compatibility"; no
    # request can select it, since the conversion side rejects "name".
    return {"name": _text(_map(obj.get("metadata")).get("name"))}


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _not_known(label: str) -> str:
    # runtime.DefaultMetaV1FieldSelectorConversion, for kinds without a conversion func.
    return f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'


_NAME = ("metadata.name",)
_NAMESPACED = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True, slots=True)
class _KindFields:
    """One kind's field selectors: the request labels it accepts (each mapped to its
    internal field), the rejection message, and the object's own field set."""

    namespaced: bool
    labels: Mapping[str, str]
    reject: Callable[[str], str]
    fields: Callable[[Mapping[str, Any]], dict[str, str]]


def _kind(
    *,
    namespaced: bool,
    accepts: Sequence[str],
    fields: Callable[[Mapping[str, Any]], dict[str, str]] = lambda obj: {},
    aliases: Mapping[str, str] | None = None,
    reject: Callable[[str], str] = _not_supported,
) -> _KindFields:
    labels = {label: label for label in accepts} | dict(aliases or {})
    return _KindFields(namespaced, MappingProxyType(labels), reject, fields)


# Keep each entry in step with both upstream files named in the module docstring.
_KINDS: Mapping[str, _KindFields] = MappingProxyType(
    {
        "Pod": _kind(
            namespaced=True,
            accepts=(
                *_NAMESPACED,
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",  # accepted, but no pod exposes it: never matches a value
                "status.nominatedNodeName",
            ),
            aliases={"spec.host": "spec.nodeName"},  # for pre-1.0 v1 clients
            fields=_pod_fields,
        ),
        "Node": _kind(
            namespaced=False,
            accepts=(*_NAME, "spec.unschedulable"),
            fields=lambda node: {
                "spec.unschedulable": _flag(_map(node.get("spec")).get("unschedulable"))
            },
        ),
        "Namespace": _kind(
            namespaced=False,
            accepts=(*_NAME, "status.phase"),
            fields=lambda ns: {
                "status.phase": _text(_map(ns.get("status")).get("phase")),
                **_legacy_name_fields(ns),
            },
        ),
        "Secret": _kind(
            namespaced=True,
            accepts=(*_NAMESPACED, "type"),
            fields=lambda secret: {"type": _text(secret.get("type"))},
        ),
        "Service": _kind(
            namespaced=True,
            accepts=(*_NAMESPACED, "spec.clusterIP", "spec.type"),
            fields=lambda svc: {
                "spec.clusterIP": _text(_map(svc.get("spec")).get("clusterIP")),
                "spec.type": _text(_map(svc.get("spec")).get("type")),
            },
        ),
        "ReplicationController": _kind(
            namespaced=True, accepts=(*_NAMESPACED, "status.replicas"), fields=_replicas_fields
        ),
        "Event": _kind(
            namespaced=True,
            accepts=(
                *_NAMESPACED,
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ),
            fields=_core_event_fields,
        ),
        "events.k8s.io/Event": _kind(
            namespaced=True,
            accepts=(*_NAMESPACED, "reason", "source", "type"),
            aliases={
                "regarding.kind": "involvedObject.kind",
                "regarding.namespace": "involvedObject.namespace",
                "regarding.name": "involvedObject.name",
                "regarding.uid": "involvedObject.uid",
                "regarding.apiVersion": "involvedObject.apiVersion",
                "regarding.resourceVersion": "involvedObject.resourceVersion",
                "regarding.fieldPath": "involvedObject.fieldPath",
                "reportingController": "reportingComponent",
            },
            fields=_events_v1_event_fields,
        ),
        "Job": _kind(
            namespaced=True,
            accepts=(*_NAMESPACED, "status.successful"),
            fields=lambda job: {
                "status.successful": _count(_map(job.get("status")).get("succeeded"))
            },
            reject=lambda label: f'field label "{label}" not supported for Job',
        ),
        # apps/v1 registers no conversion func, so a real apiserver rejects
        # status.replicas for ReplicaSets although their field set carries it
        # (kubernetes/kubernetes#135136).
        "ReplicaSet": _kind(
            namespaced=True, accepts=_NAMESPACED, fields=_replicas_fields, reject=_not_known
        ),
        # No conversion funcs either: the default accepts metadata.namespace even for
        # cluster-scoped kinds, where it only ever equals "".
        "PersistentVolume": _kind(
            namespaced=False, accepts=_NAMESPACED, fields=_legacy_name_fields, reject=_not_known
        ),
        "PersistentVolumeClaim": _kind(
            namespaced=True, accepts=_NAMESPACED, fields=_legacy_name_fields, reject=_not_known
        ),
    }
)
_DEFAULT_KIND = _kind(namespaced=True, accepts=_NAMESPACED, reject=_not_known)

SUPPORTED_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {kind: frozenset(spec.labels) for kind, spec in _KINDS.items()}
)
"""The field labels a request may use, per kind ("Pod", …, "events.k8s.io/Event").

A kind not listed accepts metadata.name and metadata.namespace, as in Kubernetes.
"""


def selectable_fields(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set of `obj` (a v1 dict of `kind`) that field selectors match against.

    Every value is a string; an absent string is "", an absent bool "false" and an
    absent count "0", as Kubernetes renders its zero values.
    """
    spec = _KINDS.get(kind, _DEFAULT_KIND)
    metadata = _map(obj.get("metadata"))
    fields = spec.fields(obj)
    fields["metadata.name"] = _text(metadata.get("name"))
    if spec.namespaced:
        fields["metadata.namespace"] = _text(metadata.get("namespace"))
    return fields


def convert_field_selector(kind: str, selector: FieldSelector) -> FieldSelector:
    """`selector` in the internal field names of `kind`, ready to match selectable_fields.

    Raises SelectorError, worded as the apiserver's 400, for a field `kind` does not
    support.
    """
    spec = _KINDS.get(kind, _DEFAULT_KIND)
    converted = []
    for field, operator, value in selector.requirements:
        internal = spec.labels.get(field)
        if internal is None:
            raise SelectorError(spec.reject(field))
        converted.append(FieldRequirement(internal, operator, value))
    return FieldSelector(tuple(converted))


def check_field_selector(kind: str, selector: FieldSelector) -> None:
    """Raise SelectorError if `selector` uses a field `kind` does not support."""
    convert_field_selector(kind, selector)
