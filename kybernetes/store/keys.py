"""Pure helpers every backend shares: input checks, prefix ranges, continue keys.

They live in one place so that a bad key is refused with the same words by
every backend, before anything is written.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from kybernetes.store.types import MAX_KEY_BYTES, MAX_VALUE_BYTES, InvalidInputError

__all__ = [
    "check_key",
    "check_prefix",
    "check_revision",
    "check_value",
    "decode_continue",
    "encode_continue",
    "list_start",
    "prefix_end",
]


def check_key(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidInputError(f"key must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidInputError("key must not be empty")
    _check_text(key, "key")
    return key


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise InvalidInputError(f"prefix must be a str, not {type(prefix).__name__}")
    _check_text(prefix, "prefix")
    return prefix


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidInputError(f"{what} {text[:64]!r} contains a NUL character")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InvalidInputError(f"{what} {text[:64]!r} is not valid UTF-8: {err.reason}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidInputError(f"{what} is {size} bytes long; the limit is {MAX_KEY_BYTES} bytes")


def check_value(key: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidInputError(f"value for key {key!r} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidInputError(
            f"value for key {key!r} is {len(data)} bytes; the limit is "
            f"{MAX_VALUE_BYTES} bytes (1.5 MiB)"
        )
    return data


def check_revision(revision: object, what: str = "revision") -> int:
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise InvalidInputError(f"{what} must be an int >= 0, not {revision!r}")
    return revision


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`.

    "" (the whole keyspace) has no end: it returns "" and callers treat it
    as unbounded. Keys are compared as UTF-8 bytes, which for valid text is
    the same order as code points.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded
                nxt = 0xE000
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return ""


def encode_continue(revision: int, next_key: str) -> str:
    raw = orjson.dumps({"rv": revision, "start": next_key})
    return base64.urlsafe_b64encode(raw).decode("ascii")


def list_start(
    prefix: object, revision: object, limit: object, continue_key: object
) -> tuple[int, str]:
    """Check a list request and give its snapshot revision and start key.

    Every backend's `list` begins here, so they refuse the same input with
    the same words; a continue key overrides the revision with its own.
    """
    start = check_prefix(prefix)
    snapshot = check_revision(revision)
    check_revision(limit, "limit")
    if continue_key is not None and not isinstance(continue_key, str):
        raise InvalidInputError(f"continue key must be a str, not {type(continue_key).__name__}")
    if continue_key:
        return decode_continue(continue_key, start)
    return snapshot, start


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    """Revision and start key from a continue key; refuses one for another prefix."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        revision, start = data["rv"], data["start"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise InvalidInputError(f"continue key {token[:40]!r} is not valid") from None
    if not isinstance(revision, int) or revision <= 0 or not isinstance(start, str):
        raise InvalidInputError(f"continue key {token[:40]!r} is not valid")
    if not start.startswith(prefix):
        raise InvalidInputError(
            f"continue key {token[:40]!r} belongs to another prefix than {prefix!r}"
        )
    return revision, start
