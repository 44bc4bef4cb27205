"""The cells of a CRD's additionalPrinterColumns, as kube-apiserver makes them.

kube-apiserver's custom-resource table convertor turns the value a column's
JSONPath finds into a cell of the column's declared type: an `integer`
column gets an integer (a float is truncated), a `number` a float, a
`boolean` a bool, a `date` the age of that timestamp ("5m", `<invalid>`
when it does not parse), and a `string` column the value as kubectl's
JSONPath prints it (maps and lists as JSON, numbers as Go prints them). A
value of another type than declared, or none at all, is an empty cell
(null, which kubectl prints as `<none>`).
"""

from __future__ import annotations

import decimal
from typing import Any

import orjson

from kybernetes.api.times import parse_time
from kybernetes.apiserver.printers.common import Since

__all__ = ["column_cell", "go_float"]


def column_cell(column_type: str, value: Any) -> Any:
    """The cell for `value` (a decoded JSON value, None when the path found
    nothing) in a column declared `column_type`."""
    if value is None:
        return None
    if column_type == "string":
        return _printed(value)
    if column_type == "date":
        return _age(value)
    if isinstance(value, bool):
        return value if column_type == "boolean" else None
    if column_type == "integer" and isinstance(value, int | float):
        return int(value)
    if column_type == "number" and isinstance(value, int | float):
        return float(value)
    return None


def _printed(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def _age(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    if value in ("", "null"):
        return Since(None)
    moment = parse_time(value)
    return "<invalid>" if moment is None else Since(moment)


def go_float(value: float) -> str:
    """A float as Go's `%v` prints it: the shortest digits that read back the
    same, in exponent form from 1e+06 up and below 1e-04 (Python's repr
    switches at other points: 1234567.5 vs Go's 1.2345675e+06)."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point falls among the digits
    minus = "-" if sign else ""
    if value == 0:
        return minus + "0"
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"
