"""OpenAPI v3 documents: one index, one document per group/version.

kubectl `apply` and `create -f` download these before they write: with a
path per resource whose PATCH operation names its group/version/kind and
takes a `fieldValidation` parameter, kubectl leaves validation to the
server (`fieldValidation=Strict`). The PATCH request body deliberately does
not list `application/strategic-merge-patch+json`: kubectl would then
compute apply patches from these schemas, and warn and fall back whenever an
object has a field they lack. Without it, kubectl (1.32 checked) computes a
changed `apply` from the v2 document (openapi_v2.py: the same schemas, with
the patch merge keys of kybernetes/api/patch/merge_keys.py), and without v2
from its own built-in types; both give the same patch.

Built-in kinds get their real schemas, with every type they reach, from
`BuiltinSchemas` (openapi_source.py, derived from the official client's
models), so `kubectl explain` prints field documentation. Custom resources
publish their version's structural schema as apiextensions-apiserver does:
named by the reversed group (`com.example.v1.Widget`), with apiVersion,
kind and an ObjectMeta `metadata` at the root and at each embedded
resource. Built-ins when no schemas could be built keep skeleton schemas
(kind, apiVersion and metadata; the rest open). A document is encoded once
per (group/version, kinds, schemas, custom resources' strategies) and its
hash kept with it: the index, which names every document's hash, is asked
for on every `kubectl apply`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kybernetes.apiserver import strategies
from kybernetes.apiserver.crd_strategy import CustomResourceStrategy
from kybernetes.apiserver.openapi_source import EMPTY, BuiltinSchemas
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = ["document_bytes", "document_path", "group_version_document", "index"]

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


def _schema_name(rt: ResourceType, schemas: BuiltinSchemas = EMPTY) -> str:
    built = schemas.kind_schema(rt.group, rt.version, rt.kind)
    if built is not None:
        return built
    if _custom_schema(rt) is not None:
        return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])
    group = rt.group or "core"
    return f"io.k8s.api.{group}.{rt.version}.{rt.kind}"


def _custom_schema(rt: ResourceType) -> dict[str, Any] | None:
    strategy = strategies.strategy_for(rt.group, rt.kind, rt.version)
    return strategy.schema if isinstance(strategy, CustomResourceStrategy) else None


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_API_VERSION = {
    "type": "string",
    "description": "APIVersion defines the versioned schema of this representation of an "
    "object. Servers should convert recognized schemas to the latest internal value, and may "
    "reject unrecognized values.",
}
_KIND = {
    "type": "string",
    "description": "Kind is a string value representing the REST resource this object "
    "represents. Servers may infer this from the endpoint the client submits requests to.",
}


def _metadata(schemas: BuiltinSchemas) -> dict[str, Any]:
    if _OBJECT_META not in schemas.schemas:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}],
            "description": "Standard object's metadata."}  # fmt: skip


def _with_object_fields(node: Any, schemas: BuiltinSchemas, *, root: bool) -> Any:
    """A copy of a custom resource's schema whose root and embedded resources
    declare apiVersion, kind and metadata (apiextensions-apiserver adds them)."""
    if isinstance(node, list):
        return [_with_object_fields(item, schemas, root=False) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_object_fields(value, schemas, root=False) if key in _SUBSCHEMAS else value
           for key, value in node.items()}  # fmt: skip
    if "properties" in out:
        out["properties"] = {name: _with_object_fields(sub, schemas, root=False)
                             for name, sub in out["properties"].items()}  # fmt: skip
    if root or node.get("x-kubernetes-embedded-resource"):
        own = out.get("properties") or {}
        out["properties"] = {"apiVersion": _API_VERSION, "kind": _KIND, **own,
                             "metadata": _metadata(schemas)}  # fmt: skip
        out.setdefault("type", "object")
    return out


_SUBSCHEMAS = frozenset({"items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"})


def _custom_object_schema(
    rt: ResourceType, schema: dict[str, Any], schemas: BuiltinSchemas
) -> dict[str, Any]:
    out: dict[str, Any] = _with_object_fields(schema, schemas, root=True)
    out["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return out


def _closure(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """The named schemas and every schema they reference, in a stable order."""
    found: dict[str, Any] = {}
    stack = list(reversed(roots))
    while stack:
        name = stack.pop()
        if name in found or name not in schemas:
            continue
        found[name] = schemas[name]
        refs = _refs(schemas[name])
        stack.extend(sorted(refs - found.keys(), reverse=True))
    return dict(sorted(found.items()))


def _refs(schema: Any) -> set[str]:
    out: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                out.add(ref.rsplit("/", 1)[1])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return out


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


def _item_operations(rt: ResourceType, name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
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


# The subresources whose paths kube-apiserver's OpenAPI lists with the resource's own
# schema and the get, put and patch of its object (the official clients are generated
# from these: read/replace/patch_namespaced_pod_ephemeralcontainers).
_OBJECT_SUBRESOURCES = ("ephemeralcontainers",)


def _subresource_operations(rt: ResourceType, name: str) -> dict[str, Any]:
    operations = _item_operations(rt, name)
    del operations["delete"]
    return operations


def _collection_operations(rt: ResourceType, name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
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


def group_version_document(
    registry: ResourceRegistry, group: str, version: str, schemas: BuiltinSchemas = EMPTY
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    built: list[str] = []
    for rt in registry.in_group_version(group, version):
        name = _schema_name(rt, schemas)
        item = rt.path("{namespace}", "{name}") if rt.namespaced else rt.path(name="{name}")
        collection = rt.path("{namespace}") if rt.namespaced else rt.path()
        paths[item] = _item_operations(rt, name)
        for sub in rt.subresources:
            if sub in _OBJECT_SUBRESOURCES:
                paths[f"{item}/{sub}"] = _subresource_operations(rt, name)
        paths[collection] = _collection_operations(rt, name)
        custom = _custom_schema(rt)
        if name in schemas.schemas:
            built.append(name)
        elif custom is not None:
            components[name] = _custom_object_schema(rt, custom, schemas)
            built.append(_OBJECT_META)
        else:
            components[name] = _object_schema(rt)
    components.update(_closure(schemas.schemas, built))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kybernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": components},
    }


_Key = tuple[str, str, tuple[ResourceType, ...], int, int]
# Encoded documents and their hashes. Bounded: custom resources come and go.
_DOCUMENTS: dict[_Key, tuple[bytes, str]] = {}
_MAX_DOCUMENTS = 256


def document_bytes(
    registry: ResourceRegistry, group: str, version: str, schemas: BuiltinSchemas = EMPTY
) -> tuple[bytes, str]:
    """The encoded document of a group/version and its hash, built once."""
    key = (group, version, tuple(registry.in_group_version(group, version)), id(schemas),
           strategies.generation())  # fmt: skip
    cached = _DOCUMENTS.get(key)
    if cached is None:
        body = orjson.dumps(group_version_document(registry, group, version, schemas))
        cached = (body, hashlib.sha512(body).hexdigest()[:64].upper())
        if len(_DOCUMENTS) >= _MAX_DOCUMENTS:
            _DOCUMENTS.clear()
        _DOCUMENTS[key] = cached
    return cached


def index(registry: ResourceRegistry, schemas: BuiltinSchemas = EMPTY) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.groups():
        for version in versions:
            _, digest = document_bytes(registry, group, version, schemas)
            path = document_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
