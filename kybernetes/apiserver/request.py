"""What a request asks for: verb, resource, namespace, name, subresource, options.

A pure parse of method + path against the resource registry (the job
kube-apiserver's RequestInfoFactory does), so routing needs no table of
URL patterns and custom resources route the moment they are registered.
Query parameters are parsed here too, pure and with Go's rules
(kube-apiserver's parameter codec): whatever Go would refuse is a 400 here,
never a Python exception that ends as a 500. Bodies: `bodies.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multidict import MultiMapping

from kybernetes.apiserver import errors
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType
from kybernetes.apiserver.rest import ListOptions

__all__ = [
    "ResourceRequest",
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
    "ephemeralcontainers": ("get", "update", "patch"),
    "scale": ("get", "update", "patch"),
    "finalize": ("update",),
    "approval": ("get", "update", "patch"),
    "binding": ("create",),
    "eviction": ("create",),
    "token": ("create",),
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
