"""What a request asks for: verb, resource, namespace, name, subresource.

A pure parse of method + path against the resource registry (the job
kube-apiserver's RequestInfoFactory does), so routing needs no table of
URL patterns and custom resources route the moment they are registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from kybernetes.apiserver import errors
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = ["ResourceRequest", "parse_resource_request"]

_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_ITEM_VERBS = {
    "GET": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
    "POST": "create",
}


@dataclass(frozen=True)
class ResourceRequest:
    verb: str
    resource: ResourceType
    namespace: str
    name: str
    subresource: str

    @property
    def is_collection(self) -> bool:
        return not self.name


def _split_group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        return "", "v1", parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_resource_request(
    method: str, path: str, registry: ResourceRegistry, *, watch: bool = False
) -> ResourceRequest | None:
    """The resource request a path names, or None if it names none (discovery etc.)."""
    parts = [p for p in path.split("/") if p]
    split = _split_group_version(parts)
    if split is None:
        return None
    group, version, rest = split
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        scoped = registry.lookup(group, version, rest[2])
        if scoped is not None and scoped.namespaced:
            namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    rt = registry.lookup(group, version, plural)
    if rt is None:
        gv = f"{group}/{version}" if group else version
        raise errors.ApiError(
            404, "NotFound", f"the server could not find the requested resource ({gv} {plural})"
        )
    if rt.namespaced and not namespace and len(rest) > 1:
        raise errors.ApiError(
            404, "NotFound", f"the server could not find the requested resource: "
            f"{rt.plural} are namespaced; use /namespaces/NAMESPACE/{rt.plural}/NAME"
        )  # fmt: skip
    if len(rest) > 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rt.subresources:
        raise errors.ApiError(
            404,
            "NotFound",
            f"the server could not find the requested resource ({rt.plural}/{subresource})",
        )
    verbs = _ITEM_VERBS if name else _COLLECTION_VERBS
    verb = verbs.get(method)
    if verb is None:
        raise errors.method_not_allowed(
            f"the server does not allow this method on the requested resource ({method})"
        )
    if verb == "list" and watch:
        verb = "watch"
    if verb == "get" and watch:
        verb = "watch"
    if not subresource and verb not in rt.verbs and not (verb == "watch" and "watch" in rt.verbs):
        raise errors.method_not_allowed(
            f"the server does not allow this method on the requested resource ({rt.plural}: {verb})"
        )
    return ResourceRequest(verb, rt, namespace, name, subresource)
