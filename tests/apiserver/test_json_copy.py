"""json_copy: the deep copy of decoded bodies that replaced copy.deepcopy on the write paths."""

from __future__ import annotations

import datetime
from collections import OrderedDict
from typing import Any

from kybernetes.apiserver.objects import json_copy


def test_copy_is_deep_and_equal() -> None:
    original: dict[str, Any] = {
        "metadata": {"name": "a", "labels": {"x": "1"}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
        "n": 1.5,
        "flag": True,
        "none": None,
        "nested": [[1, 2], [{"k": []}]],
    }
    copied = json_copy(original)
    assert copied == original
    copied["metadata"]["labels"]["x"] = "2"
    copied["spec"]["containers"][0]["ports"].append({"containerPort": 81})
    copied["nested"][1][0]["k"].append(3)
    assert original["metadata"]["labels"] == {"x": "1"}
    assert original["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    assert original["nested"] == [[1, 2], [{"k": []}]]


def test_keeps_key_order_and_shares_immutable_values() -> None:
    stamp = datetime.date(2024, 1, 2)  # YAML bodies may carry dates
    original = {"b": 1, "a": {"when": stamp}}
    copied = json_copy(original)
    assert list(copied) == ["b", "a"]
    assert copied["a"]["when"] is stamp
    assert copied["a"] is not original["a"]


def test_subclasses_of_dict_and_list_are_copied_too() -> None:
    inner = [1, {"x": 1}]
    original = OrderedDict(items=inner)
    copied = json_copy(original)
    assert copied == {"items": [1, {"x": 1}]}
    copied["items"][1]["x"] = 2
    assert inner[1] == {"x": 1}
