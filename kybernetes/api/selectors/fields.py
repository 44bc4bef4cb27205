"""Field selectors: the `?fieldSelector=` syntax (f=v, f==v, f!=v, with escapes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kybernetes.api.selectors.errors import SelectorError

__all__ = ["FieldRequirement", "FieldSelector", "escape_field_value", "parse_field_selector"]

# --- field selectors ---------------------------------------------------------------------


class FieldRequirement(NamedTuple):
    """One term of a field selector; `operator` is "=" (also for "==") or "!="."""

    field: str
    operator: str
    value: str


def escape_field_value(value: str) -> str:
    """Escape `\\`, `,` and `=` so any literal can be a field selector value."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of field requirements; a field missing from the object reads as ""."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        for field, operator, value in self.requirements:
            if (fields.get(field, "") == value) != (operator == "="):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(
            f"{field}{operator}{escape_field_value(value)}"
            for field, operator, value in self.requirements
        )


def _split_terms(text: str) -> list[str]:
    """Split on commas, except escaped ones (which stay escaped in the term)."""
    if not text:
        return []
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator; the field part has no escaping at all."""
    for i in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, i):
                return term[:i], operator, term[i + len(operator) :]
    return None


def _unescape_field_value(value: str) -> str:
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its code point: "=" shows as 61.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse the `?fieldSelector=` syntax: `f=v`, `f==v`, `f!=v`, comma-separated.

    As in Kubernetes there is no whitespace trimming (`a = b` is field "a " and value
    " b"), terms are sorted as strings, empty terms are skipped, and values may escape
    `\\,`, `\\=` and `\\\\`. Raises SelectorError with the apiserver's message.
    """
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw = split
        value = _unescape_field_value(raw)
        # A bare "=" parses to a term that selects everything, which Kubernetes drops.
        if field or value:
            requirements.append(FieldRequirement(field, "!=" if operator == "!=" else "=", value))
    return FieldSelector(tuple(requirements))
