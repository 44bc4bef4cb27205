"""A CRD's additionalPrinterColumns cells, typed as kube-apiserver types them."""

from __future__ import annotations

import datetime

import pytest

from kybernetes.apiserver.printers.common import Since
from kybernetes.apiserver.printers.custom import column_cell, go_float


@pytest.mark.parametrize(
    ("column_type", "value", "cell"),
    [
        ("integer", 3, 3),
        ("integer", 2.7, 2),  # truncated, as Go's int64(float64)
        ("integer", "3", None),  # a value of another type is an empty cell
        ("integer", True, None),
        ("number", 3, 3.0),
        ("number", "x", None),
        ("boolean", False, False),
        ("boolean", 1, None),
        ("string", "red", "red"),
        ("string", 3, "3"),
        ("string", 1.5, "1.5"),
        ("string", True, "true"),
        ("string", {"b": 1, "a": [1, "x"]}, '{"b":1,"a":[1,"x"]}'),
        ("string", None, None),
        ("date", "not a time", "<invalid>"),
        ("date", 5, None),
    ],
)
def test_cells_follow_the_declared_type(column_type: str, value: object, cell: object) -> None:
    assert column_cell(column_type, value) == cell


def test_a_date_is_an_age_rendered_at_the_request() -> None:
    cell = column_cell("date", "2026-01-01T00:00:00Z")
    assert isinstance(cell, Since)
    now = datetime.datetime(2026, 1, 1, 0, 5, tzinfo=datetime.UTC)
    assert cell.render(now) == "5m"
    empty = column_cell("date", "")
    assert isinstance(empty, Since) and empty.render(now) == "<unknown>"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, "1.5"),
        (0.1, "0.1"),
        (-2.25, "-2.25"),
        (3.0, "3"),
        (0.0, "0"),
        (123456.5, "123456.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.5, "1.2345675e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
    ],
)
def test_floats_print_as_go_prints_them(value: float, text: str) -> None:
    assert go_float(value) == text
