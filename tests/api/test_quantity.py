"""Resource quantities parsed exactly, and their integer views."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.api.quantity import int_value, milli_value, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Fraction(1, 10)),
        ("1", Fraction(1)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("1Ki", Fraction(1024)),
        ("1Gi", Fraction(1024**3)),
        ("2M", Fraction(2_000_000)),
        ("1e3", Fraction(1000)),
        ("1E-3", Fraction(1, 1000)),
        ("5n", Fraction(5, 10**9)),
        ("-2", Fraction(-2)),
        (2, Fraction(2)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_parses(text: object, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("bad", ["", "m", "1.2.3", "1Kb", "abc", None, True])
def test_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_integer_views_round_up() -> None:
    assert milli_value("100m") == 100
    assert milli_value("1") == 1000
    assert milli_value("0.0001") == 1  # finer than a milli-unit rounds up
    assert int_value("500m") == 1
    assert int_value("1Mi") == 1024 * 1024
    assert int_value("128974848") == 128974848
