"""The protobuf wire format, read by hand: a field is a key varint then a value.

Only reading is needed (kubectl's request bodies come in as protobuf, our
answers stay JSON), and the format is small enough that a library would
cost more than it saves. Every read is bounds-checked: a truncated or
corrupt body raises `ProtobufError` and never an IndexError.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "VARINT",
    "ProtobufError",
    "Value",
    "fields",
    "packed_varints",
    "signed64",
]

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10
_FIELD_NUMBER_LIMIT = (1 << 29) - 1

# A field's value: an int for varints, the raw bytes for the rest.
Value = int | bytes


class ProtobufError(ValueError):
    """The body is not a well-formed (Kubernetes) protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise ProtobufError("varint longer than 10 bytes")


def signed64(value: int) -> int:
    """int32 and int64 fields are two's complement over 64 bits (a negative takes 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(data: bytes) -> Iterator[tuple[int, int, Value]]:
    """(field number, wire type, value) for each field of one message, in wire order."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if not 1 <= number <= _FIELD_NUMBER_LIMIT:
            raise ProtobufError(f"invalid field number {number}")
        value: Value
        if wire_type == VARINT:
            value, pos = _varint(data, pos)
        elif wire_type == LEN:
            size, pos = _varint(data, pos)
            if size > end - pos:
                raise ProtobufError(f"field {number}: {size} bytes announced, {end - pos} left")
            value, pos = data[pos : pos + size], pos + size
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            if size > end - pos:
                raise ProtobufError(f"field {number}: truncated fixed{size * 8} value")
            value, pos = data[pos : pos + size], pos + size
        else:
            # Groups (3, 4) are obsolete and Kubernetes never writes them; 6 and 7 do not exist.
            raise ProtobufError(f"field {number}: unsupported wire type {wire_type}")
        yield number, wire_type, value


def packed_varints(data: bytes) -> list[int]:
    """A packed repeated scalar: varints back to back in one length-delimited value."""
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        values.append(value)
    return values
