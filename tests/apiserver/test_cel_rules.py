"""A CRD's x-kubernetes-validations (CEL rules), as kube-apiserver checks them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kybernetes.apiserver.celrules import check_rules, compile_errors, rule_tree
from tests.apiserver.conftest import Cluster


def _rule(text: str, **extra: Any) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": text, **extra}]}


def _spec(rule: dict[str, Any], **properties: Any) -> dict[str, Any]:
    spec = {"type": "object", "properties": properties, **rule}
    return {"type": "object", "properties": {"spec": spec}}


SIZE = {"type": "integer"}


def causes(schema: dict[str, Any], new: Any, old: Any = None) -> list[tuple[str, str]]:
    tree = rule_tree(schema)
    found = check_rules(tree, new) if old is None else check_rules(tree, new, old)
    return [(c.field, c.message) for c in found]


def test_a_false_rule_is_invalid_at_its_node_with_its_message() -> None:
    schema = _spec(_rule("self.size <= 10", message="size must be at most 10"), size=SIZE)
    assert causes(schema, {"spec": {"size": 5}}) == []
    assert causes(schema, {"spec": {"size": 20}}) == [
        ("spec", 'Invalid value: "object": size must be at most 10')
    ]
    bare = _spec(_rule("self.size <= 10"), size=SIZE)
    assert causes(bare, {"spec": {"size": 20}}) == [
        ("spec", 'Invalid value: "object": failed rule: self.size <= 10')
    ]


def test_reason_field_path_and_message_expression() -> None:
    rule = _rule("self.size <= 10", reason="FieldValueForbidden", fieldPath=".size",
                 messageExpression="'size is ' + string(self.size)")  # fmt: skip
    schema = _spec(rule, size=SIZE)
    assert causes(schema, {"spec": {"size": 20}}) == [("spec.size", "Forbidden: size is 20")]


def test_transition_rules_run_on_updates_only() -> None:
    schema = _spec({}, name={"type": "string", **_rule("self == oldSelf", message="immutable")})
    assert causes(schema, {"spec": {"name": "a"}}) == []
    assert causes(schema, {"spec": {"name": "b"}}, {"spec": {"name": "a"}}) == [
        ("spec.name", 'Invalid value: "string": immutable')
    ]
    assert causes(schema, {"spec": {"name": "a"}}, {"spec": {"name": "a"}}) == []


def test_an_unchanged_value_is_not_checked_again() -> None:
    schema = _spec(_rule("self.size <= 10"), size=SIZE)
    stored = {"spec": {"size": 20}}  # valid before the rule existed
    assert causes(schema, {"spec": {"size": 20}}, stored) == []
    assert len(causes(schema, {"spec": {"size": 21}}, stored)) == 1


def test_list_items_and_map_entries() -> None:
    item = {"type": "object", "properties": {"name": {"type": "string"}, "port": SIZE},
            **_rule("self.port == oldSelf.port", message="port is immutable")}  # fmt: skip
    ports = {"type": "array", "items": item, "x-kubernetes-list-type": "map",
             "x-kubernetes-list-map-keys": ["name"]}  # fmt: skip
    labels = {
        "type": "object",
        "additionalProperties": {"type": "string", **_rule("size(self) < 3")},
    }
    schema = _spec({}, ports=ports, labels=labels)
    old = {"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}}
    new = {"spec": {"ports": [{"name": "b", "port": 3}, {"name": "c", "port": 9}]}}
    # Paired by key: "b" changed its port; "c" is new, so its transition rule does not run.
    assert causes(schema, new, old) == [
        ("spec.ports[0]", 'Invalid value: "object": port is immutable')
    ]
    assert causes(schema, {"spec": {"labels": {"ok": "ab", "bad": "abc"}}}) == [
        ("spec.labels[bad]", 'Invalid value: "string": failed rule: size(self) < 3')
    ]


def test_evaluation_errors_and_functions_we_lack() -> None:
    schema = _spec(_rule("self.nosuch > 1"), size=SIZE)
    assert causes(schema, {"spec": {"size": 1}}) == [
        ("spec", 'Invalid value: "object": no such key: nosuch evaluating rule: self.nosuch > 1')
    ]
    # Kubernetes' quantity library is not here: the rule is not checked rather than
    # refusing every write.
    unsupported = _spec(_rule("quantity(self.mem).isGreaterThan(quantity('1Mi'))"),
                        mem={"type": "string"})  # fmt: skip
    assert causes(unsupported, {"spec": {"mem": "1Gi"}}) == []


@pytest.mark.parametrize(
    "rule",
    [
        "self.name.lowerAscii() == 'web-1'",
        "self.name.split('-') == ['Web', '1']",
        "self.name.indexOf('-') == 3 && self.tags.indexOf('b') == 1",
        "self.tags.isSorted() && self.tags.join(',') == 'a,b'",
        "self.counts.sum() == 6 && self.counts.max() == 3",
        "self.ratio == 1.0",  # a number is a double, even written as 1
        "self.when < timestamp('2030-01-01T00:00:00Z')",  # a date-time is a timestamp
        "self.name.find('[0-9]+') == '1'",
    ],
)
def test_kubernetes_types_and_library_functions(rule: str) -> None:
    schema = _spec(_rule(rule), name={"type": "string"},
                   tags={"type": "array", "items": {"type": "string"}},
                   counts={"type": "array", "items": SIZE}, ratio={"type": "number"},
                   when={"type": "string", "format": "date-time"})  # fmt: skip
    value = {"name": "Web-1", "tags": ["a", "b"], "counts": [1, 2, 3], "ratio": 1,
             "when": "2026-01-01T00:00:00Z"}  # fmt: skip
    assert causes(schema, {"spec": value}) == []


def test_a_rule_that_does_not_parse_is_named_with_its_path() -> None:
    schema = _spec({}, size={"type": "integer", **_rule("self <=")})
    (cause,) = compile_errors(schema, "spec.versions[0].schema.openAPIV3Schema")
    assert cause.field == (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size]"
        ".x-kubernetes-validations[0].rule"
    )
    assert cause.message.startswith('Invalid value: apiextensions.ValidationRule{Rule:"self <="')
    assert "compilation failed" in cause.message


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": _spec(
                        _rule("self.size <= 10", message="size must be at most 10"), size=SIZE
                    )
                },
            }
        ],
    },
}


async def test_kubectl_sees_the_rules(cluster: Cluster) -> None:
    broken = json.loads(json.dumps(CRD))
    broken["metadata"]["name"] = "gadgets.example.com"
    broken["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = _spec(_rule("self.size <"))
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(broken), check=False)
    assert "compilation failed" in out

    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(CRD))
    for _ in range(100):
        if "widgets" in await cluster.kubectl("api-resources", "--api-group=example.com"):
            break
        await asyncio.sleep(0.05)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w"}, "spec": {"size": 20}}  # fmt: skip
    out = await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(widget), check=False)
    assert (
        'The Widget "w" is invalid: spec: Invalid value: "object": size must be at most 10' in out
    )
    widget["spec"]["size"] = 5
    await cluster.kubectl("apply", "-f", "-", stdin=json.dumps(widget))
    out = await cluster.kubectl("patch", "widget", "w", "--type=merge", "-p",
                                '{"spec":{"size":11}}', check=False)  # fmt: skip
    assert "size must be at most 10" in out
