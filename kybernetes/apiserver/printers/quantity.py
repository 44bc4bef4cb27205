"""Resource quantities in their canonical spelling, as a PV's CAPACITY cell shows them.

kube-apiserver parses a quantity and prints it back canonically, so "1024Mi"
shows as "1Gi", "1.5Gi" as "1536Mi", "5000" as "5k" and "0.5" as "500m". The
rules (resource.Quantity's String): keep the suffix family the value was
written in (binary Ki…Ei, decimal m…E, or an `e` exponent); a binary value
below 1024 or not a whole number falls back to decimal; a decimal value is a
whole mantissa times a power of ten that is a multiple of three; anything
finer than 1n is rounded up.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

__all__ = ["canonical_quantity"]

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)"
)


def _parse(text: str) -> tuple[Fraction, str] | None:
    """The value and the suffix family ("binary", "decimal", "exponent"), or None."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None or not (match["int"] or match["frac"]):
        return None
    digits = (match["int"] or "0") + "." + (match["frac"] or "0")
    value = Fraction(digits)
    if match["sign"] == "-":
        value = -value
    suffix = match["suffix"]
    if suffix in _BINARY:
        return value * 1024 ** _BINARY[suffix], "binary"
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], "decimal"
    return value * Fraction(10) ** int(suffix[1:]), "exponent"


def _round_up_to_nano(value: Fraction) -> Fraction:
    scaled = value * 10**9
    if scaled.denominator == 1:
        return value
    rounded = math.ceil(scaled) if scaled > 0 else math.floor(scaled)
    return Fraction(rounded, 10**9)


def _decimal(value: Fraction, family: str) -> str:
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    mantissa = int(value)
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # Step down to a multiple of three so the suffix is one of n, u, m, k, M, …
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if family == "exponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_SUFFIX.get(exponent)
    return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"


def canonical_quantity(raw: Any) -> str:
    """`raw` (a string or a JSON number) canonicalised; text that is not a quantity is kept."""
    if isinstance(raw, bool) or raw is None:
        return str(raw)
    parsed = _parse(str(raw))
    if parsed is None:
        return str(raw)
    value, family = parsed
    value = _round_up_to_nano(value)
    if value == 0:
        return "0"
    if family == "binary" and abs(value) >= 1024 and value.denominator == 1:
        mantissa, power = int(value), 0
        while power < 6 and mantissa % 1024 == 0:
            mantissa //= 1024
            power += 1
        suffix = next(s for s, p in _BINARY.items() if p == power) if power else ""
        return f"{mantissa}{suffix}"
    return _decimal(value, "exponent" if family == "exponent" else "decimal")
