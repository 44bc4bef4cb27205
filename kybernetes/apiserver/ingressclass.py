"""The DefaultIngressClass admission step: a new Ingress without a class gets the default one.

As kube-apiserver's plugin does it: only on create, only when the Ingress
names no `spec.ingressClassName` and carries no deprecated
`kubernetes.io/ingress.class` annotation; the default is the IngressClass
annotated `ingressclass.kubernetes.io/is-default-class: "true"`, the newest
of them when there are several (then the first by name). Without a default
class the Ingress is stored as sent.
"""

from __future__ import annotations

from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceRegistry
from kybernetes.apiserver.storage import ObjectStorage

__all__ = ["admit_default_ingress_class", "default_ingress_class"]

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def default_ingress_class(classes: list[Obj]) -> str:
    """The name of the default IngressClass among `classes` ("" when none is marked)."""
    marked = [
        ic["metadata"] for ic in classes
        if (ic["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
    ]  # fmt: skip
    if not marked:
        return ""
    # Newest first; RFC 3339 timestamps in UTC sort as strings.
    newest = max(str(m.get("creationTimestamp") or "") for m in marked)
    return min(str(m["name"]) for m in marked if str(m.get("creationTimestamp") or "") == newest)


async def admit_default_ingress_class(
    storage: ObjectStorage, registry: ResourceRegistry, ingress: Obj
) -> None:
    """Fill in `spec.ingressClassName` of a new Ingress (mutates `ingress`)."""
    spec = ingress.setdefault("spec", {})
    if spec.get("ingressClassName"):
        return
    if CLASS_ANNOTATION in ((ingress.get("metadata") or {}).get("annotations") or {}):
        return
    rt = registry.lookup("networking.k8s.io", "v1", "ingressclasses")
    assert rt is not None
    page = await storage.list(rt, "", accept=lambda _: True, limit=0, continue_token=None,
                              revision=0)  # fmt: skip
    name = default_ingress_class(page.items)
    if name:
        spec["ingressClassName"] = name
