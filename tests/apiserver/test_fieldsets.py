"""FieldsV1 path elements: a keyed list item is named by its key as Go's JSON writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kybernetes.apiserver.fieldsets import key_element


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
