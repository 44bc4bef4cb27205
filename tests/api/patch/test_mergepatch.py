"""JSON Merge Patch: RFC 7386 appendix A, and the patches kubectl sends as merge patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.patch import apply_merge_patch

# RFC 7386 appendix A: original, patch, result.
RFC_7386_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), RFC_7386_EXAMPLES)
def test_rfc_7386_examples(doc: Any, patch: Any, expected: Any) -> None:
    assert apply_merge_patch(doc, patch) == expected


def test_kubectl_scale() -> None:
    deployment = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": False}}
    assert apply_merge_patch(deployment, {"spec": {"replicas": 3}}) == {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "paused": False},
    }


def test_kubectl_label_and_annotate_add_overwrite_and_remove() -> None:
    pod = {"metadata": {"name": "p", "labels": {"app": "web", "tier": "old"}}}
    patched = apply_merge_patch(pod, {"metadata": {"labels": {"tier": "front", "env": "prod"}}})
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front", "env": "prod"}
    # `kubectl label pod p tier-` sends null; `kubectl annotate` adds a map that did not exist.
    patched = apply_merge_patch(patched, {"metadata": {"labels": {"tier": None}}})
    patched = apply_merge_patch(patched, {"metadata": {"annotations": {"note": "hi"}}})
    assert patched["metadata"] == {
        "name": "p",
        "labels": {"app": "web", "env": "prod"},
        "annotations": {"note": "hi"},
    }


def test_lists_are_replaced_whole() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    patched = apply_merge_patch(pod, {"spec": {"containers": [{"name": "a", "image": "z"}]}})
    assert patched == {"spec": {"containers": [{"name": "a", "image": "z"}]}}


def test_deleting_a_missing_member_is_not_an_error() -> None:
    assert apply_merge_patch({"a": 1}, {"b": None, "c": {"d": None}}) == {"a": 1, "c": {}}


def test_null_members_vanish_from_values_that_land_where_no_object_was() -> None:
    # As Kubernetes does (evanphx/json-patch): nulls inside a new value are
    # dropped at any depth, also in objects inside lists; null list items stay.
    patch = {
        "new": {"keep": 1, "drop": None, "list": [{"x": None, "y": 2}, None]},
        "scalar": {"drop": None},
        "list": [{"x": None}],
    }
    doc = {"scalar": "s", "list": [1]}
    assert apply_merge_patch(doc, patch) == {
        "scalar": {},
        "list": [{}],
        "new": {"keep": 1, "list": [{"y": 2}, None]},
    }


def test_a_list_replacing_an_object_is_taken_as_it_is() -> None:
    assert apply_merge_patch({"a": {"b": 1}}, {"a": [{"x": None}]}) == {"a": [{"x": None}]}


def test_a_null_member_counts_as_missing() -> None:
    assert apply_merge_patch({"a": None}, {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


def test_inputs_are_never_changed_nor_shared_with_the_result() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"list": [{"x": 1}]}}
    patch = {"metadata": {"labels": {"b": "2"}}, "spec": {"list": [{"y": 2}]}, "new": {"k": [1]}}
    before_doc, before_patch = copy.deepcopy(doc), copy.deepcopy(patch)
    patched = apply_merge_patch(doc, patch)
    assert doc == before_doc
    assert patch == before_patch
    patched["spec"]["list"][0]["z"] = 3
    patched["new"]["k"].append(2)
    patched["metadata"]["labels"]["c"] = "3"
    assert doc == before_doc
    assert patch == before_patch
