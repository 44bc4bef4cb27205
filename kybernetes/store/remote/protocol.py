"""The remote store's wire format: the `Store` types as JSON, errors by name.

Both ends import this one module, so an encoder and the decoder that must
undo it sit side by side. Values are base64 (JSON has no bytes); every other
field is the `Store` type's own field under the same name. Decoding checks
each field's JSON type as it reads it and raises `InvalidInputError` for
anything malformed: the server answers that with 400 instead of failing
with a 500, and the client turns it into `StoreUnavailableError` (a server
that sends garbage is as good as unreachable).

Errors travel as ``{"error": "<ClassName>", "message": ..., <fields>}`` and
decode to the same class with the same fields, so a caller cannot tell a
remote store's `ConflictError` from a local one's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.store.types import (
    AlreadyExistsError,
    CompactedError,
    ConflictError,
    Event,
    EventKind,
    FutureRevisionError,
    InvalidInputError,
    KeyValue,
    ListResult,
    NotFoundError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    WatchBatch,
    WatchDroppedError,
)

__all__ = [
    "JSON",
    "PROGRESS_REQUEST",
    "Fields",
    "b64",
    "batch_from_json",
    "batch_to_json",
    "error_from_json",
    "error_status",
    "error_to_json",
    "event_from_json",
    "event_to_json",
    "kv_from_json",
    "kv_to_json",
    "list_from_json",
    "list_to_json",
]

JSON = dict[str, Any]

# What a watching client sends to ask for a progress notification.
PROGRESS_REQUEST: JSON = {"progress": True}

# Revisions travel as JSON numbers; anything outside int64 is no revision
# any backend can hold, and SQLite would fail on it with OverflowError.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Fields:
    """A JSON object whose fields are type-checked as they are read.

    `done()` refuses fields nobody read, so a misspelt option is an error
    instead of a silently ignored default.
    """

    def __init__(self, obj: object, what: str) -> None:
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{what} must be a JSON object, not {_json_type(obj)}")
        self._obj: dict[str, object] = obj
        self._what = what
        self._read: set[str] = set()

    @classmethod
    def parse(cls, raw: bytes | str, what: str) -> Fields:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise InvalidInputError(f"{what} is not valid JSON: {err}") from None
        return cls(obj, what)

    def has(self, name: str) -> bool:
        return name in self._obj

    def _get(self, name: str, *, required: bool) -> object:
        self._read.add(name)
        if name not in self._obj and required:
            raise InvalidInputError(f"{self._what} lacks the field {name!r}")
        return self._obj.get(name)

    def _wrong(self, name: str, expected: str, value: object) -> InvalidInputError:
        return InvalidInputError(
            f"{self._what}: field {name!r} must be {expected}, not {_json_type(value)}"
        )

    def text(self, name: str) -> str:
        value = self._get(name, required=True)
        if not isinstance(value, str):
            raise self._wrong(name, "a string", value)
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._get(name, required=False)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, "a string or null", value)
        return value

    def integer(self, name: str, default: int | None = None) -> int:
        """An int64 field; required unless a `default` is given."""
        value = self._get(name, required=default is None)
        if value is None and default is not None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(name, "an integer", value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInputError(f"{self._what}: field {name!r} is out of the int64 range")
        return value

    def blob(self, name: str) -> bytes:
        """A base64 field (standard alphabet, padded), decoded."""
        text = self.text(name)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{self._what}: field {name!r} is not valid base64") from None

    def obj(self, name: str) -> Fields:
        return Fields(self._get(name, required=True), f"{self._what}.{name}")

    def optional_obj(self, name: str) -> Fields | None:
        value = self._get(name, required=False)
        return None if value is None else Fields(value, f"{self._what}.{name}")

    def objs(self, name: str) -> list[Fields]:
        value = self._get(name, required=True)
        if not isinstance(value, list):
            raise self._wrong(name, "an array", value)
        return [Fields(item, f"{self._what}.{name}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self._obj) - self._read)
        if unknown:
            raise InvalidInputError(f"{self._what} has unknown fields: {', '.join(unknown)}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- values ----------------------------------------------------------------


def kv_to_json(kv: KeyValue) -> JSON:
    return {
        "key": kv.key,
        "value": b64(kv.value),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
    }


def kv_from_json(f: Fields) -> KeyValue:
    return KeyValue(
        f.text("key"), f.blob("value"), f.integer("create_revision"), f.integer("mod_revision")
    )


def _kv_or_none(kv: KeyValue | None) -> JSON | None:
    return None if kv is None else kv_to_json(kv)


def _optional_kv(f: Fields, name: str) -> KeyValue | None:
    inner = f.optional_obj(name)
    return None if inner is None else kv_from_json(inner)


def event_to_json(event: Event) -> JSON:
    return {
        "kind": event.kind.value,
        "kv": kv_to_json(event.kv),
        "prev": _kv_or_none(event.prev),
    }


def event_from_json(f: Fields) -> Event:
    kind = f.text("kind")
    try:
        event_kind = EventKind(kind)
    except ValueError:
        raise InvalidInputError(f"unknown event kind {kind!r}") from None
    return Event(event_kind, kv_from_json(f.obj("kv")), _optional_kv(f, "prev"))


def batch_to_json(batch: WatchBatch) -> JSON:
    return {"events": [event_to_json(e) for e in batch.events], "revision": batch.revision}


def batch_from_json(f: Fields) -> WatchBatch:
    return WatchBatch(tuple(event_from_json(e) for e in f.objs("events")), f.integer("revision"))


def list_to_json(result: ListResult) -> JSON:
    return {
        "kvs": [kv_to_json(kv) for kv in result.kvs],
        "revision": result.revision,
        "continue_key": result.continue_key,
        "remaining": result.remaining,
    }


def list_from_json(f: Fields) -> ListResult:
    return ListResult(
        tuple(kv_from_json(kv) for kv in f.objs("kvs")),
        f.integer("revision"),
        f.optional_text("continue_key"),
        f.integer("remaining", 0),
    )


# -- errors ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ErrorCodec:
    """How one error class travels: its HTTP status, its fields, its rebuild."""

    status: int
    fields: Callable[[Any], JSON]
    build: Callable[[Fields], StoreError]


def _none(_: object) -> JSON:
    return {}


# One entry per error class in types.py; a class missing here travels as
# its nearest listed base class.
_ERRORS: dict[type[StoreError], _ErrorCodec] = {
    InvalidInputError: _ErrorCodec(400, _none, lambda f: InvalidInputError(f.text("message"))),
    NotFoundError: _ErrorCodec(
        404, lambda e: {"key": e.key}, lambda f: NotFoundError(f.text("key"))
    ),
    AlreadyExistsError: _ErrorCodec(
        409,
        lambda e: {"key": e.key, "current": _kv_or_none(e.current)},
        lambda f: AlreadyExistsError(f.text("key"), _optional_kv(f, "current")),
    ),
    ConflictError: _ErrorCodec(
        409,
        lambda e: {
            "key": e.key,
            "expected": e.expected,
            "current": _kv_or_none(e.current),
        },
        lambda f: ConflictError(f.text("key"), f.integer("expected"), _optional_kv(f, "current")),
    ),
    CompactedError: _ErrorCodec(
        410,
        lambda e: {"requested": e.requested, "compacted": e.compacted},
        lambda f: CompactedError(f.integer("requested"), f.integer("compacted", 0)),
    ),
    FutureRevisionError: _ErrorCodec(
        409,
        lambda e: {"requested": e.requested, "current": e.current},
        lambda f: FutureRevisionError(f.integer("requested"), f.integer("current")),
    ),
    WatchDroppedError: _ErrorCodec(
        410,
        lambda e: {"prefix": e.prefix, "last_revision": e.last_revision},
        lambda f: WatchDroppedError(f.text("prefix"), f.integer("last_revision")),
    ),
    StoreClosedError: _ErrorCodec(503, _none, lambda f: StoreClosedError()),
    StoreUnavailableError: _ErrorCodec(
        503, _none, lambda f: StoreUnavailableError(f.text("message"))
    ),
    StoreError: _ErrorCodec(500, _none, lambda f: StoreError(f.text("message"))),
}
_BY_NAME = {cls.__name__: (cls, codec) for cls, codec in _ERRORS.items()}


def _codec(err: StoreError) -> tuple[type[StoreError], _ErrorCodec]:
    for cls in type(err).__mro__:
        codec = _ERRORS.get(cls)
        if codec is not None:
            return cls, codec
    raise AssertionError("StoreError is always listed")


def error_to_json(err: StoreError) -> JSON:
    cls, codec = _codec(err)
    return {"error": cls.__name__, "message": str(err), **codec.fields(err)}


def error_status(err: StoreError) -> int:
    return _codec(err)[1].status


def error_from_json(f: Fields) -> StoreError:
    """The error a reply carries; an unknown name becomes StoreUnavailableError.

    An unknown name means the server is newer or broken; either way the
    caller cannot know what happened, which is what StoreUnavailableError
    says.
    """
    name = f.text("error")
    found = _BY_NAME.get(name)
    if found is None:
        message = f.optional_text("message") or "no message"
        return StoreUnavailableError(f"remote store failed with {name}: {message}")
    return found[1].build(f)
