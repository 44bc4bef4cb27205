"""OpenAPI v2: the v3 documents rewritten, and their gnostic protobuf encoding
(read back with our own wire reader)."""

from __future__ import annotations

from typing import Any

import orjson

from kybernetes.apiserver.openapi_source import BuiltinSchemas
from kybernetes.apiserver.openapi_v2 import encode_document, swagger
from kybernetes.apiserver.protobuf.wire import fields
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

DEPLOYMENT = ResourceType("apps", "v1", "Deployment", "deployments", namespaced=True)
SCHEMAS = BuiltinSchemas(
    "test",
    {
        "io.k8s.api.apps.v1.Deployment": {
            "type": "object",
            "description": "A deployment.",
            "required": ["spec"],
            "properties": {
                "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.Spec"}],
                         "default": {}},
                "tags": {"type": "array", "items": {"type": "string", "default": ""}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "x-kubernetes-group-version-kind": [
                {"group": "apps", "kind": "Deployment", "version": "v1"}
            ],
        },
        "io.k8s.api.apps.v1.Spec": {"type": "object", "properties": {"replicas": {
            "type": "integer", "format": "int64", "description": "How many."}}},
    },
    {"apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment"},
)  # fmt: skip


def _message(data: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for number, _, value in fields(data):
        out.setdefault(number, []).append(value)
    return out


def test_swagger_rewrites_refs_bodies_and_parameters() -> None:
    doc = swagger(ResourceRegistry([DEPLOYMENT]), SCHEMAS)
    deployment = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["properties"]["spec"] == {"$ref": "#/definitions/io.k8s.api.apps.v1.Spec"}
    assert "type" not in deployment["properties"]["raw"]  # arbitrary, as v2 readers take it
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps", "version": "v1", "kind": "Deployment",
    }  # fmt: skip
    names = [p["name"] for p in patch["parameters"]]
    assert names[0] == "body" and "fieldValidation" in names
    put = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["put"]
    assert put["parameters"][0]["schema"] == {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}


def test_protobuf_document_reads_back() -> None:
    doc = swagger(ResourceRegistry([DEPLOYMENT]), SCHEMAS)
    top = _message(encode_document(doc))
    assert top[1] == [b"2.0"]
    paths = [_message(item) for item in _message(top[8][0])[2]]  # NamedPathItem
    by_name = {p[1][0].decode(): _message(p[2][0]) for p in paths}
    item = by_name["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = _message(item[8][0])  # PathItem.patch
    extensions = {_message(e)[1][0].decode(): _message(_message(e)[2][0])[2][0] for e in patch[13]}
    assert orjson.loads(extensions["x-kubernetes-group-version-kind"]) == {
        "group": "apps", "version": "v1", "kind": "Deployment",
    }  # fmt: skip
    query = [_message(_message(_message(p)[1][0]).get(2, [b""])[0]) for p in patch[8]]
    names = {_message(q[3][0])[4][0].decode() for q in query if 3 in q}
    assert "fieldValidation" in names
    definitions = {_message(d)[1][0].decode(): _message(_message(d)[2][0])
                   for d in _message(top[9][0])[1]}  # fmt: skip
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert deployment[4] == [b"A deployment."] and deployment[19] == [b"spec"]
    assert _message(deployment[22][0])[1] == [b"object"]
    properties = {_message(p)[1][0].decode(): _message(_message(p)[2][0])
                  for p in _message(deployment[25][0])[1]}  # fmt: skip
    assert properties["spec"][1] == [b"#/definitions/io.k8s.api.apps.v1.Spec"]
    tags_items = _message(_message(properties["tags"][23][0])[1][0])
    assert _message(tags_items[22][0])[1] == [b"string"]
    labels_values = _message(_message(properties["labels"][21][0])[1][0])
    assert _message(labels_values[22][0])[1] == [b"string"]
