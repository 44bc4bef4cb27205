"""CEL for `x-kubernetes-validations` (celrules.py): cel-python with
Kubernetes' types and the functions of its CEL libraries that CRDs use most.

Kubernetes adds to standard CEL the strings extension (`lowerAscii`,
`split`, `join`, ...), its lists library (`isSorted`, `sum`, `min`, ...)
and regex `find`/`findAll`; these are here. Its quantity, URL, IP/CIDR and
authorizer libraries are not: a rule calling them is reported as
unsupported (celrules.py skips it).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from kybernetes.apiserver.celrules import Unsupported

__all__ = ["Engine", "to_cel"]

Schema = dict[str, Any]
_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_NO_KEY = re.compile(r"no such member in mapping: '([^']*)'")


def to_cel(value: Any, schema: Any) -> Any:
    """A decoded JSON value as a CEL value of the type its schema gives it."""
    schema = schema if isinstance(schema, dict) else {}
    if value is None:
        return None
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        return celtypes.MapType(
            {
                celtypes.StringType(k): to_cel(v, properties.get(k, additional))
                for k, v in value.items()
            }
        )
    if isinstance(value, list):
        return celtypes.ListType([to_cel(item, schema.get("items")) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return (
            celtypes.DoubleType(value)
            if schema.get("type") == "number"
            else celtypes.IntType(value)
        )
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    return _string(str(value), str(schema.get("format") or ""))


def _string(text: str, format_: str) -> Any:
    try:
        if format_ in ("date-time", "datetime"):
            return celtypes.TimestampType(text)
        if format_ == "date":
            return celtypes.TimestampType(f"{text}T00:00:00Z")
        if format_ == "duration":
            return celtypes.DurationType(text)
        if format_ == "byte":
            return celtypes.BytesType(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        pass  # not of its format: the schema's own validation says so
    return celtypes.StringType(text)


class Engine:
    """Compiles each rule once and evaluates it against values."""

    def __init__(self) -> None:
        self._env = celpy.Environment()

    def parse_error(self, text: str) -> str:
        try:
            self._env.compile(text)
        except CELParseError as err:
            return " ".join(str(err).split())
        return ""

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Engine per process
    def _program(self, text: str) -> Any:
        return self._env.program(self._env.compile(text), functions=FUNCTIONS)

    def _run(self, text: str, schema: Schema, new: Any, old: Any) -> Any:
        activation = {"self": to_cel(new, schema)}
        if old is not None:
            activation["oldSelf"] = to_cel(old, schema)
        try:
            result = self._program(text).evaluate(activation)
        except CELEvalError as err:
            return err
        except CELParseError as err:
            return Unsupported(f"it does not parse: {' '.join(str(err).split())}")
        return result

    def evaluate(self, text: str, schema: Schema, new: Any, old: Any, transition: bool) -> Any:
        """True or False, an evaluation error's text, or Unsupported."""
        result = self._run(text, schema, new, old if transition else None)
        if isinstance(result, Unsupported):
            return result
        if isinstance(result, CELEvalError):
            return _error_text(result)
        if isinstance(result, celtypes.BoolType):
            return bool(result)
        return "rule did not evaluate to a bool"

    def message(self, expression: str, schema: Schema, new: Any, old: Any) -> str:
        """A messageExpression's text; empty when it fails (the message is used then)."""
        result = self._run(expression, schema, new, old)
        return str(result) if isinstance(result, str) else ""  # StringType is a str too


def _error_text(err: CELEvalError) -> Any:
    text = str(err.args[0]) if err.args else str(err)
    undeclared = _UNDECLARED.search(text)
    if undeclared:
        return Unsupported(f"it calls {undeclared.group(1)}(), which Kybernetes' CEL lacks")
    missing = _NO_KEY.search(text)
    if missing:
        return f"no such key: {missing.group(1)}"
    return text


# -- Kubernetes' CEL libraries (the parts CRDs use most) ---------------------------


def _index_of(target: Any, item: Any, start: Any = 0) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(target.find(str(item), int(start)))
    items = list(target)
    return celtypes.IntType(items.index(item) if item in items else -1)


def _last_index_of(target: Any, item: Any) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(target.rfind(str(item)))
    items = list(target)
    return celtypes.IntType(len(items) - 1 - items[::-1].index(item) if item in items else -1)


def _split(text: Any, separator: Any, limit: Any = -1) -> Any:
    limit = int(limit)
    if limit == 0:
        return celtypes.ListType([])
    parts = str(text).split(str(separator), limit - 1 if limit > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> Any:
    return celtypes.StringType(str(text).replace(str(old), str(new), int(limit)))


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    return celtypes.StringType(str(text)[int(start) : None if end is None else int(end)])


def _join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(i) for i in items))


def _sum(items: Any) -> Any:
    values = list(items)
    return sum(values[1:], values[0]) if values else celtypes.IntType(0)


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> Any:
    found = [celtypes.StringType(m.group(0)) for m in re.finditer(str(pattern), str(text))]
    return celtypes.ListType(found if int(limit) < 0 else found[: int(limit)])


def _find(text: Any, pattern: Any) -> Any:
    match = re.search(str(pattern), str(text))
    return celtypes.StringType(match.group(0) if match else "")


def _text(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda text: celtypes.StringType(fn(str(text)))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "charAt": lambda text, i: celtypes.StringType(str(text)[int(i) : int(i) + 1]),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _text(lambda s: "".join(c.lower() if c.isascii() else c for c in s)),
    "upperAscii": _text(lambda s: "".join(c.upper() if c.isascii() else c for c in s)),
    "trim": _text(str.strip),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "join": _join,
    "isSorted": lambda items: celtypes.BoolType(list(items) == sorted(items)),
    "sum": _sum,
    "min": lambda items: min(items),
    "max": lambda items: max(items),
    "find": _find,
    "findAll": _find_all,
}
