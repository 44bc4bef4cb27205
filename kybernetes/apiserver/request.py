"""What a request asks for: verb, resource, namespace, name, subresource, options, body.

A pure parse of method + path against the resource registry (the job
kube-apiserver's RequestInfoFactory does), so routing needs no table of
URL patterns and custom resources route the moment they are registered.
Query parameters and bodies are parsed here too, pure and with Go's rules
(kube-apiserver's parameter codec and decoders): whatever Go would refuse
is a 400 here, never a Python exception that ends as a 500. Bodies are
hostile input: nesting is bounded and YAML aliases are refused before
anything recurses or expands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import yaml
from multidict import MultiMapping

from kybernetes.apiserver import errors, protobuf
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.rest import ListOptions

__all__ = [
    "BODY_TYPES",
    "JSON_TYPE",
    "MAX_DEPTH",
    "PATCH_TYPES",
    "ResourceRequest",
    "check_delete_options",
    "check_depth",
    "check_object_types",
    "decode_body",
    "dry_run",
    "format_duration",
    "int_param",
    "list_options",
    "parse_resource_request",
    "query_flag",
    "request_timeout",
    "resource_version_param",
]

Query = MultiMapping[str]

INT64_MAX = 2**63 - 1
# Go's strconv digits: ASCII only (Python's int() also takes "1_0", " 1" and other scripts).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}  # fmt: skip

_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_ITEM_VERBS = {
    "GET": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
    "POST": "create",
}
# The verbs each subresource has in kube-apiserver; any other is its router's 405.
_SUBRESOURCE_VERBS = {
    "status": ("get", "update", "patch"),
    "scale": ("get", "update", "patch"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "exec": ("get", "create"),
    "attach": ("get", "create"),
    "portforward": ("get", "create"),
}


@dataclass(frozen=True)
class ResourceRequest:
    verb: str
    resource: ResourceType
    namespace: str
    name: str
    subresource: str

    @property
    def is_collection(self) -> bool:
        return not self.name


def _split_group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        return "", "v1", parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_resource_request(
    method: str, path: str, registry: ResourceRegistry, *, watch: bool = False
) -> ResourceRequest | None:
    """The resource request a path names, or None if it names none (discovery etc.)."""
    parts = [p for p in path.split("/") if p]
    split = _split_group_version(parts)
    if split is None:
        return None
    group, version, rest = split
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        scoped = registry.lookup(group, version, rest[2])
        if scoped is not None and scoped.namespaced:
            namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    rt = registry.lookup(group, version, plural)
    # kube-apiserver has no route for any of these, so each is its router's
    # bare 404 or 405, with the same words (see errors.from_http_status).
    if rt is None or len(rest) > 3:
        raise errors.from_http_status(404)
    if rt.namespaced and not namespace and len(rest) > 1:
        raise errors.from_http_status(404)  # an item path needs /namespaces/NAMESPACE
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rt.subresources:
        raise errors.from_http_status(404)
    verbs = _ITEM_VERBS if name else _COLLECTION_VERBS
    verb = verbs.get(method)
    # POST to an item path exists only for subresources (pods/x/eviction, …):
    # it must never create the collection's object under another name.
    if verb is None or (verb == "create" and name and not subresource):
        raise errors.from_http_status(405)
    if verb in ("list", "get") and watch:
        verb = "watch"
    allowed = _SUBRESOURCE_VERBS.get(subresource, ()) if subresource else rt.verbs
    if verb not in allowed:
        raise errors.from_http_status(405)
    return ResourceRequest(verb, rt, namespace, name, subresource)


# -- query parameters ------------------------------------------------------------


def query_flag(query: Query, name: str) -> bool:
    """Go's bool parameter: present and not "false" or "0" is true, even when empty."""
    if name not in query:
        return False
    value = query[name]
    return not (value == "0" or value.lower() == "false")


def int_param(query: Query, name: str) -> int | None:
    """An int64 parameter; None when absent or empty."""
    raw = query.get(name, "")
    if not raw:
        return None
    if not _INTEGER.fullmatch(raw) or not -INT64_MAX - 1 <= int(raw) <= INT64_MAX:
        raise errors.bad_request(f'{name}: invalid value "{raw}": must be a 64-bit integer')
    return int(raw)


def resource_version_param(query: Query, name: str = "resourceVersion") -> str:
    """The resourceVersion, checked to be one the store can take (digits, int64).

    Same words as `storage.parse_resource_version`, which checks it again.
    """
    raw = query.get(name, "")
    if raw and (not raw.isascii() or not raw.isdigit() or int(raw) > INT64_MAX):
        raise errors.bad_request(f'invalid {name}: "{raw}" is not a valid resource version')
    return raw


def list_options(query: Query) -> ListOptions:
    limit = int_param(query, "limit") or 0
    if limit < 0:
        raise errors.bad_request("limit: Invalid value: must be >= 0")
    int_param(query, "timeoutSeconds")  # a watch's; checked for lists too, as Go decodes it
    return ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=limit,
        continue_token=query.get("continue", ""),
        resource_version=resource_version_param(query),
        resource_version_match=query.get("resourceVersionMatch", ""),
    )


def dry_run(query: Query) -> bool:
    values = query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


def request_timeout(query: Query, maximum: float) -> float:
    """Seconds a (non-watch) request may take: `?timeout=` when shorter, else `maximum`.

    kube-apiserver's request-deadline filter: a malformed duration is a 400,
    zero or negative means "no timeout of my own", and nobody gets more than
    the server's maximum.
    """
    raw = query.get("timeout", "")
    if not raw:
        return maximum
    seconds = _parse_duration(raw)
    if seconds is None:
        raise errors.bad_request(
            f'invalid timeout specified in the request URL - time: invalid duration "{raw}"'
        )
    return seconds if 0 < seconds < maximum else maximum


def _parse_duration(text: str) -> float | None:
    """Go's time.ParseDuration ("1m30s", "250ms", "-1.5h", "0"), in seconds."""
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.removeprefix("+"))
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if part is None:
            return None
        total += float(part[1]) * _DURATION_UNITS[part[2]]
        pos = part.end()
    return sign * total if body else None


def format_duration(seconds: float) -> str:
    """A duration as Go prints it: 60 -> "1m0s", 0.5 -> "500ms"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    secs = f"{seconds - hours * 3600 - minutes * 60:g}s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


# -- bodies ------------------------------------------------------------------------

JSON_TYPE = "application/json"
YAML_TYPE = "application/yaml"
# What a create or update body may be, as kube-apiserver lists them in its 415.
BODY_TYPES = (JSON_TYPE, YAML_TYPE, protobuf.CONTENT_TYPE)
# The patch types we apply (no server-side apply yet: apply-patch+yaml is a 415).
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
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
    elif content_type == JSON_TYPE or content_type in PATCH_TYPES:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise errors.bad_request(f"the request body is not valid JSON: {err}") from None
    else:
        raise errors.unsupported_media_type(content_type)
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
