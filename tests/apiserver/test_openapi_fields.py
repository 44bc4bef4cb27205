"""Unknown and duplicate fields found from schemas: the pure functions."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from kybernetes.apiserver import errors, openapi_fields
from kybernetes.apiserver.openapi_fields import (
    check_object,
    duplicates,
    field_table,
    field_validation,
    go_repr,
    has_repeated_keys,
    json_pairs,
    patch_check,
    prune,
    prune_counting,
    strict_errors,
    structural_unknown,
    yaml_duplicates,
)


def _ref(name: str) -> dict[str, object]:
    return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], "default": {}}


SCHEMAS = {
    "Deployment": {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": _ref("ObjectMeta"), "spec": _ref("DeploymentSpec"),
    }},
    "ObjectMeta": {"type": "object", "properties": {
        "name": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }},
    "DeploymentSpec": {"type": "object", "properties": {
        "paused": {"type": "boolean"}, "template": _ref("PodTemplateSpec"),
    }},
    "PodTemplateSpec": {"type": "object", "properties": {"spec": _ref("PodSpec")}},
    "PodSpec": {"type": "object", "properties": {
        "containers": {"type": "array", "items": _ref("Container")},
    }},
    "Container": {"type": "object", "properties": {
        "name": {"type": "string"}, "imagePullPolicy": {"type": "string"},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }},
}  # fmt: skip
TABLE = field_table(SCHEMAS)

# The body of kube-apiserver's own field-validation test, in shape.
BODY = b"""{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "a", "name": "b", "unknownMeta": 1, "labels": {"x": "1", "x": "2"}},
 "spec": {"unknown1": 1, "unknownDupe": 1, "unknownDupe": 2, "paused": true, "paused": false,
   "template": {"spec": {"containers": [{"name": "c", "unknownNested": 1,
     "imagePullPolicy": "Always", "imagePullPolicy": "Never",
     "extra": {"any": {"thing": 1}}}]}}}}"""


def test_table_lists_closed_types_only() -> None:
    assert TABLE["Container"]["extra"] is None
    assert TABLE["PodSpec"]["containers"] == ("[]", "Container")
    assert TABLE["ObjectMeta"]["labels"] == ("{}", None)


def test_prune_drops_unknown_fields_in_place_and_names_them() -> None:
    obj = orjson.loads(BODY)
    unknown = prune(obj, "Deployment", TABLE)
    assert unknown == [
        "metadata.unknownMeta", "spec.unknown1", "spec.unknownDupe",
        "spec.template.spec.containers[0].unknownNested",
    ]  # fmt: skip
    assert "unknownMeta" not in obj["metadata"]
    assert obj["spec"]["template"]["spec"]["containers"][0] == {
        "name": "c", "imagePullPolicy": "Never", "extra": {"any": {"thing": 1}},
    }  # fmt: skip
    assert prune(obj, "Deployment", TABLE) == []


@pytest.mark.parametrize("sort_keys", [False, True])
def test_prune_counts_every_key_it_was_given(sort_keys: bool) -> None:
    # Known, unknown (dropped) and free-form (`extra`, labels) fields alike:
    # the count stands for the body's text when has_repeated_keys compares.
    for raw in (BODY, b'{"metadata": {"labels": {"a": "1"}}, "spec": {"x": {"y": [{"z": 1}]}}}'):
        unknown, keys = prune_counting(orjson.loads(raw), "Deployment", TABLE, sort_keys=sort_keys)
        assert unknown
        assert keys == _keys(orjson.loads(raw))


def _keys(value: object) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_keys(v) for v in value)
    return 0


def test_prune_sorted_walks_keys_in_order() -> None:
    obj = {"spec": {"zz": 1, "template": {"spec": {"containers": [{"q": 1}]}}, "aa": 2}}
    assert prune(obj, "Deployment", TABLE, sort_keys=True) == [
        "spec.aa", "spec.template.spec.containers[0].q", "spec.zz",
    ]  # fmt: skip


def test_strict_errors_in_document_order_as_go_reports_them() -> None:
    assert strict_errors(json_pairs(BODY), "Deployment", TABLE) == [
        'duplicate field "metadata.name"',
        'unknown field "metadata.unknownMeta"',
        'duplicate field "metadata.labels.x"',
        'unknown field "spec.unknown1"',
        'unknown field "spec.unknownDupe"',  # unknown and repeated: reported once, as unknown
        'duplicate field "spec.paused"',
        'unknown field "spec.template.spec.containers[0].unknownNested"',
        'duplicate field "spec.template.spec.containers[0].imagePullPolicy"',
    ]


def test_strict_errors_without_a_schema_finds_duplicates_only() -> None:
    tree = json_pairs(b'{"a": {"b": 1, "b": 2}, "c": [{"d": 1, "d": 1}]}')
    assert strict_errors(tree, None, TABLE) == ['duplicate field "a.b"', 'duplicate field "c[0].d"']


def test_check_object_per_mode() -> None:
    def run(mode: str) -> tuple[dict[str, object], list[str]]:
        obj = orjson.loads(BODY)
        found = check_object(obj, BODY, node="Deployment", table=TABLE, mode=mode,
                             kind="Deployment", version="v1")  # fmt: skip
        return obj, found

    obj, found = run("Ignore")
    assert found == [] and "unknown1" not in obj["spec"]  # type: ignore[operator]
    obj, found = run("Warn")
    assert len(found) == 8 and "unknown1" not in obj["spec"]  # type: ignore[operator]
    with pytest.raises(errors.ApiError) as err:
        run("Strict")
    assert err.value.code == 400
    assert err.value.message.startswith(
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'duplicate field "metadata.name", unknown field "metadata.unknownMeta"'
    )


def test_has_repeated_keys_at_any_depth() -> None:
    assert not has_repeated_keys(b'{"a": {"b": 1, "c": [{"b": 2}]}, "b": {"a": 1}}')
    assert has_repeated_keys(b'{"a": 1, "a": 1}')
    assert has_repeated_keys(b'{"a": {"x": [{"k": 1, "k": 2}]}}')
    assert not has_repeated_keys(b"[1, 2, {}]")


@pytest.mark.parametrize(
    ("raw", "repeated"),
    [
        (b'{"a": {"b": 1, "c": [{"b": 2}]}, "b": {"a": 1}}', False),
        (b'{"a" :1,\n "a"\t: 2}', True),
        (b'{"a": {"x": [{"k": 1, "k": 2}]}}', True),
        # Quote-colons inside strings: the count alone cannot tell, the parse does.
        (b'{"a": ":x", "b": "\\":"}', False),
        (b'{"a": 1, "a": 2, "s": ":"}', True),
        (b'{"": 1, "": 2}', True),
        (b'[{"k": []}, {"k": {}}]', False),
        # managedFields: keys holding escaped quote-colons.
        (b'{"f:spec": {"k:{\\"port\\":80}": {".": {}}}}', False),
        (b'{"f:spec": {"k:{\\"port\\":80}": {}, "k:{\\"port\\":80}": {}}}', True),
        # A key ending in an escaped backslash hides its quote from the count: one
        # hidden key must not pass for one repeated key.
        (b'{"a\\\\": 1, "b": 1, "b": 2}', True),
        (b'{"a\\\\": 1, "b": 1}', False),
        # Counted without the regex (compact), or not (a space or a line break at a colon).
        (b'{"a":{"b":1},"c":"x"}', False),
        (b'{"a":1,"s":"q\\" :x","a":2}', True),
        (b'{"a" : 1, "b": {"a": 2}}', False),
        (b'{"a" : 1, "a": 2}', True),
        (b'{"a":1,\n"a":2}', True),
    ],
)
def test_has_repeated_keys_counting_the_parsed_body(raw: bytes, repeated: bool) -> None:
    assert has_repeated_keys(raw, keys=_keys(orjson.loads(raw))) is repeated
    assert has_repeated_keys(raw) is repeated


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Nothing unknown, nothing repeated: the short path has nothing to say.
        (b'{"metadata": {"name": "a"}, "spec": {"paused": true}}', []),
        # Only a repeat: the document is still walked for it.
        (b'{"metadata": {"name": "a", "name": "b"}}', ['duplicate field "metadata.name"']),
        # Repeats inside maps the prune does not walk (a map of strings, a free-form field).
        (
            b'{"metadata": {"labels": {"a": "1", "a": "2"}}}',
            ['duplicate field "metadata.labels.a"'],
        ),
        (
            b'{"spec": {"template": {"spec": {"containers": [{"extra": {"k": 1, "k": 2}}]}}}}',
            ['duplicate field "spec.template.spec.containers[0].extra.k"'],
        ),
        # Only an unknown field, deep down.
        (
            b'{"spec": {"template": {"spec": {"containers": [{"name": "c", "zzz": 1}]}}}}',
            ['unknown field "spec.template.spec.containers[0].zzz"'],
        ),
    ],
)
def test_check_object_finds_each_kind_of_problem_alone(raw: bytes, expected: list[str]) -> None:
    found = check_object(orjson.loads(raw), raw, node="Deployment", table=TABLE, mode="Warn",
                         kind="Deployment", version="v1")  # fmt: skip
    assert found == expected


def test_a_top_level_field_with_nothing_unknown_is_walked_once_per_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Objects made from one template: the spec's verdict (nothing to drop, so
    # many keys) is kept by its JSON; what has unknown fields is walked every time.
    walked: list[object] = []
    walk = openapi_fields._prune

    def counted(value: object, node: object, *args: Any) -> int:
        walked.append(node)
        return walk(value, node, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(openapi_fields, "_prune", counted)
    spec = b'{"paused": true, "template": {"spec": {"containers": [{"name": "once-per-json"}]}}}'
    for name in (b"a", b"b"):
        raw = b'{"metadata": {"name": "' + name + b'"}, "spec": ' + spec + b"}"
        assert prune_counting(orjson.loads(raw), "Deployment", TABLE) == (
            [],
            _keys(orjson.loads(raw)),
        )
    assert walked.count("DeploymentSpec") == 1
    unknown = spec.replace(b'"paused"', b'"zzz": 1, "paused"')
    for _ in range(2):
        obj = orjson.loads(b'{"spec": ' + unknown + b"}")
        assert prune_counting(obj, "Deployment", TABLE)[0] == ["spec.zzz"]
        assert "zzz" not in obj["spec"]
    assert walked.count("DeploymentSpec") == 3
    # A repeated key vanishes in the parse, so the kept verdict answers; the
    # text's key count still finds the repeat.
    repeated = (
        b'{"spec": ' + spec.replace(b'"paused": true', b'"paused": true, "paused": true') + b"}"
    )
    found = check_object(orjson.loads(repeated), repeated, node="Deployment", table=TABLE,
                         mode="Warn", kind="Deployment", version="v1")  # fmt: skip
    assert found == ['duplicate field "spec.paused"']
    assert walked.count("DeploymentSpec") == 3


def test_duplicates_of_a_patch_without_repeats_is_empty() -> None:
    assert duplicates(b'{"spec": {"paused": true}}') == []
    assert duplicates(b'{"spec": {"paused": true, "paused": false}}') == [
        'duplicate field "spec.paused"'
    ]


def test_check_object_without_raw_reports_unknown_fields() -> None:
    obj = {"spec": {"foo": 1}}
    found = check_object(obj, None, node="Deployment", table=TABLE, mode="Warn",
                         kind="Deployment", version="v1")  # fmt: skip
    assert found == ['unknown field "spec.foo"'] and obj == {"spec": {}}


def test_patch_check_strategic_is_invalid_on_field_patch() -> None:
    patch = {"spec": {"foo": "bar", "paused": True}}
    patched = copy.deepcopy(patch)
    with pytest.raises(errors.ApiError) as err:
        patch_check(patched, patch, duplicates(orjson.dumps(patch)), node="Deployment", table=TABLE,
                    mode="Strict", strategic=True)  # fmt: skip
    assert err.value.code == 422
    assert err.value.causes[0].field == "patch"
    assert err.value.causes[0].message == (
        'Invalid value: "map[spec:map[foo:bar paused:true]]": '
        'strict decoding error: unknown field "spec.foo"'
    )


def test_patch_check_merge_reports_patch_duplicates_first() -> None:
    raw = b'{"spec": {"zz": 1, "paused": true, "paused": false}}'
    patched = {"spec": {"zz": 1, "paused": False}}
    with pytest.raises(errors.ApiError) as err:
        patch_check(patched, orjson.loads(raw), duplicates(raw), node="Deployment", table=TABLE,
                    mode="Strict", strategic=False)  # fmt: skip
    assert (err.value.code, err.value.message) == (
        400, 'strict decoding error: duplicate field "spec.paused", unknown field "spec.zz"',
    )  # fmt: skip
    assert patched == {"spec": {"paused": False}}


def test_field_validation_directive() -> None:
    assert field_validation("") == "Warn"
    assert field_validation("Strict") == "Strict"
    with pytest.raises(errors.ApiError) as err:
        field_validation("strict", "PatchOptions")
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert err.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_go_repr() -> None:
    assert go_repr({"b": [1, "x", None], "a": {}}) == "map[a:map[] b:[1 x <nil>]]"


def test_structural_unknown_follows_the_custom_resource_schema() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }},
    }}  # fmt: skip
    obj = {
        "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w", "bogus": 1},
        "spec": {"size": 1, "zz": 2, "items": [{"name": "a", "q": 1}], "labels": {"a": "b"},
                 "free": {"anything": {"goes": 1}}},
        "status": {"x": 1},
    }  # fmt: skip
    assert structural_unknown(obj, schema, TABLE_WITH_META) == [
        "metadata.bogus", "spec.items[0].q", "spec.zz", "status",
    ]  # fmt: skip
    assert obj["metadata"]["bogus"] == 1  # reported, not removed


TABLE_WITH_META = {**TABLE, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": TABLE["ObjectMeta"]}


def test_an_embedded_resource_is_a_whole_object() -> None:
    # Its apiVersion and kind are known and its metadata is an ObjectMeta,
    # whatever its own schema says (checklist A13).
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": {"type": "object"}}}}}}}  # fmt: skip
    meta = {"name": "p", "labels": {"a": "b"}, "unknownSubMeta": 1}
    obj = {
        "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w", "unknownMeta": 1},
        "spec": {"template": {"apiVersion": "v1", "kind": "Pod", "apiversion": "typo",
                              "metadata": meta}},
    }  # fmt: skip
    assert structural_unknown(obj, schema, TABLE_WITH_META) == [
        "metadata.unknownMeta", "spec.template.apiversion",
        "spec.template.metadata.unknownSubMeta",
    ]  # fmt: skip


YAML = b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: a
  name: b
spec:
  zz: 1
  paused: true
  paused: false
  template: {spec: {containers: [{name: c, bogus: 1}]}}
"""


def test_yaml_bodies_report_repeated_keys_by_line_then_sorted_unknown_fields() -> None:
    def run(mode: str) -> list[str]:
        template = {"spec": {"containers": [{"name": "c", "bogus": 1}]}}
        spec = {"zz": 1, "paused": False, "template": template}
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"},
                "spec": spec}  # fmt: skip
        return check_object(body, None, node="Deployment", table=TABLE, mode=mode,
                            kind="Deployment", version="v1", yaml_raw=YAML)  # fmt: skip

    assert run("Warn") == [
        'line 5: key "name" already set in map',
        'line 9: key "paused" already set in map',
        'unknown field "spec.template.spec.containers[0].bogus"',
        'unknown field "spec.zz"',
    ]
    with pytest.raises(errors.ApiError) as err:
        run("Strict")
    assert err.value.message.endswith(
        "strict decoding error: yaml: unmarshal errors:\n"
        '  line 5: key "name" already set in map\n'
        '  line 9: key "paused" already set in map, '
        'unknown field "spec.template.spec.containers[0].bogus", unknown field "spec.zz"'
    )
    assert yaml_duplicates(b"a: 1\nb: [ {c: 1, c: 2} ]\n") == ['line 2: key "c" already set in map']
