"""`changes`: what a write adds and removes, found without listing what it left alone."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kybernetes.api.patch import schema_for
from kybernetes.apiserver.fieldsets import added, changes, field_values
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.zero_values import present_fields
from tests.apiserver.test_fieldsets import POD

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "1"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD["spec"]}},
    "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
}  # fmt: skip
KINDS = {"Pod": ("", "v1", POD), "Deployment": ("apps", "v1", DEPLOYMENT)}

# Field names the schemas know (so lists merge on their keys) and a few they do not.
KEYS = ["name", "image", "containerPort", "protocol", "value", "ports", "env", "containers",
        "labels", "annotations", "type", "status", "key", "resources", "finalizers",
        "x"]  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 1.0, 80, 80.0, -2]),
                    st.sampled_from(["", "x", "A", "c", "TCP", "UDP", "Ready"]))  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


def _containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict | list):
        yield value
        for inner in value.values() if isinstance(value, dict) else value:
            yield from _containers(inner)


def _mutate(data: st.DataObject, obj: Obj) -> Obj:
    """`obj`, changed in a few places: keys set, dropped or reordered, list items
    added, dropped, replaced or repeated (a repeated key, as kube allows in env)."""
    for _ in range(data.draw(st.integers(1, 4))):
        place = data.draw(st.sampled_from(list(_containers(obj))))
        if isinstance(place, dict):
            op = data.draw(st.sampled_from(["set", "drop", "reorder"]))
            if op == "set":
                place[data.draw(st.sampled_from(KEYS))] = data.draw(VALUES)
            elif op == "drop" and place:
                del place[data.draw(st.sampled_from(sorted(place)))]
            elif op == "reorder":
                items = list(place.items())
                place.clear()
                place.update(reversed(items))
            continue
        op = data.draw(st.sampled_from(["append", "drop", "replace", "repeat"]))
        if op == "append" or not place:
            place.append(data.draw(VALUES))
            continue
        index = data.draw(st.integers(0, len(place) - 1))
        if op == "drop":
            del place[index]
        elif op == "replace":
            place[index] = data.draw(VALUES)
        else:
            place.append(copy.deepcopy(place[index]))
    return obj


def _compared_whole(
    new: Obj, old: Obj, kind: str, status: bool | None
) -> tuple[frozenset[Any], frozenset[Any]]:
    group, version, _ = KINDS[kind]
    schema, present = schema_for(group, version, kind), present_fields(group, version, kind)
    new_values = field_values(new, schema, status=status, nodes=True)
    old_values = field_values(old, schema, status=status, nodes=True)
    return added(new_values, old_values, present), frozenset(old_values) - frozenset(new_values)


def _changes(new: Obj, old: Obj, kind: str, status: bool | None) -> tuple[Any, Any]:
    group, version, _ = KINDS[kind]
    schema, present = schema_for(group, version, kind), present_fields(group, version, kind)
    return changes(new, old, schema, status=status, present=present)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)),
       status=st.sampled_from([None, False, True]))  # fmt: skip
def test_changes_are_those_a_comparison_of_every_field_finds(
    data: st.DataObject, kind: str, status: bool | None
) -> None:
    old = _mutate(data, copy.deepcopy(KINDS[kind][2]))
    new = _mutate(data, copy.deepcopy(old))
    assert _changes(new, old, kind, status) == _compared_whole(new, old, kind, status)


@pytest.mark.parametrize(
    ("before", "after"),
    [(1, 1.0), (1, True), (0, False), (80, 80.0)],
)
def test_a_number_that_becomes_another_type_is_a_change_even_where_python_calls_it_equal(
    before: Any, after: Any
) -> None:
    old = copy.deepcopy(POD)
    old["metadata"]["finalizers"] = ["a", before]  # a set: its items are its paths
    old["spec"]["containers"][0]["ports"][0]["containerPort"] = before  # a key
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"][1] = after
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = after
    changed, removed = _changes(new, old, "Pod", False)
    assert (changed, removed) == _compared_whole(new, old, "Pod", False)
    assert changed and removed


def test_an_update_of_one_annotation_changes_that_annotation_alone() -> None:
    old = copy.deepcopy(POD)
    new = copy.deepcopy(old)
    new["metadata"]["annotations"]["note"] = "hi"
    assert _changes(new, old, "Pod", False) == (
        frozenset({("f:metadata", "f:annotations", "f:note")}),
        frozenset(),
    )
