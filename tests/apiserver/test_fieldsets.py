"""FieldsV1 path elements: a keyed list item is named by its key as Go's JSON writes it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kybernetes.api.patch import schema_for
from kybernetes.apiserver.fieldsets import (
    NODE,
    Zero,
    added,
    field_set,
    field_values,
    fields_v1_of,
    key_element,
    read_fields_v1,
    to_fields_v1,
    value_at,
)
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.zero_values import present_fields


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
    assert set(ports) == {".", 'k:{"containerPort":80,"protocol":"TCP"}',
                          'k:{"containerPort":80,"protocol":"UDP"}'}  # fmt: skip
    service = {
        "kind": "Service",
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
    }
    fields = fields_v1_of(service, schema_for("", "v1", "Service"))
    assert set(fields["f:spec"]["f:ports"]) == {".", 'k:{"port":53,"protocol":"TCP"}',
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
@pytest.mark.parametrize("present", [{}, present_fields("", "v1", "Pod")])
def test_fields_v1_of_is_what_a_create_adds_in_wire_form(
    obj: Obj, status: bool | None, present: Zero
) -> None:
    schema = schema_for("", "v1", str(obj["kind"]))
    values = field_values(obj, schema, status=status, nodes=True)
    assert fields_v1_of(obj, schema, status=status, present=present) == to_fields_v1(
        added(values, {}, present)
    )


def test_objects_made_from_one_spec_share_what_creating_it_adds() -> None:
    # A ReplicaSet's pods: the spec's FieldsV1 is made once and shared (only read from
    # then on); each object's metadata is its own. Nothing else shares it.
    schema, present = schema_for("", "v1", "Pod"), present_fields("", "v1", "Pod")
    spec = {"containers": [{"name": "shared-spec-test", "image": "i"}]}

    def pod(name: str, spec: Obj) -> Obj:
        return {"kind": "Pod", "metadata": {"name": name, "labels": {name: "x"}},
                "spec": copy.deepcopy(spec)}  # fmt: skip

    first = fields_v1_of(pod("a", spec), schema, status=False, present=present)
    second = fields_v1_of(pod("b", spec), schema, status=False, present=present)
    assert second["f:spec"] is first["f:spec"]
    assert first["f:metadata"] == {"f:labels": {".": {}, "f:a": {}}}
    assert second["f:metadata"] == {"f:labels": {".": {}, "f:b": {}}}
    renamed = {"containers": [{"name": "other", "image": "i"}]}
    third = fields_v1_of(pod("c", renamed), schema, status=False, present=present)
    assert set(third["f:spec"]["f:containers"]) == {'k:{"name":"other"}'}
    # The same JSON under another kind's schema (no merge keys): its own walk.
    thing = fields_v1_of(pod("d", spec), schema_for("", "v1", "Thing"), status=False)
    assert set(thing["f:spec"]) == {".", "f:containers"}
    assert thing["f:spec"]["f:containers"] == {}  # an atomic list is one leaf


def test_a_spec_json_cannot_write_is_walked_as_always() -> None:
    big = {"kind": "Pod", "spec": {"containers": [{"name": "c", "x": 2**70}]}}
    schema = schema_for("", "v1", "Pod")
    assert fields_v1_of(big, schema) == to_fields_v1(added(field_values(big, schema, nodes=True),
                                                             {}, {}))  # fmt: skip


def test_field_values_hold_the_value_at_each_field() -> None:
    schema = schema_for("", "v1", "Pod")
    values = field_values(POD, schema)
    assert frozenset(values) == field_set(POD, schema)
    # (Two env items named A share one path: value_at finds the first, the walk keeps the last.)
    unique = {p: v for p, v in values.items() if 'k:{"name":"A"}' not in p}
    assert len(unique) > 20
    assert all(value_at(POD, path) == value for path, value in unique.items())


def test_nodes_are_the_maps_and_merged_lists_with_members() -> None:
    schema = schema_for("", "v1", "Pod")
    values = field_values(POD, schema, status=False, nodes=True)
    nodes = {path for path, value in values.items() if value is NODE}
    assert ("f:spec",) in nodes and ("f:metadata", "f:labels") in nodes
    assert ("f:spec", "f:containers") in nodes  # merged by key
    assert ("f:metadata", "f:finalizers") in nodes  # a set
    assert ("f:spec", "f:containers", 'k:{"name":"c"}') in nodes  # an item with members
    assert ("f:metadata",) not in nodes  # stripped from every manager's set
    # Leaves stay leaves: an atomic list, an empty map, an item with no fields.
    assert values[("f:spec", "f:tolerations")] == POD["spec"]["tolerations"]
    assert values[("f:metadata", "f:annotations")] == {}
    assert values[("f:spec", "f:containers", 'k:{"name":"d"}', "f:name")] == "d"
    # Without nodes: the same paths but maps and lists, whose items remain.
    items = {path for path in nodes if path[-1].startswith("k:")}
    assert frozenset(field_values(POD, schema, status=False)) == frozenset(values) - nodes | items


DEPLOYMENT = schema_for("apps", "v1", "Deployment")
ZERO = present_fields("apps", "v1", "Deployment")


def _nodes(obj: Obj) -> dict[tuple[str, ...], object]:
    return field_values(obj, DEPLOYMENT, status=False, nodes=True)


def test_added_maps_are_those_neither_the_old_object_nor_the_zero_value_has() -> None:
    # structured-merge-diff's compare, on Go objects: a map present after and not
    # before is Added; a struct value (spec, strategy) is in every Deployment.
    old = {"spec": {"replicas": 1}}
    new = {"metadata": {"labels": {"a": "1"}},
           "spec": {"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": 1}}}}  # fmt: skip
    assert added(_nodes(new), _nodes(old), ZERO) == {
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:a"),
        ("f:spec", "f:strategy", "f:rollingUpdate"),
        ("f:spec", "f:strategy", "f:rollingUpdate", "f:maxSurge"),
    }
    # Without the kind's zero value (a custom resource's is empty), strategy is added too.
    assert ("f:spec", "f:strategy") in added(_nodes(new), _nodes(old), {})


def test_a_map_that_was_there_is_not_added_nor_changed() -> None:
    old = {"metadata": {"labels": {"a": "1"}}, "spec": {"template": {"metadata": {}}}}
    new = {"metadata": {"labels": {"a": "1", "b": "2"}},
           "spec": {"template": {"metadata": {"labels": {"x": "y"}}}}}  # fmt: skip
    # labels had members, template.metadata was an empty leaf: neither is added
    # (compare sees both present); template.metadata.labels is.
    assert added(_nodes(new), _nodes(old), ZERO) == {
        ("f:metadata", "f:labels", "f:b"),
        ("f:spec", "f:template", "f:metadata", "f:labels"),
        ("f:spec", "f:template", "f:metadata", "f:labels", "f:x"),
    }
    # The other way round (members to {}), nothing is added or changed either.
    assert added(_nodes(old), _nodes(new), ZERO) == set()


def test_inside_a_new_list_item_everything_is_added() -> None:
    container = {"name": "web", "resources": {"limits": {"cpu": "1"}}}
    new = {"spec": {"template": {"spec": {"containers": [container]}}}}
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}')
    got = added(_nodes(new), {}, ZERO)
    # containers is in every PodSpec (no omitempty); resources in every Container,
    # but this container is new, and with it all it holds.
    assert ("f:spec", "f:template", "f:spec", "f:containers") not in got
    assert {item, (*item, "f:resources"), (*item, "f:resources", "f:limits")} <= got
    old = {"spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}}
    assert (*item, "f:resources") not in added(_nodes(new), _nodes(old), ZERO)


def test_an_empty_struct_the_zero_value_has_is_no_change_but_an_empty_null_is() -> None:
    # compare on Go objects: an empty struct equals the zero value's (no change);
    # a selector the zero value holds as null differs from {} (a change).
    new = {"spec": {"selector": {}, "template": {"metadata": {}, "spec": {"containers": []}}}}
    got = added(_nodes(new), {}, ZERO)
    assert got == {("f:spec", "f:selector"), ("f:spec", "f:template", "f:spec", "f:containers")}
    tree = fields_v1_of(new, DEPLOYMENT, status=False, present=ZERO)
    assert tree == to_fields_v1(got)
    assert tree == {"f:spec": {"f:selector": {},
                               "f:template": {"f:spec": {"f:containers": {}}}}}  # fmt: skip


@pytest.mark.parametrize(
    ("tree", "canonical"),
    [
        ({"f:a": {".": {}, "f:b": {}}, "f:c": {}}, True),
        ({"f:a": {"f:b": {}}}, True),  # a is not a member of its own: fine
        ({"f:a": {".": {}}}, False),  # a member with no members is written {}
        ({"f:a": {".": {"x": {}}, "f:b": {}}}, False),
        ({"f:a": "junk"}, False),
        ({".": {}, "f:a": {}}, False),  # the root is no member
        ([], False),
    ],
)
def test_read_fields_v1_says_whether_the_tree_is_as_it_would_be_written(
    tree: object, canonical: bool
) -> None:
    fields, same = read_fields_v1(tree)
    assert same == canonical
    if canonical:
        assert to_fields_v1(fields) == tree
