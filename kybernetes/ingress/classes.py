"""Which Ingresses are ours, our IngressClass, and the status we write: pure functions.

An Ingress belongs to the class `kybernetes` when `spec.ingressClassName`
names it; when it names no class, the deprecated `kubernetes.io/ingress.class`
annotation decides, and without that either it belongs to the default
class — ours, while our IngressClass carries
`ingressclass.kubernetes.io/is-default-class: "true"`. (The API server's
DefaultIngressClass admission fills `ingressClassName` in for new Ingresses;
this covers Ingresses created before the class existed.)

The status names the node's address: an IP as `ip`, anything else as
`hostname`, as `kubectl get ing` shows it in ADDRESS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CLASS_ANNOTATION",
    "CLASS_NAME",
    "CONTROLLER_NAME",
    "DEFAULT_CLASS_ANNOTATION",
    "belongs_to_class",
    "ingress_class",
    "is_default_class",
    "status_patch",
]

Obj = dict[str, Any]
CLASS_NAME = "kybernetes"
CONTROLLER_NAME = "kybernetes.io/ingress"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def ingress_class(name: str = CLASS_NAME) -> Obj:
    """The IngressClass this component creates when it is missing (marked default)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "spec": {"controller": CONTROLLER_NAME},
    }


def is_default_class(ic: Obj | None) -> bool:
    annotations: Mapping[str, str] = (ic or {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(DEFAULT_CLASS_ANNOTATION) == "true"


def belongs_to_class(ing: Obj, *, class_name: str, is_default: bool) -> bool:
    named = (ing.get("spec") or {}).get("ingressClassName")
    if named:
        return bool(named == class_name)
    annotations = (ing.get("metadata") or {}).get("annotations") or {}
    if CLASS_ANNOTATION in annotations:
        return bool(annotations[CLASS_ANNOTATION] == class_name)
    return is_default


def _point(address: str) -> Obj:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {"hostname": address}
    return {"ip": address}


def status_patch(ing: Obj, address: str) -> Obj | None:
    """The merge patch that makes the status name `address`, or None when it already does."""
    wanted = [_point(address)]
    current = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if current == wanted:
        return None
    return {"status": {"loadBalancer": {"ingress": wanted}}}
