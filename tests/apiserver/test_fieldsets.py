"""FieldsV1 path elements: a keyed list item is named by its key as Go's JSON writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kybernetes.api.patch import schema_for
from kybernetes.apiserver.fieldsets import (
    field_set,
    field_values,
    fields_v1_of,
    key_element,
    to_fields_v1,
    value_at,
)
from kybernetes.apiserver.objects import Obj


@pytest.mark.parametrize(
    ("key", "value"),
    [("name", "web"), ("containerPort", 8080), ("name", "é"), ("name", 'a"b'), ("name", "a\\b"),
     ("name", "tab\there"), ("name", True), ("name", None), ("weight", 2.5), ("name", " ~!#[]{}"),
     ("odd\"key", "x"), ("port", -1)],
)  # fmt: skip
def test_key_element_is_the_json_of_the_key_and_its_value(key: str, value: Any) -> None:
    expected = "k:" + json.dumps({key: value}, separators=(",", ":"), sort_keys=True)
    assert key_element({key: value, "other": 1}, ((key, None),)) == expected


def test_a_missing_key_is_null() -> None:
    assert key_element({}, (("name", None),)) == 'k:{"name":null}'


PORT_KEYS = (("containerPort", None), ("protocol", "TCP"))


def test_several_keys_are_sorted_and_a_missing_one_takes_its_default() -> None:
    assert key_element({"protocol": "UDP", "containerPort": 53, "name": "dns"}, PORT_KEYS) == (
        'k:{"containerPort":53,"protocol":"UDP"}'
    )
    assert (
        key_element({"containerPort": 80}, PORT_KEYS) == 'k:{"containerPort":80,"protocol":"TCP"}'
    )
    spread = (("topologyKey", None), ("whenUnsatisfiable", None))
    assert key_element({"topologyKey": "zone"}, spread) == 'k:{"topologyKey":"zone"}'


def test_ports_are_named_by_number_and_protocol_as_kube_apiserver_names_them() -> None:
    fields = fields_v1_of(POD, schema_for("", "v1", "Pod"))
    ports = fields["f:spec"]["f:containers"]['k:{"name":"c"}']["f:ports"]
    assert set(ports) == {'k:{"containerPort":80,"protocol":"TCP"}',
                          'k:{"containerPort":80,"protocol":"UDP"}'}  # fmt: skip
    service = {
        "kind": "Service",
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
    }
    fields = fields_v1_of(service, schema_for("", "v1", "Service"))
    assert set(fields["f:spec"]["f:ports"]) == {'k:{"port":53,"protocol":"TCP"}',
                                                'k:{"port":53,"protocol":"UDP"}'}  # fmt: skip


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


def test_field_values_hold_the_value_at_each_field() -> None:
    schema = schema_for("", "v1", "Pod")
    values = field_values(POD, schema)
    assert frozenset(values) == field_set(POD, schema)
    # (Two env items named A share one path: value_at finds the first, the walk keeps the last.)
    unique = {p: v for p, v in values.items() if 'k:{"name":"A"}' not in p}
    assert len(unique) > 20
    assert all(value_at(POD, path) == value for path, value in unique.items())
