"""Request bodies: decoded and checked as hostile input, with Go's rules.

JSON, YAML (libyaml, no aliases, dates kept as strings, keys made strings
as sigs.k8s.io/yaml does) and Kubernetes protobuf. Nesting is bounded and
aliases are refused before anything recurses or expands; whatever Go's
decoders would refuse is a 400 here, never a Python exception that ends as
a 500.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
import yaml

from kybernetes.apiserver import errors, protobuf

__all__ = [
    "APPLY_PATCH_TYPE",
    "BODY_TYPES",
    "JSON_TYPE",
    "MAX_DEPTH",
    "PATCH_TYPES",
    "check_delete_options",
    "check_depth",
    "check_object_types",
    "checked_patch",
    "decode_body",
    "media_type",
]

# -- bodies ------------------------------------------------------------------------

# "type/subtype" as RFC 9110 spells a media type's two tokens (lowercased here).
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+/[a-z0-9!#$%&'*+.^_`|~-]+")


@functools.lru_cache(maxsize=256)
def media_type(content_type: str) -> str | None:
    """The media type a Content-Type value names, lowercased, without its
    parameters; None when it names none plainly (empty, no subtype, a list):
    for those, aiohttp's own parser gives its answer. That parser reads the
    header as an email message would, ~6 us a request; a client sends a
    handful of distinct values, each read once here."""
    found = content_type.partition(";")[0].strip().lower()
    return found if _MEDIA_TYPE.fullmatch(found) else None


JSON_TYPE = "application/json"
YAML_TYPE = "application/yaml"
# What a create or update body may be, as kube-apiserver lists them in its 415.
BODY_TYPES = (JSON_TYPE, YAML_TYPE, protobuf.CONTENT_TYPE)
# Server-side apply's config: YAML, though kubectl sends JSON (YAML's subset).
APPLY_PATCH_TYPE = "application/apply-patch+yaml"
# The patch types we apply.
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    APPLY_PATCH_TYPE,
)
# Deeper bodies are a 400. orjson encodes at most 255 levels, and a list, a
# watch event or a table wraps an object in a few more; copy.deepcopy and
# the patch code recurse once or twice per level within Python's 1000 frames.
MAX_DEPTH = 128
_INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson can encode


def decode_body(raw: bytes, content_type: str) -> Any:
    """The JSON value of a JSON, YAML or protobuf body; anything malformed is a 400.

    `content_type` must be one of BODY_TYPES or PATCH_TYPES (the caller
    answers 415 for the others). CPU-bound: run big bodies in a thread.
    """
    if content_type == protobuf.CONTENT_TYPE:
        try:
            value: Any = protobuf.decode_kubernetes_protobuf(raw)[2]
        except protobuf.ProtobufError as err:
            raise errors.bad_request(f"the request body is not valid protobuf: {err}") from None
    elif not raw.strip():
        return None
    elif content_type == YAML_TYPE:
        return _decode_yaml(raw)
    elif content_type == APPLY_PATCH_TYPE:
        try:
            value = orjson.loads(raw)  # what kubectl sends, and far faster than YAML
        except orjson.JSONDecodeError:
            return _decode_yaml(raw)
    elif content_type == JSON_TYPE or content_type in PATCH_TYPES:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise errors.bad_request(f"the request body is not valid JSON: {err}") from None
    else:
        raise errors.unsupported_media_type(content_type)
    # JSON nests no deeper than it has brackets: most bodies need no walk at all.
    if content_type == protobuf.CONTENT_TYPE or raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH:
        check_depth(value)
    return value


def _too_deep() -> errors.ApiError:
    return errors.bad_request(f"the request body is nested more than {MAX_DEPTH} levels deep")


def check_depth(value: Any) -> None:
    """Refuse a value nested deeper than MAX_DEPTH (orjson parses up to 1024 levels).

    Iterative: a recursive walk would itself hit Python's recursion limit.
    """
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth == MAX_DEPTH:
                    raise _too_deep()
                stack.append((child, depth + 1))


_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml's parser when installed: 4x faster) whose plain
    timestamps stay strings, as sigs.k8s.io/yaml leaves them."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _decode_yaml(raw: bytes) -> Any:
    try:
        # First the events alone (cheap, in C): PyYAML expands no alias while
        # composing, but each one shares its node, so a "billion laughs" document
        # is a small graph that turns into gigabytes when encoded as JSON; and
        # composing recurses once per level.
        depth = 0
        for event in yaml.parse(raw, Loader=_YamlLoader):
            if isinstance(event, yaml.AliasEvent):
                raise errors.bad_request("the request body is not valid YAML: aliases are not "
                                         "allowed")  # fmt: skip
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep()
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        value = yaml.load(raw, Loader=_YamlLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise errors.bad_request(f"the request body is not valid YAML: {err}") from None
    return _yaml_to_json(value)


def _yaml_to_json(value: Any) -> Any:
    """YAML's values as the JSON ones sigs.k8s.io/yaml makes of them.

    Keys become strings (1 -> "1", true -> "true"); integers too big for
    64 bits become floats; what JSON cannot say (binary, sets, timestamps
    tagged explicitly, NaN and infinities, lone surrogates) is a 400.
    Recursive: the events pass above bounded the depth.
    """
    if isinstance(value, dict):
        return {_yaml_key(key): _yaml_to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_yaml_to_json(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, int):
        if _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            return value
        value = float(value)  # may be inf: refused just below
    if isinstance(value, float):
        if not math.isfinite(value):
            raise errors.bad_request(f"the request body is not valid JSON: {value} is not a number")
        return value
    raise errors.bad_request(
        f"the request body has a YAML value JSON cannot hold: {type(value).__name__}"
    )


def _yaml_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str):
        return _utf8(key)
    if isinstance(key, int | float) and math.isfinite(key):
        return repr(key)
    raise errors.bad_request(f"the request body has an unsupported map key: {key!r:.64}")


def _utf8(text: str) -> str:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise errors.bad_request("the request body has a string that is not valid UTF-8 "
                                     "(a lone surrogate)") from None  # fmt: skip
    return text


# ObjectMeta's fields: the JSON type Go's decoder demands and the Go type its error names.
_META_FIELDS: dict[str, tuple[type, str]] = {
    **dict.fromkeys(
        ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
         "creationTimestamp", "deletionTimestamp"),
        (str, "string"),
    ),
    "generation": (int, "int64"),
    "deletionGracePeriodSeconds": (int, "int64"),
    "labels": (dict, "map[string]string"),
    "annotations": (dict, "map[string]string"),
    "finalizers": (list, "[]string"),
    "ownerReferences": (list, "[]v1.OwnerReference"),
    "managedFields": (list, "[]v1.ManagedFieldsEntry"),
}  # fmt: skip
_DELETE_OPTIONS: dict[str, tuple[type, str]] = {
    "gracePeriodSeconds": (int, "int64"),
    "propagationPolicy": (str, "string"),
    "preconditions": (dict, "v1.Preconditions"),
    "dryRun": (list, "[]string"),
    "orphanDependents": (bool, "bool"),
}
# The type of each item of the map and list fields above.
_META_ITEMS: dict[str, tuple[type, str]] = {
    "labels": (str, "string"),
    "annotations": (str, "string"),
    "finalizers": (str, "string"),
    "ownerReferences": (dict, "v1.OwnerReference"),
    "managedFields": (dict, "v1.ManagedFieldsEntry"),
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is(value: Any, expected: type) -> bool:
    # null decodes to Go's zero value; bool is an int in Python but not in JSON.
    if value is None:
        return True
    return isinstance(value, expected) and not (expected is int and isinstance(value, bool))


def check_object_types(obj: Any, *, kind: str, version: str) -> None:
    """The type errors Go's decoder finds in TypeMeta and ObjectMeta, as its 400.

    Our objects stay JSON, so nothing else would stop `"labels": "x"` from
    being stored, or `"name": 5` from reaching code that expects a string.
    """

    def refuse(value: Any, struct: str, field: str, go_type: str) -> errors.ApiError:
        return errors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
            f"unmarshal {_json_type(value)} into Go struct field {struct}.{field} of type {go_type}"
        )

    if not isinstance(obj, dict):
        return  # the REST code answers "the body must be a <kind> object"
    for field in ("apiVersion", "kind"):
        if not _is(obj.get(field), str):
            raise refuse(obj[field], kind, field, "string")
    meta = obj.get("metadata")
    if not _is(meta, dict):
        raise refuse(meta, kind, "metadata", "v1.ObjectMeta")
    for field, value in (meta or {}).items():
        expected, go_type = _META_FIELDS.get(field, (object, ""))
        if not _is(value, expected):
            raise refuse(value, "ObjectMeta", f"metadata.{field}", go_type)
        if field in _META_ITEMS and value:
            item_type, item_go_type = _META_ITEMS[field]
            for item in value.values() if isinstance(value, dict) else value:
                if not isinstance(item, item_type):
                    raise refuse(item, "ObjectMeta", f"metadata.{field}", item_go_type)


def check_delete_options(body: dict[str, Any]) -> None:
    """DeleteOptions fields of the wrong type are a 400, as Go's decoder makes them."""

    def refuse(value: Any, field: str, go_type: str) -> errors.ApiError:
        return errors.bad_request(
            f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            f"DeleteOptions.{field} of type {go_type}"
        )

    for field, (expected, go_type) in _DELETE_OPTIONS.items():
        if not _is(body.get(field), expected):
            raise refuse(body[field], field, go_type)
    preconditions = body.get("preconditions") or {}
    for field in ("uid", "resourceVersion"):
        if not _is(preconditions.get(field), str):
            raise refuse(preconditions[field], f"preconditions.{field}", "string")
    for item in body.get("dryRun") or ():
        if not isinstance(item, str):
            raise refuse(item, "dryRun", "string")


def checked_patch(
    apply: Callable[[Any], Any], *, kind: str, version: str, name: str, group: str
) -> Callable[[Any], Any]:
    """`apply`, whose result is checked as a body is: kube-apiserver decodes a
    patched object again and calls a failure Invalid (422) on field `patch`."""

    def run(obj: Any) -> Any:
        patched = apply(obj)
        try:
            check_depth(patched)
            check_object_types(patched, kind=kind, version=version)
        except errors.ApiError as err:
            cause = errors.Cause("patch", "FieldValueInvalid", f"Invalid value: {err.message}")
            raise errors.invalid(kind, name, [cause], group) from None
        return patched

    return run
