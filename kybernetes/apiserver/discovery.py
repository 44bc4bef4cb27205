"""API discovery, both forms, computed from the resource registry.

kubectl asks for the aggregated form (one document for /api, one for
/apis) and recognises it only by its exact Content-Type; `auth can-i` and
older clients still read the legacy documents, so both are served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = [
    "AGGREGATED_CONTENT_TYPE",
    "aggregated",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "wants_aggregated",
]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

# What a subresource answers with and which verbs it takes.
_SUBRESOURCE_SHAPES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "status": ("", "", "", ("get", "patch", "update")),
    "ephemeralcontainers": ("", "", "", ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "finalize": ("", "", "", ("update",)),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "log": ("", "v1", "Pod", ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    # PodProxyOptions, ServiceProxyOptions: the kind is the resource's (see _subresource).
    "proxy": ("", "v1", "ProxyOptions", ("create", "delete", "get", "patch", "update")),
}


def wants_aggregated(accept: str) -> str | None:
    """The aggregated content type to answer with, if the client asked for one."""
    compact = accept.replace(" ", "")
    for content_type in (AGGREGATED_CONTENT_TYPE, _AGGREGATED_V2BETA1):
        if content_type in compact:
            return content_type
    return None


def _subresource(rt: ResourceType, name: str) -> tuple[str, str, str, tuple[str, ...]]:
    group, version, kind, verbs = _SUBRESOURCE_SHAPES.get(name, ("", "", "", ("get",)))
    if not kind:  # status, finalize, ephemeralcontainers answer with the resource's own kind
        return rt.group, rt.version, rt.kind, verbs
    if name == "proxy":
        return group, version, f"{rt.kind}{kind}", verbs
    return group, version, kind, verbs


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_versions(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: ResourceRegistry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_versions(g, vs) for g, vs in registry.groups() if g],
    }


def root_paths(registry: ResourceRegistry, served: Iterable[str]) -> dict[str, Any]:
    """What `GET /` answers (`kubectl get --raw /`), as kube-apiserver's RootPaths:
    the paths the server lists, sorted; `served` are those outside discovery."""
    paths = {*served, "/api", "/apis", "/apis/"}
    for group, versions in registry.groups():
        prefix = f"/apis/{group}" if group else "/api"
        if group:
            paths.add(prefix)
        paths.update(f"{prefix}/{version}" for version in versions)
    return {"paths": sorted(paths)}


def api_group(registry: ResourceRegistry, group: str) -> dict[str, Any] | None:
    for name, versions in registry.groups():
        if name == group and group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_versions(name, versions)}
    return None


def api_resource_list(
    registry: ResourceRegistry, group: str, version: str
) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular_name,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_group, sub_version, kind, verbs = _subresource(rt, sub)
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": list(verbs),
            }
            if (sub_group, sub_version) != (rt.group, rt.version):
                sub_entry["group"] = sub_group
                sub_entry["version"] = sub_version
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular_name,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subresources = []
    for sub in rt.subresources:
        group, version, kind, verbs = _subresource(rt, sub)
        subresources.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": list(verbs),
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry: ResourceRegistry, *, core: bool, content_type: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (core) or /apis (every named group)."""
    items = []
    for group, versions in registry.groups():
        if bool(group) == core:
            continue
        items.append(
            {
                "metadata": {"name": group},
                "versions": [
                    {
                        "version": version,
                        "freshness": "Current",
                        "resources": [
                            _aggregated_resource(rt)
                            for rt in registry.in_group_version(group, version)
                        ],
                    }
                    for version in versions
                ],
            }
        )
    api_version = (
        "apidiscovery.k8s.io/v2beta1" if "v2beta1" in content_type else "apidiscovery.k8s.io/v2"
    )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }
