"""Request bodies in `application/vnd.kubernetes.protobuf`, decoded to JSON-shaped dicts.

kubectl 1.32 sends protobuf, with no fallback, for every object it builds
with a typed client (`create deployment|secret|service|…`, `auth can-i`,
`autoscale`, `debug`). The API server only ever works on JSON-shaped
dicts, so a body is decoded once at the edge into exactly the dict the
JSON path would have produced, and nothing behind it knows the difference.
Answers stay JSON, which kubectl accepts.

The body is the magic `k8s\\x00` followed by a `runtime.Unknown` envelope
{1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
4: contentType}; `raw` is the object's own message, decoded with the field
tables in messages.py (their kinds are `KINDS`).
"""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.protobuf.convert import decode_message
from kybernetes.apiserver.protobuf.messages import KINDS
from kybernetes.apiserver.protobuf.wire import LEN, ProtobufError, fields

__all__ = ["CONTENT_TYPE", "KINDS", "ProtobufError", "decode_kubernetes_protobuf"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


def decode_kubernetes_protobuf(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(apiVersion, kind, the object as a dict with apiVersion and kind set)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: it does not start with k8s\\x00")
    envelope = _strings_and_bytes(body[len(MAGIC) :], "the runtime.Unknown envelope")
    type_meta = _strings_and_bytes(envelope.get(1, b""), "the envelope's typeMeta")
    api_version = _text(type_meta.get(1, b""), "apiVersion")
    kind = _text(type_meta.get(2, b""), "kind")
    encoding = _text(envelope.get(3, b""), "contentEncoding")
    if encoding:
        raise ProtobufError(f"unsupported protobuf content encoding {encoding!r}")
    if not api_version or not kind:
        raise ProtobufError("the protobuf envelope has no apiVersion or kind")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufError(
            f"cannot decode {kind} ({api_version}) from protobuf; send it as JSON instead"
        )
    obj = decode_message(message, envelope.get(2, b""))
    return api_version, kind, {"apiVersion": api_version, "kind": kind, **obj}


def _strings_and_bytes(data: bytes, what: str) -> dict[int, bytes]:
    """A message whose fields are all length-delimited; the last occurrence wins."""
    out: dict[int, bytes] = {}
    for number, wire_type, value in fields(data):
        if wire_type != LEN or not isinstance(value, bytes):
            raise ProtobufError(f"{what}: field {number} is not length-delimited")
        out[number] = value
    return out


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"the envelope's {what} is not valid UTF-8") from None
