"""Kubernetes resource quantities ("100m", "1Gi", "2", "1e3") as exact numbers.

resource.Quantity's grammar: an optional sign, a decimal number, then a
binary suffix (Ki … Ei), a decimal suffix (n u m "" k M G T P E) or an
exponent (e3, E-2). Values are exact fractions, so "0.1" + "0.2" CPUs is
300m and never 0.30000000000000004. Consumers that compare amounts (the
scheduler) take the integer views: `milli_value` rounds up to a whole
milli-unit and `int_value` to a whole unit, as Quantity's MilliValue and
Value do. Parsing is cached: a cluster repeats the same few spellings.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Any

__all__ = ["int_value", "milli_value", "parse_quantity"]

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)"
)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Fraction:
    match = _QUANTITY.fullmatch(text.strip())
    if match is None or not (match["int"] or match["frac"]):
        raise ValueError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}"
        )
    value = Fraction((match["int"] or "0") + "." + (match["frac"] or "0"))
    if match["sign"] == "-":
        value = -value
    suffix = match["suffix"]
    if suffix in _BINARY:
        return value * Fraction(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix]
    return value * Fraction(10) ** int(suffix[1:])


def parse_quantity(raw: Any) -> Fraction:
    """The exact value of a quantity written as a string or a JSON number."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"not a quantity: {raw!r}")
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, float):
        return Fraction(str(raw))
    return _parse_text(str(raw))


def milli_value(raw: Any) -> int:
    """Thousandths of the unit, rounded up ("100m" -> 100, "1" -> 1000)."""
    return math.ceil(parse_quantity(raw) * 1000)


def int_value(raw: Any) -> int:
    """Whole units, rounded up ("1Ki" -> 1024, "500m" -> 1)."""
    return math.ceil(parse_quantity(raw))
