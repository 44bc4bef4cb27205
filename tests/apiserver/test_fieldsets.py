"""FieldsV1 path elements: a keyed list item is named by its key as Go's JSON writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kybernetes.api.patch import schema_for
from kybernetes.apiserver.fieldsets import field_set, fields_v1_of, key_element, to_fields_v1
from kybernetes.apiserver.objects import Obj


@pytest.mark.parametrize(
    ("key", "value"),
    [("name", "web"), ("containerPort", 8080), ("name", "é"), ("name", 'a"b'), ("name", "a\\b"),
     ("name", "tab\there"), ("name", True), ("name", None), ("weight", 2.5), ("name", " ~!#[]{}"),
     ("odd\"key", "x"), ("port", -1)],
)  # fmt: skip
def test_key_element_is_the_json_of_the_key_and_its_value(key: str, value: Any) -> None:
    expected = "k:" + json.dumps({key: value}, separators=(",", ":"), sort_keys=True)
    assert key_element({key: value, "other": 1}, key) == expected


def test_a_missing_key_is_null() -> None:
    assert key_element({}, "name") == 'k:{"name":null}'


POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "uid": "u", "labels": {"app": "web"},
                 "annotations": {}, "finalizers": ["a", "b"],
                 "ownerReferences": [{"uid": "o1", "kind": "ReplicaSet", "name": "rs"}]},
    "spec": {
        "containers": [
            {"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                  {"containerPort": 80, "protocol": "UDP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
             "args": ["x", "y"], "resources": {}},
            {"name": "d"},
        ],
        "volumes": [{}],
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "nodeSelector": {"disk": "ssd"},
    },
    "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
}  # fmt: skip


@pytest.mark.parametrize("status", [None, False, True])
@pytest.mark.parametrize(
    "obj",
    [POD, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
     {"kind": "Thing", "metadata": {"name": "x", "labels": {}}, "spec": [], "data": {"a": [1]}}],
)  # fmt: skip
def test_fields_v1_of_is_the_field_set_in_wire_form(obj: Obj, status: bool | None) -> None:
    schema = schema_for("", "v1", str(obj["kind"]))
    assert fields_v1_of(obj, schema, status=status) == to_fields_v1(
        field_set(obj, schema, status=status)
    )
