"""OpenAPI v3 documents: one index, one document per group/version.

kubectl `apply` and `create -f` download these before they write: with a
path per resource whose PATCH operation names its group/version/kind and
takes a `fieldValidation` parameter, kubectl leaves validation to the
server (`fieldValidation=Strict`). The PATCH request body deliberately does
not list `application/strategic-merge-patch+json`: kubectl would then
compute apply patches from these schemas instead of its own built-in types.

The component schemas are only skeletons for now (kind, apiVersion and
metadata; the rest open), so `kubectl explain` shows no field
documentation yet.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = ["document_path", "group_version_document", "index"]

_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "How the server treats unknown or duplicate fields: Ignore, Warn or Strict.",
    "schema": {"type": "string", "uniqueItems": True},
}
_DRY_RUN = {
    "name": "dryRun",
    "in": "query",
    "description": "When present, the change is checked but not stored (All).",
    "schema": {"type": "string", "uniqueItems": True},
}
_FIELD_MANAGER = {
    "name": "fieldManager",
    "in": "query",
    "description": "The name of the actor making the change.",
    "schema": {"type": "string", "uniqueItems": True},
}


def document_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _schema_name(rt: ResourceType) -> str:
    group = rt.group or "core"
    return f"io.k8s.api.{group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _object_schema(rt: ResourceType) -> dict[str, Any]:
    return {
        "description": f"{rt.kind} ({rt.api_version}).",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of this object."},
            "kind": {"type": "string", "description": "The REST resource this object represents."},
            "metadata": {
                "type": "object",
                "description": "Standard object metadata.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-group-version-kind": [_gvk(rt)],
    }


def _item_operations(rt: ResourceType) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    body = {"content": {"application/json": {"schema": ref}}}
    answer = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    params = [_FIELD_VALIDATION, _DRY_RUN, _FIELD_MANAGER]
    return {
        "get": {"responses": answer, "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": _gvk(rt)},
        "put": {"requestBody": body, "responses": answer, "parameters": params,
                "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": _gvk(rt)},
        "patch": {
            "requestBody": {"content": {
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
            }},
            "responses": answer,
            "parameters": params,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(rt),
        },
        "delete": {"responses": answer, "x-kubernetes-action": "delete",
                   "x-kubernetes-group-version-kind": _gvk(rt)},
    }  # fmt: skip


def _collection_operations(rt: ResourceType) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    return {
        "post": {
            "requestBody": {"content": {"application/json": {"schema": ref}}},
            "responses": {"201": {"description": "Created"}},
            "parameters": [_FIELD_VALIDATION, _DRY_RUN, _FIELD_MANAGER],
            "x-kubernetes-action": "post",
            "x-kubernetes-group-version-kind": _gvk(rt),
        },
        "get": {"responses": {"200": {"description": "OK"}}, "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": _gvk(rt)},
    }  # fmt: skip


def group_version_document(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in registry.in_group_version(group, version):
        item = rt.path("{namespace}", "{name}") if rt.namespaced else rt.path(name="{name}")
        collection = rt.path("{namespace}") if rt.namespaced else rt.path()
        paths[item] = _item_operations(rt)
        paths[collection] = _collection_operations(rt)
        schemas[_schema_name(rt)] = _object_schema(rt)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kybernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(registry: ResourceRegistry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.groups():
        for version in versions:
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha512(orjson.dumps(doc)).hexdigest()[:64].upper()
            path = document_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
