"""Label selectors: the `?labelSelector=` syntax and metav1.LabelSelector objects."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.selectors.errors import SelectorError

__all__ = [
    "EVERYTHING",
    "LabelSelector",
    "MATCH_NOTHING",
    "Operator",
    "Requirement",
    "label_selector_from_object",
    "label_selector_from_set",
    "parse_label_selector",
]

# --- validation of label keys and values (apimachinery api/validate/content) -------------

_LABEL_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_NAME_FMT + ")?"
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
# fullmatch only: Python's `$` would also match before a trailing newline.
_LABEL_NAME_RE = re.compile(_LABEL_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)

_LABEL_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Kubernetes writes "'a',  or 'b', " (two spaces before "or"); kept, since clients
    # and people compare these messages.
    shown = "".join((" or " if i else "") + f"'{example}', " for i, example in enumerate(examples))
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def _byte_len(text: str) -> int:
    # Go measures strings in bytes.
    return len(text.encode("utf-8", "surrogatepass"))


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def _label_key_errors(key: str) -> list[str]:
    """Why `key` is not a label key ([prefix/]name), as IsLabelKey words it."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        name_msg = _regex_error(_LABEL_NAME_MSG, _LABEL_NAME_FMT, "MyName", "my.name", "123-abc")
        return [
            f"a valid label key {name_msg} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _dns1123_subdomain_errors(prefix))
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _LABEL_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_LABEL_NAME_MSG, _LABEL_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _go_quote(text: str) -> str:
    """`text` as Go's %q prints it (how field errors show a bad value)."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _invalid(path: str, value: str, detail: str) -> str:
    """A field.Invalid error as Go renders it; a nil path prints as "<nil>"."""
    return f"{path or '<nil>'}: Invalid value: {_go_quote(value)}: {detail}"


def _aggregate(errors: Sequence[str]) -> str:
    """An error list as utilerrors.Aggregate renders it: one alone, several in brackets."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- label selectors ---------------------------------------------------------------------


class Operator(enum.StrEnum):
    """A label requirement's operator, spelled as k8s.io/apimachinery/pkg/selection."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): no spaces, no underscores, int64 range."""
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector: `key` related to `values` by `operator`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this term (a missing key satisfies !=, notin and !)."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        value = labels.get(self.key)
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value is not None and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value is None or value not in self.values
        # gt / lt: both sides must be integers, else the term does not match.
        if value is None or len(self.values) != 1:
            return False
        have, want = _parse_int64(value), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of requirements, sorted by key. `nothing` makes it match no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (MATCH_NOTHING is not empty)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        present = labels if labels is not None else {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        # Kubernetes prints MATCH_NOTHING as "" too, the same as EVERYTHING.
        return "" if self.nothing else ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
MATCH_NOTHING = LabelSelector(nothing=True)


def _sorted_by_key(requirements: Sequence[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


class _Tok(enum.Enum):
    END = enum.auto()
    CLOSE = enum.auto()
    COMMA = enum.auto()
    NOT = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER = enum.auto()
    ID = enum.auto()
    IN = enum.auto()
    LESS = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN = enum.auto()


_KEYWORDS = {
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    "!": _Tok.NOT,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    ">": _Tok.GREATER,
    "in": _Tok.IN,
    "<": _Tok.LESS,
    "!=": _Tok.NOT_EQUALS,
    "notin": _Tok.NOT_IN,
    "(": _Tok.OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_WORD_END = _SPECIAL | _WHITESPACE | {"\0"}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
_Item = tuple[_Tok, str]


def _scan(text: str) -> list[_Item]:
    """Tokenize like the Go lexer: longest operator first, words end at space or operator."""
    items: list[_Item] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        # Go's lexer reads a NUL byte as end of input.
        if pos >= end or text[pos] == "\0":
            items.append((_Tok.END, ""))
            return items
        start = pos
        if text[pos : pos + 2] in ("!=", "=="):
            pos += 2
        elif text[pos] in _SPECIAL:
            pos += 1
        else:
            while pos < end and text[pos] not in _WORD_END:
                pos += 1
        literal = text[start:pos]
        if pos < end and text[pos] == "\0":
            pos += 1  # the NUL that ended a token is consumed, and lexing goes on after it
        items.append((_KEYWORDS.get(literal, _Tok.ID), literal))


class _ParseError(Exception):
    """A requirement that does not parse; parse() prefixes "unable to parse requirement"."""


class _Parser:
    """Kubernetes' recursive-descent parser, with its contexts: `in` and `notin` are
    operators only right after a key, and identifiers everywhere else."""

    def __init__(self, text: str) -> None:
        self._items = _scan(text)
        self._pos = 0

    def _peek(self, *, values: bool = True) -> _Item:
        tok, literal = self._items[min(self._pos, len(self._items) - 1)]
        if values and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.ID
        return tok, literal

    def _next(self, *, values: bool = True) -> _Item:
        item = self._peek(values=values)
        self._pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, literal = self._peek()
            if tok is _Tok.END:
                return requirements
            if tok not in (_Tok.ID, _Tok.NOT):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except _ParseError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            tok, literal = self._next()
            if tok is _Tok.END:
                return requirements
            if tok is not _Tok.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            tok, literal = self._peek()
            if tok not in (_Tok.ID, _Tok.NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator is not None:
            return _new_requirement(key, operator, [])
        operator = self._operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = self._exact_value()
        # The value set is a Go sets.String: deduplicated and sorted.
        return _new_requirement(key, operator, sorted(values))

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator = None
        tok, literal = self._next()
        if tok is _Tok.NOT:
            operator = Operator.DOES_NOT_EXIST
            tok, literal = self._next()
        if tok is not _Tok.ID:
            raise _ParseError(f"found '{literal}', expected: identifier")
        errs = _label_key_errors(literal)
        if errs:
            raise _ParseError(_invalid("", literal, "; ".join(errs)))
        if operator is None and self._peek()[0] in (_Tok.END, _Tok.COMMA):
            operator = Operator.EXISTS
        return literal, operator

    def _operator(self) -> Operator:
        tok, literal = self._next(values=False)
        operator = {
            _Tok.IN: Operator.IN,
            _Tok.EQUALS: Operator.EQUALS,
            _Tok.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Tok.GREATER: Operator.GREATER_THAN,
            _Tok.LESS: Operator.LESS_THAN,
            _Tok.NOT_IN: Operator.NOT_IN,
            _Tok.NOT_EQUALS: Operator.NOT_EQUALS,
        }.get(tok)
        if operator is None:
            raise _ParseError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        return operator

    def _value_set(self) -> set[str]:
        tok, literal = self._next()
        if tok is not _Tok.OPEN:
            raise _ParseError(f"found '{literal}' expected: '('")
        tok, literal = self._peek()
        if tok is _Tok.CLOSE:
            # "()" is not an error: it is the set holding the empty string.
            self._next()
            return {""}
        if tok not in (_Tok.ID, _Tok.COMMA):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        self._next()  # the ')' that _identifiers() saw ahead
        return values

    def _identifiers(self) -> set[str]:
        """A comma-separated list in which an empty slot ("(,a)", "(a,,b)", "(a,)") is ""."""
        values: set[str] = set()
        while True:
            tok, literal = self._next()
            if tok is _Tok.ID:
                values.add(literal)
                tok, literal = self._peek()
                if tok is _Tok.CLOSE:
                    return values
                if tok is not _Tok.COMMA:
                    raise _ParseError(f"found '{literal}', expected: ',' or ')'")
            elif tok is _Tok.COMMA:
                if not values:
                    values.add("")
                tok, _ = self._peek()
                if tok is _Tok.CLOSE:
                    values.add("")
                    return values
                if tok is _Tok.COMMA:
                    values.add("")
            else:
                raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_Tok.END, _Tok.COMMA):
            return {""}  # "a=" selects the empty value
        tok, literal = self._next()
        if tok is not _Tok.ID:
            raise _ParseError(f"found '{literal}', expected: identifier")
        return {literal}


def _new_requirement(key: str, operator: Operator, values: list[str]) -> Requirement:
    """labels.NewRequirement's checks, with its error paths ("values[0][key]").

    The parser already guarantees the operator's value count (one for exact and gt/lt
    matches, at least one for sets, none for exists), so only the values are checked.
    """
    errs: list[str] = []
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        errs.extend(
            _invalid(
                f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
            )
            for i, value in enumerate(values)
            if _parse_int64(value) is None
        )
    for i, value in enumerate(values):
        value_errs = _label_value_errors(value)
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    if errs:
        raise _ParseError(_aggregate(errs))
    return Requirement(key, operator, tuple(values))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `?labelSelector=` syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`.

    The empty string selects everything. Raises SelectorError with the apiserver's message.
    """
    return _sorted_by_key(_Parser(text).parse())


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector of a plain map (a Service's or ReplicationController's spec.selector).

    Unlike a metav1.LabelSelector, a None or empty map selects everything, as in
    Kubernetes' SelectorFromSet; nothing is validated.
    """
    if not labels:
        return EVERYTHING
    return _sorted_by_key([Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()])


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_error(path: str, value: object, expected: str) -> SelectorError:
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return SelectorError(f"{path}: Invalid value: {shown}: must be {expected}")


def _string_list(value: object, path: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _type_error(path, value, "a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"{path}[{i}]", item, "a string")
    return list(value)


def label_selector_from_object(
    obj: Mapping[str, Any] | None, *, field_path: str = ""
) -> LabelSelector:
    """The selector of a metav1.LabelSelector dict ({matchLabels, matchExpressions}).

    None selects nothing (MATCH_NOTHING) and {} selects everything, as in Kubernetes'
    LabelSelectorAsSelector. Errors are worded as the apiserver's validation words them,
    with paths under `field_path` (e.g. "spec.selector.matchExpressions[0].values").
    """
    if obj is None:
        return MATCH_NOTHING
    if not isinstance(obj, Mapping):
        raise _type_error(field_path or "<nil>", obj, "an object")
    labels_path = _child(field_path, "matchLabels")
    exprs_path = _child(field_path, "matchExpressions")
    match_labels = obj.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise _type_error(labels_path, match_labels, "a map of strings")
    expressions = obj.get("matchExpressions") or []
    if isinstance(expressions, str | bytes) or not isinstance(expressions, Sequence):
        raise _type_error(exprs_path, expressions, "a list")

    errs: list[str] = []
    requirements: list[Requirement] = []
    for key, value in sorted(match_labels.items(), key=lambda item: str(item[0])):
        if not isinstance(key, str):
            raise _type_error(labels_path, key, "a string")
        if not isinstance(value, str):
            raise _type_error(labels_path, value, "a string")
        errs.extend(_invalid(labels_path, key, msg) for msg in _label_key_errors(key))
        errs.extend(_invalid(labels_path, value, msg) for msg in _label_value_errors(value))
        requirements.append(Requirement(key, Operator.EQUALS, (value,)))
    for i, expr in enumerate(expressions):
        path = f"{exprs_path}[{i}]"
        if not isinstance(expr, Mapping):
            raise _type_error(path, expr, "an object")
        key, op_name = expr.get("key", ""), expr.get("operator", "")
        if not isinstance(key, str):
            raise _type_error(f"{path}.key", key, "a string")
        if not isinstance(op_name, str):
            raise _type_error(f"{path}.operator", op_name, "a string")
        values = _string_list(expr.get("values"), f"{path}.values")
        operator = _EXPRESSION_OPERATORS.get(op_name)
        if operator in (Operator.IN, Operator.NOT_IN) and not values:
            errs.append(
                f"{path}.values: Required value: "
                "must be specified when `operator` is 'In' or 'NotIn'"
            )
        elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
            errs.append(
                f"{path}.values: Forbidden: "
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
        elif operator is None:
            errs.append(_invalid(f"{path}.operator", op_name, "not a valid selector operator"))
        errs.extend(_invalid(f"{path}.key", key, msg) for msg in _label_key_errors(key))
        for j, value in enumerate(values):
            errs.extend(
                _invalid(f"{path}.values[{j}]", value, msg) for msg in _label_value_errors(value)
            )
        if operator is not None:
            requirements.append(Requirement(key, operator, tuple(values)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return _sorted_by_key(requirements)
