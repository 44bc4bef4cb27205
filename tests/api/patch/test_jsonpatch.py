"""JSON Patch: RFC 6902 appendix A, and where Kubernetes is more lenient than the RFC."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.patch import PatchError, apply_json_patch

# RFC 6902 appendix A, one row per example (A.13, a document with a duplicate
# "op" member, cannot be written as a Python dict).
RFC_6902_EXAMPLES: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    (
        "A.1 adding an object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 adding an array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 removing an object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 removing an array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replacing a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 moving a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 moving an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 testing a value: success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 adding a nested member object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignoring unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.16 adding an array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]

RFC_6902_ERRORS: list[tuple[str, Any, list[dict[str, Any]], str]] = [
    (
        "A.9 testing a value: error",
        {"baz": "qux"},
        [{"op": "test", "path": "/baz", "value": "bar"}],
        "testing value /baz failed",
    ),
    (
        "A.12 adding to a nonexistent target",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        'add operation does not apply: doc is missing path: "/baz/bat"',
    ),
    (
        "A.15 comparing strings and numbers",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": "10"}],
        "testing value /~01 failed",
    ),
]


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [row[1:] for row in RFC_6902_EXAMPLES],
    ids=[row[0] for row in RFC_6902_EXAMPLES],
)
def test_rfc_6902_examples(doc: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    assert apply_json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [row[1:] for row in RFC_6902_ERRORS],
    ids=[row[0] for row in RFC_6902_ERRORS],
)
def test_rfc_6902_errors(doc: Any, ops: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError, match=message) as caught:
        apply_json_patch(doc, ops)
    assert caught.value.code == 422


def test_rollout_undo_replaces_the_template_and_the_annotations() -> None:
    # The body `kubectl rollout undo` sends (kubectl-wire.md section 1.2).
    deployment = {
        "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    }
    old_template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]},
    }
    ops = [
        {"op": "replace", "path": "/spec/template", "value": old_template},
        {"op": "replace", "path": "/metadata/annotations", "value": {"note": "undone"}},
    ]
    patched = apply_json_patch(deployment, ops)
    assert patched["spec"] == {"replicas": 2, "template": old_template}
    assert patched["metadata"] == {"name": "web", "annotations": {"note": "undone"}}


def test_operations_apply_in_order_and_see_each_others_results() -> None:
    ops = [
        {"op": "add", "path": "/a", "value": {}},
        {"op": "add", "path": "/a/b", "value": [1]},
        {"op": "copy", "from": "/a/b", "path": "/c"},
        {"op": "add", "path": "/c/-", "value": 2},
        {"op": "move", "from": "/a/b/0", "path": "/a/first"},
        {"op": "test", "path": "/c", "value": [1, 2]},
    ]
    assert apply_json_patch({}, ops) == {"a": {"b": [], "first": 1}, "c": [1, 2]}


def test_pointer_escapes() -> None:
    doc = {"metadata": {"labels": {"app.kubernetes.io/name": "web", "a~b": "x"}}}
    ops = [
        {"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "api"},
        {"op": "remove", "path": "/metadata/labels/a~0b"},
        {"op": "add", "path": "/metadata/labels/", "value": "empty key"},
    ]
    assert apply_json_patch(doc, ops) == {
        "metadata": {"labels": {"app.kubernetes.io/name": "api", "": "empty key"}}
    }


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/l/0", "value": "x"}], ["x", "a", "b", "c"]),
        ([{"op": "add", "path": "/l/3", "value": "x"}], ["a", "b", "c", "x"]),
        ([{"op": "add", "path": "/l/-", "value": "x"}], ["a", "b", "c", "x"]),
        ([{"op": "remove", "path": "/l/2"}], ["a", "b"]),
        ([{"op": "replace", "path": "/l/0", "value": "x"}], ["x", "b", "c"]),
        ([{"op": "move", "from": "/l/0", "path": "/l/-"}], ["b", "c", "a"]),
        ([{"op": "copy", "from": "/l/1", "path": "/l/0"}], ["b", "a", "b", "c"]),
        # Kubernetes' leniencies: negative indices count from the end (for add,
        # -1 appends), and signs or leading zeros are read as numbers.
        ([{"op": "add", "path": "/l/-1", "value": "x"}], ["a", "b", "c", "x"]),
        ([{"op": "add", "path": "/l/-4", "value": "x"}], ["x", "a", "b", "c"]),
        ([{"op": "remove", "path": "/l/-1"}], ["a", "b"]),
        ([{"op": "replace", "path": "/l/-3", "value": "x"}], ["x", "b", "c"]),
        ([{"op": "add", "path": "/l/01", "value": "x"}], ["a", "x", "b", "c"]),
        ([{"op": "test", "path": "/l/+2", "value": "c"}], ["a", "b", "c"]),
    ],
)
def test_array_indices(ops: list[dict[str, Any]], expected: list[str]) -> None:
    assert apply_json_patch({"l": ["a", "b", "c"]}, ops) == {"l": expected}


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ({"op": "add", "path": "/l/4", "value": "x"}, "index 4 is out of range in /l/4"),
        ({"op": "add", "path": "/l/-5", "value": "x"}, "index -5 is out of range"),
        ({"op": "remove", "path": "/l/3"}, "remove operation does not apply: index 3"),
        ({"op": "remove", "path": "/l/-"}, "'-' is not an array index in /l/-"),
        ({"op": "replace", "path": "/l/-4", "value": "x"}, "index -4 is out of range"),
        ({"op": "replace", "path": "/l/x", "value": "x"}, "'x' is not an array index"),
        ({"op": "test", "path": "/l/1e0", "value": "b"}, "'1e0' is not an array index"),
        ({"op": "test", "path": "/l/ 1", "value": "b"}, "' 1' is not an array index"),
    ],
)
def test_bad_array_indices(op: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_json_patch({"l": ["a", "b", "c"]}, [op])


def test_replace_of_a_missing_member_adds_it_as_kubernetes_does() -> None:
    patched = apply_json_patch(
        {"metadata": {"labels": {}}},
        [{"op": "replace", "path": "/metadata/labels/tier", "value": "web"}],
    )
    assert patched == {"metadata": {"labels": {"tier": "web"}}}


def test_null_and_missing_read_alike_as_kubernetes_does() -> None:
    doc = {"metadata": {"name": "web", "deletionTimestamp": None}}
    ops = [
        {"op": "test", "path": "/metadata/uid", "value": None},
        {"op": "test", "path": "/metadata/deletionTimestamp", "value": None},
        {"op": "copy", "from": "/metadata/uid", "path": "/metadata/copied"},
    ]
    assert apply_json_patch(doc, ops) == {
        "metadata": {"name": "web", "deletionTimestamp": None, "copied": None}
    }
    with pytest.raises(PatchError, match="testing value /metadata/uid failed"):
        apply_json_patch(doc, [{"op": "test", "path": "/metadata/uid", "value": "x"}])


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        (0, False, False),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ({"a": None}, {}, False),
        ([1, 2], [2, 1], False),
    ],
)
def test_test_compares_json_values_strictly(expected: Any, actual: Any, equal: bool) -> None:
    op = {"op": "test", "path": "/v", "value": expected}
    if equal:
        assert apply_json_patch({"v": actual}, [op]) == {"v": actual}
    else:
        with pytest.raises(PatchError, match="testing value /v failed"):
            apply_json_patch({"v": actual}, [op])


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
        ([{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}),
        ([{"op": "test", "path": "", "value": {"a": {"x": 1}}}], {"a": {"x": 1}}),
        ([{"op": "copy", "from": "", "path": "/a/self"}], {"a": {"x": 1, "self": {"a": {"x": 1}}}}),
        ([{"op": "move", "from": "/a", "path": ""}], {"x": 1}),
        ([{"op": "move", "from": "/a/x", "path": "/a/x"}], {"a": {"x": 1}}),
    ],
)
def test_the_root_and_moves_onto_themselves(ops: list[dict[str, Any]], expected: Any) -> None:
    assert apply_json_patch({"a": {"x": 1}}, ops) == expected


@pytest.mark.parametrize(
    ("ops", "message", "code"),
    [
        ({"op": "add", "path": "/a", "value": 1}, "a list of operations", 400),
        ([["add", "/a", 1]], "must be an object", 400),
        ([{"op": "upsert", "path": "/a", "value": 1}], "Unexpected kind: upsert", 422),
        ([{"path": "/a", "value": 1}], "Unexpected kind: None", 422),
        ([{"op": "add", "value": 1}], 'add operation needs a string "path"', 422),
        ([{"op": "add", "path": "/a"}], 'add operation needs a "value"', 422),
        ([{"op": "test", "path": "/a"}], 'test operation needs a "value"', 422),
        ([{"op": "move", "path": "/b"}], 'move operation needs a string "from"', 422),
        ([{"op": "add", "path": "a/b", "value": 1}], 'path "a/b" does not start with "/"', 422),
        ([{"op": "remove", "path": "/missing"}], 'doc is missing key: "/missing"', 422),
        ([{"op": "remove", "path": ""}], "cannot remove the root", 422),
        ([{"op": "move", "from": "/missing", "path": "/b"}], 'missing key: "/missing"', 422),
        ([{"op": "move", "from": "/a", "path": "/a/x/y"}], "cannot move into", 422),
        ([{"op": "copy", "from": "/a/x/y", "path": "/b"}], 'missing path: "/a/x/y"', 422),
        ([{"op": "add", "path": "/a/x/y", "value": 1}], 'missing path: "/a/x/y"', 422),
        ([{"op": "add", "path": "/n/y", "value": 1}], 'missing path: "/n/y"', 422),
        ([{"op": "replace", "path": "/nothere/y", "value": 1}], 'missing path: "/nothere/y"', 422),
    ],
)
def test_bad_patches_say_which_op_and_path(ops: Any, message: str, code: int) -> None:
    with pytest.raises(PatchError, match=message) as caught:
        apply_json_patch({"a": {"x": 1}, "n": None}, ops)
    assert caught.value.code == code


def test_a_failed_operation_leaves_nothing_half_applied() -> None:
    doc = {"a": [1, 2]}
    ops = [{"op": "add", "path": "/a/-", "value": 3}, {"op": "test", "path": "/a/0", "value": 9}]
    with pytest.raises(PatchError):
        apply_json_patch(doc, ops)
    assert doc == {"a": [1, 2]}


def test_inputs_are_never_changed_nor_shared_with_the_result() -> None:
    doc = {"a": {"list": [1, {"deep": True}]}, "b": "x"}
    value = {"nested": [1, 2]}
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/a/list/-", "value": value},
        {"op": "copy", "from": "/a", "path": "/c"},
        {"op": "move", "from": "/b", "path": "/d"},
        {"op": "remove", "path": "/a/list/1/deep"},
    ]
    before_doc, before_ops = copy.deepcopy(doc), copy.deepcopy(ops)
    patched = apply_json_patch(doc, ops)
    assert doc == before_doc
    assert ops == before_ops
    patched["a"]["list"][2]["nested"].append(3)
    patched["c"]["list"].append("x")
    assert value == {"nested": [1, 2]}
    assert doc == before_doc
    assert patched["a"]["list"] == [1, {}, {"nested": [1, 2, 3]}]
