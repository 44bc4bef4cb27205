"""OpenAPI v2 (`/openapi/v2`) in gnostic's protobuf, for kubectl 1.27 and 1.28.

Those kubectls read v2 only, and only as protobuf
(`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, the gnostic
`openapi.v2.Document` message): `create -f`/`apply -f` look there for a
PATCH operation of the kind that takes `fieldValidation` (then leave
validation to the server), and `explain` reads its definitions.

Decision: the v2 document is the v3 documents (openapi.py) rewritten, not
a second source of truth: the same paths, operations and schemas, with v3's
`allOf: [{$ref}]` turned into v2's `$ref: #/definitions/...`, request
bodies into `body` parameters, and vendor extensions as gnostic carries
them (a name and a YAML text; JSON is YAML). The encoder is a few lines of
protobuf writing over field numbers taken from gnostic's OpenAPIv2.proto
(written here as tables, not generated code). Clients that ask for JSON get
the same document as JSON.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kybernetes.apiserver import strategies
from kybernetes.apiserver.openapi import group_version_document
from kybernetes.apiserver.openapi_source import EMPTY, BuiltinSchemas
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = ["PROTOBUF_TYPE", "document", "encode_document", "swagger"]

# What kubectl asks for has an "@", which Go's mime parser refuses in an
# answer; kube-apiserver answers with a "." in its place, and so do we.
PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_V3_REF = re.compile(r"^#/components/schemas/")
_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}  # PathItem field numbers


# -- v3 -> v2 (JSON-shaped) -------------------------------------------------------


def _schema_v2(schema: dict[str, Any]) -> dict[str, Any]:
    """A v3 component schema in v2's words (refs, no `default`)."""
    out: dict[str, Any] = {}
    for part in schema.get("allOf") or ():
        if "$ref" in part:
            out["$ref"] = _V3_REF.sub("#/definitions/", part["$ref"])
    if "$ref" in schema:
        out["$ref"] = _V3_REF.sub("#/definitions/", schema["$ref"])
    for key, value in schema.items():
        if key in ("allOf", "$ref", "default"):
            continue
        if key == "properties":
            out[key] = {name: _schema_v2(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _schema_v2(value)
        else:
            out[key] = value
    if (
        out.get("type") == "object"
        and not out.get("properties")
        and not isinstance(out.get("additionalProperties"), dict)
    ):
        # kubectl's v2 reader wants a map's value schema; without type it
        # takes the value as arbitrary, which is what these are.
        del out["type"]
    return out


def _operation_v2(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in op.items() if k.startswith("x-kubernetes-")}
    params = [
        {"name": p["name"], "in": p["in"], "description": p.get("description", ""),
         "type": "string", "uniqueItems": True}
        for p in op.get("parameters") or ()
    ]  # fmt: skip
    content = (op.get("requestBody") or {}).get("content") or {}
    if content:
        body = next(iter(content.values())).get("schema") or {"type": "object"}
        params.insert(0, {"name": "body", "in": "body", "required": True,
                          "schema": _schema_v2(body)})  # fmt: skip
        out["consumes"] = list(content)
    if params:
        out["parameters"] = params
    out["produces"] = ["application/json", "application/yaml"]
    out["responses"] = {
        code: {"description": answer.get("description", ""),
               **({"schema": _schema_v2(schema)} if (schema := _response_schema(answer)) else {})}
        for code, answer in (op.get("responses") or {}).items()
    }  # fmt: skip
    return out


def _response_schema(answer: dict[str, Any]) -> dict[str, Any] | None:
    for media in (answer.get("content") or {}).values():
        schema = media.get("schema")
        if isinstance(schema, dict):
            return schema
    return None


def swagger(registry: ResourceRegistry, schemas: BuiltinSchemas = EMPTY) -> dict[str, Any]:
    """The whole API as one Swagger 2.0 document (JSON-shaped)."""
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for group, versions in registry.groups():
        for version in versions:
            doc = group_version_document(registry, group, version, schemas)
            for path, item in doc["paths"].items():
                paths[path] = {verb: _operation_v2(op) for verb, op in item.items()}
            for name, schema in doc["components"]["schemas"].items():
                definitions[name] = _schema_v2(schema)
    return {
        "swagger": "2.0",
        "info": {"title": "Kybernetes", "version": "v1.32.4"},
        "paths": paths,
        "definitions": dict(sorted(definitions.items())),
    }


# -- protobuf -------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode()) if text else b""


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _named_any(name: str, value: Any) -> bytes:
    """NamedAny {1 name, 2 Any {2 yaml}}: a vendor extension."""
    any_ = _str(2, orjson.dumps(value).decode())
    return _str(1, name) + _len(2, any_)


def _extensions(number: int, obj: dict[str, Any]) -> bytes:
    return b"".join(_len(number, _named_any(k, v)) for k, v in obj.items() if k.startswith("x-"))


def _schema(s: dict[str, Any]) -> bytes:
    """openapi.v2.Schema."""
    out = [_str(1, s.get("$ref", "")), _str(2, s.get("format", "")),
           _str(4, s.get("description", ""))]  # fmt: skip
    out += [_str(19, name) for name in s.get("required") or ()]
    additional = s.get("additionalProperties")
    if isinstance(additional, dict):
        out.append(_len(21, _len(1, _schema(additional))))  # AdditionalPropertiesItem.schema
    elif isinstance(additional, bool):
        out.append(_len(21, _varint(2 << 3) + (b"\x01" if additional else b"\x00")))
    if "type" in s:
        out.append(_len(22, _str(1, s["type"])))  # TypeItem
    if isinstance(s.get("items"), dict):
        out.append(_len(23, _len(1, _schema(s["items"]))))  # ItemsItem
    if "properties" in s:
        named = b"".join(
            _len(1, _str(1, name) + _len(2, _schema(prop)))
            for name, prop in s["properties"].items()
        )
        out.append(_len(25, named))  # Properties {repeated NamedSchema}
    out.append(_extensions(31, s))
    return b"".join(out)


def _parameter(p: dict[str, Any]) -> bytes:
    """ParametersItem {1 Parameter {1 BodyParameter | 2 NonBodyParameter}}."""
    if p["in"] == "body":
        body = (_str(1, p.get("description", "")) + _str(2, p["name"]) + _str(3, "body")
                + _bool(4, p.get("required", False)) + _len(5, _schema(p["schema"])))  # fmt: skip
        return _len(1, _len(1, body))
    query = (_str(2, p["in"]) + _str(3, p.get("description", "")) + _str(4, p["name"])
             + _str(6, p.get("type", "")) + _bool(20, p.get("uniqueItems", False)))  # fmt: skip
    return _len(1, _len(2, _len(3, query)))  # NonBodyParameter.query_parameter_sub_schema


def _operation(op: dict[str, Any]) -> bytes:
    out = [_str(6, t) for t in op.get("produces") or ()]
    out += [_str(7, t) for t in op.get("consumes") or ()]
    out += [_len(8, _parameter(p)) for p in op.get("parameters") or ()]
    codes = b""
    for code, answer in (op.get("responses") or {}).items():
        response = _str(1, answer.get("description", ""))
        if "schema" in answer:
            response += _len(2, _len(1, _schema(answer["schema"])))  # SchemaItem.schema
        codes += _len(1, _str(1, code) + _len(2, _len(1, response)))  # NamedResponseValue
    out.append(_len(9, codes))
    out.append(_extensions(13, op))
    return b"".join(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """A `swagger()` document as gnostic's openapi.v2.Document message."""
    info = _str(1, doc["info"]["title"]) + _str(2, doc["info"]["version"])
    items = b""
    for path, item in doc["paths"].items():
        ops = b"".join(_len(_VERBS[verb], _operation(op)) for verb, op in item.items())
        items += _len(2, _str(1, path) + _len(2, ops))  # NamedPathItem
    definitions = b"".join(
        _len(1, _str(1, name) + _len(2, _schema(schema)))
        for name, schema in doc["definitions"].items()
    )
    return (_str(1, doc["swagger"]) + _len(2, info) + _len(8, items)
            + _len(9, definitions))  # fmt: skip


_Key = tuple[tuple[ResourceType, ...], int, int]
_CACHE: dict[_Key, tuple[bytes, bytes]] = {}


def document(registry: ResourceRegistry, schemas: BuiltinSchemas = EMPTY) -> tuple[bytes, bytes]:
    """(protobuf, JSON) of the v2 document, built once per registry state."""
    key = (tuple(registry), id(schemas), strategies.generation())
    cached = _CACHE.get(key)
    if cached is None:
        doc = swagger(registry, schemas)
        cached = (encode_document(doc), orjson.dumps(doc))
        _CACHE.clear()  # only the newest registry state is asked for
        _CACHE[key] = cached
    return cached
