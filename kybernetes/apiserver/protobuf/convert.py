"""Protobuf message -> the dict the same object has in Kubernetes' JSON.

The JSON conventions applied here, and why:

- Zero scalars are dropped unless the field keeps them (messages.py says
  which): gogo-protobuf writes "" / 0 / false for every non-pointer field,
  where JSON's omitempty would have written nothing.
- An embedded message that is present becomes a dict, even an empty one:
  gogo writes non-pointer structs always and JSON does too (`resources: {}`,
  `status: {}`); a nil pointer is simply absent on the wire.
- Empty lists and maps never appear: protobuf cannot tell them from absent.
- A few messages are one JSON value (`SPECIALS`): Time and MicroTime become
  RFC 3339 text (an empty Time is the zero time, JSON's `null`: omitted),
  Quantity its string, IntOrString an int or a str, RawExtension and FieldsV1
  the JSON they hold, an ExtraValue its list of strings.
- `bytes` become base64 text, as Go's encoding/json writes []byte.

Decoding recurses only along the tables, which have no cycles (a test
checks), so a hostile body cannot nest deeper than the schema does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from kybernetes.apiserver.protobuf.messages import MESSAGES, SCALARS, Field
from kybernetes.apiserver.protobuf.wire import (
    LEN,
    VARINT,
    ProtobufError,
    Value,
    fields,
    packed_varints,
    signed64,
)

__all__ = ["decode_message"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WIRE_NAMES = {0: "varint", 1: "fixed64", 2: "length-delimited", 5: "fixed32"}


class _Absent:
    """A special value JSON would write as null: the field is left out."""


_ABSENT = _Absent()


def decode_message(message: str, data: bytes) -> dict[str, Any]:
    """Decode `data` as the message named `message` (a key of MESSAGES)."""
    table = MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire_type, value in fields(data):
        field = table.get(number)
        if field is None:
            continue  # a newer field: skipped, as every protobuf reader does
        where = f"{message}.{field.name}"
        if field.type == "map":
            key, item = _map_entry(where, field.map_value, _bytes(where, wire_type, value))
            out.setdefault(field.name, {})[key] = item
        elif field.repeated:
            out.setdefault(field.name, []).extend(_repeated(where, field, wire_type, value))
        elif field.name == "*":
            out.update(decode_message(field.type, _bytes(where, wire_type, value)))
        else:
            single = _single(where, field.type, wire_type, value)
            if single is _ABSENT or (not field.keep_zero and _is_zero(field, single)):
                out.pop(field.name, None)  # a later occurrence wins, also when it is zero
            else:
                out[field.name] = single
    return {name: v for name, v in out.items() if v != []}


def _is_zero(field: Field, value: Any) -> bool:
    return field.type in SCALARS and value in ("", 0, False)


def _bytes(where: str, wire_type: int, value: Value) -> bytes:
    if wire_type != LEN or not isinstance(value, bytes):
        raise ProtobufError(f"{where}: {_WIRE_NAMES[wire_type]} value, expected length-delimited")
    return value


def _varint(where: str, wire_type: int, value: Value) -> int:
    if wire_type != VARINT or not isinstance(value, int):
        raise ProtobufError(f"{where}: {_WIRE_NAMES[wire_type]} value, expected a varint")
    return value


def _repeated(where: str, field: Field, wire_type: int, value: Value) -> list[Any]:
    # Repeated numbers may come packed (one length-delimited run) or one per key.
    if field.type in ("int", "bool") and wire_type == LEN and isinstance(value, bytes):
        numbers = [signed64(v) for v in packed_varints(value)]
        return [bool(v) for v in numbers] if field.type == "bool" else numbers
    item = _single(where, field.type, wire_type, value)
    return [] if item is _ABSENT else [item]


def _single(where: str, type_: str, wire_type: int, value: Value) -> Any:
    if type_ == "int":
        return signed64(_varint(where, wire_type, value))
    if type_ == "bool":
        return _varint(where, wire_type, value) != 0
    data = _bytes(where, wire_type, value)
    if type_ == "str":
        return _text(where, data)
    if type_ == "bytes":
        return base64.b64encode(data).decode("ascii")
    special = _SPECIALS.get(type_)
    if special is not None:
        return special(where, data)
    return decode_message(type_, data)


def _text(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{where}: a string that is not valid UTF-8") from None


def _map_entry(where: str, value_type: str, data: bytes) -> tuple[str, Any]:
    # A map is a repeated {1: key, 2: value} message; a missing part is its zero value.
    key, item = "", _zero(value_type)
    for number, wire_type, value in fields(data):
        if number == 1:
            key = _text(where, _bytes(where, wire_type, value))
        elif number == 2:
            item = _single(f"{where}[{key}]", value_type, wire_type, value)
    return key, (None if item is _ABSENT else item)


def _zero(value_type: str) -> Any:
    """A map value that is missing on the wire, as JSON shows the type's zero."""
    return {"qty": "0", "time": None, "extra": []}.get(value_type, "")


def _parts(data: bytes) -> dict[int, Value]:
    """A small fixed message as {number: last value}, for the specials below."""
    return {number: value for number, _, value in fields(data)}


def _int_part(where: str, parts: dict[int, Value], number: int) -> int:
    value = parts.get(number, 0)
    if not isinstance(value, int):
        raise ProtobufError(f"{where}: field {number} is not a varint")
    return signed64(value)


def _str_part(where: str, parts: dict[int, Value], number: int) -> str:
    value = parts.get(number, b"")
    if not isinstance(value, bytes):
        raise ProtobufError(f"{where}: field {number} is not length-delimited")
    return _text(where, value)


def _instant(where: str, data: bytes) -> datetime | None:
    # Kubernetes marshals the zero time as an empty message and reads one back as zero.
    if not data:
        return None
    parts = _parts(data)
    seconds, nanos = _int_part(where, parts, 1), _int_part(where, parts, 2)
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ProtobufError(f"{where}: time out of range ({seconds}s)") from None


def _time(where: str, data: bytes) -> Any:
    instant = _instant(where, data)
    if instant is None:
        return _ABSENT
    return f"{instant.year:04d}-{instant:%m-%dT%H:%M:%S}Z"


def _micro_time(where: str, data: bytes) -> Any:
    instant = _instant(where, data)
    if instant is None:
        return _ABSENT
    return f"{instant.year:04d}-{instant:%m-%dT%H:%M:%S.%f}Z"


def _quantity(where: str, data: bytes) -> str:
    return _str_part(where, _parts(data), 1) or "0"


def _int_or_string(where: str, data: bytes) -> int | str:
    parts = _parts(data)
    if _int_part(where, parts, 1) == 1:
        return _str_part(where, parts, 3)
    return _int_part(where, parts, 2)


def _raw_json(where: str, data: bytes) -> Any:
    raw = _parts(data).get(1, b"")
    if not isinstance(raw, bytes):
        raise ProtobufError(f"{where}: field 1 is not length-delimited")
    if not raw:
        return _ABSENT
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ProtobufError(f"{where}: embedded JSON is invalid: {err}") from None


def _string_list(where: str, data: bytes) -> list[str]:
    return [_text(where, _bytes(where, wt, v)) for n, wt, v in fields(data) if n == 1]


_SPECIALS: dict[str, Callable[[str, bytes], Any]] = {
    "time": _time,
    "mtime": _micro_time,
    "qty": _quantity,
    "ios": _int_or_string,
    "raw": _raw_json,
    "extra": _string_list,
}
