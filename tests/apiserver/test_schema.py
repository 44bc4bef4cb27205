"""Structural schema pruning, defaulting and validation for custom resources."""

from __future__ import annotations

from kybernetes.apiserver.schema import apply_defaults, has_defaults, prune, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


def test_prune_drops_undeclared_fields_but_keeps_preserved_ones() -> None:
    obj = {
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
        "spec": {"size": 1, "bogus": 2, "labels": {"a": "b"}, "extra": {"anything": [1]}},
        "top": "dropped",
    }  # fmt: skip
    assert prune(obj, SCHEMA, root=True) == {
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
        "spec": {"size": 1, "labels": {"a": "b"}, "extra": {"anything": [1]}},
    }  # fmt: skip


def test_validate_names_each_bad_field() -> None:
    obj = {"spec": {"size": 0, "mode": "slow", "port": 1.5, "tags": ["a", "b", "c"],
                    "labels": {"k": 1}}}  # fmt: skip
    fields = {cause.field for cause in validate(obj, SCHEMA)}
    assert fields == {"spec.size", "spec.mode", "spec.port", "spec.tags", "spec.labels[k]"}


def test_required_and_types() -> None:
    causes = validate({"spec": {"mode": "fast"}}, SCHEMA)
    assert [(c.field, c.reason) for c in causes] == [("spec.size", "FieldValueRequired")]
    assert validate({"spec": {"size": True}}, SCHEMA)[0].reason == "FieldValueTypeInvalid"
    assert validate({"spec": {"size": 3, "port": "http"}}, SCHEMA) == []


DEFAULTED = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}},
        "spec": {
            "type": "object",
            "default": {},
            "properties": {
                "a": {"type": "string", "default": "A"},
                "limits": {"type": "object", "default": {"cpu": "1"},
                           "properties": {"cpu": {"type": "string"},
                                          "memory": {"type": "string", "default": "1Gi"}}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}},
                "maybe": {"type": "string", "nullable": True, "default": "m"},
                "never": {"type": "string", "default": "n"},
                "byName": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"on": {"type": "boolean", "default": True}}}},
            },
        },
    },
}  # fmt: skip


def test_defaults_fill_absent_fields_top_down() -> None:
    obj = {"metadata": {}, "spec": {"ports": [{}, {"protocol": "UDP"}], "maybe": None,
                                    "never": None, "byName": {"k": {}}}}  # fmt: skip
    apply_defaults(obj, DEFAULTED, root=True)
    assert obj == {
        "metadata": {},  # never defaulted at the root
        "spec": {
            "a": "A",
            "limits": {"cpu": "1", "memory": "1Gi"},  # the default, then its own defaults
            "ports": [{"protocol": "TCP"}, {"protocol": "UDP"}],
            "maybe": None,  # nullable: null is a value
            "never": "n",
            "byName": {"k": {"on": True}},
        },
    }
    empty: dict = {}
    apply_defaults(empty, DEFAULTED, root=True)
    assert empty["spec"]["a"] == "A" and empty["spec"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert has_defaults(DEFAULTED) and not has_defaults(SCHEMA)


def test_prune_keeps_an_embedded_resources_object_fields() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}},
        "open": {"type": "object", "x-kubernetes-embedded-resource": True,
                 "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"metadata": {"type": "object"}}}}}}}  # fmt: skip
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                "spec": {"size": 1}}  # fmt: skip
    obj = {"spec": {"template": {**template, "extra": 1}, "open": {**template, "extra": 1}}}
    assert prune(obj, schema, root=True) == {
        "spec": {"template": template, "open": {**template, "extra": 1}},
    }


def test_prune_drops_nulls_the_schema_does_not_allow() -> None:
    # apiextensions-apiserver's PruneNonNullableNullsWithoutDefaults: a null in a
    # declared field that is not nullable goes; a nullable one, and an unknown
    # field a preserving schema keeps, stay null.
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"},
        "note": {"type": "string", "nullable": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                  "properties": {"known": {"type": "string"}}},
    }}}}  # fmt: skip
    obj = {"spec": {"size": None, "note": None, "labels": {"a": None, "b": "1"},
                    "extra": {"known": None, "other": None}}}  # fmt: skip
    assert prune(obj, schema) == {
        "spec": {"note": None, "labels": {"b": "1"}, "extra": {"other": None}}
    }
    assert validate(prune(obj, schema), schema) == []
