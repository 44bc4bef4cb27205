"""Object metadata rules every kind shares, as pure functions.

What the generic REST store does before every create and update, in
kube-apiserver's order (rest.BeforeCreate / BeforeUpdate): check the
object's type and namespace against the request, fill in the
server-owned metadata (uid, creationTimestamp, generation), keep what a
client may not change, and bump `generation` only when the spec changed.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from kybernetes.api.times import format_time, now_rfc3339
from kybernetes.apiserver import errors
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.resources import ResourceType

__all__ = [
    "Obj",
    "check_type",
    "dns1035_label_causes",
    "dns1123_label_causes",
    "dns1123_subdomain_causes",
    "format_time",
    "generate_name",
    "json_copy",
    "now_rfc3339",
    "prepare_for_create",
    "prepare_for_status_update",
    "prepare_for_update",
    "spec_changed",
    "validate_object_name",
]

Obj = dict[str, Any]

_T = TypeVar("_T")
_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: _T) -> _T:
    """A deep copy of a decoded JSON (or YAML) value: dicts and lists are
    copied, everything else is shared, being immutable (strings, numbers,
    and the dates a YAML body may hold).

    A third of the time of copy.deepcopy, which is generic (a memo for
    shared and cyclic references, a dispatch per value) where API objects
    are trees of a few types; it was the largest cost of a create.
    """
    return cast(_T, _copy(value))


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# Kinds whose names must be DNS-1123 labels (63 characters, no dots).
_LABEL_NAMED = frozenset({"Namespace"})
# Kinds whose names must be DNS-1035 labels (a label starting with a letter):
# a Service's name is a DNS name and an environment variable's prefix.
_DNS1035_NAMED = frozenset({"Service"})
# Kinds whose names are path segments, checked only for "/" and "%" and "."/"..".
_PATH_NAMED = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "Event"})
# Kubernetes' random suffix alphabet: no vowels, no look-alike digits.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def _pattern_causes(value: object, field: str, pattern: re.Pattern[str], limit: int,
                    rule: str) -> list[Cause]:  # fmt: skip
    """`value` as one of kube's DNS-name validators checks it: text of at most
    `limit` characters matching `pattern`, else the cause in kube's words (`rule`)."""
    if isinstance(value, str) and len(value) <= limit and pattern.match(value):
        return []
    return [Cause(field, "FieldValueInvalid", f'Invalid value: "{value}": {rule}')]


def dns1123_label_causes(value: object, field: str) -> list[Cause]:
    return _pattern_causes(value, field, _DNS1123_LABEL, 63, (
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
        "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))  # fmt: skip


def dns1035_label_causes(value: object, field: str) -> list[Cause]:
    return _pattern_causes(value, field, _DNS1035_LABEL, 63, (
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ))  # fmt: skip


def dns1123_subdomain_causes(value: object, field: str) -> list[Cause]:
    return _pattern_causes(value, field, _DNS1123_SUBDOMAIN, 253, (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))  # fmt: skip


def validate_object_name(kind: str, name: str, field: str = "metadata.name") -> list[Cause]:
    if kind in _PATH_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return [
                Cause(
                    field,
                    "FieldValueInvalid",
                    f"Invalid value: \"{name}\": may not contain '/' or '%'",
                )
            ]
        return []
    if kind in _LABEL_NAMED:
        return dns1123_label_causes(name, field)
    if kind in _DNS1035_NAMED:
        return dns1035_label_causes(name, field)
    return dns1123_subdomain_causes(name, field)


def check_type(obj: Obj, rt: ResourceType) -> None:
    """A body's apiVersion and kind, when it gives them, are the resource's (else 400)."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if api_version not in (None, "") and api_version != rt.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({rt.api_version})"
        )
    if kind not in (None, "") and kind != rt.kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )


def _metadata(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    return meta


def _check_namespace(meta: Obj, rt: ResourceType, namespace: str) -> None:
    if not rt.namespaced:
        meta.pop("namespace", None)
        return
    given = meta.get("namespace") or ""
    if given and given != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace


def _typed_copy(
    body: object, rt: ResourceType, namespace: str, *, copy: bool = True
) -> tuple[Obj, Obj]:
    """A copy of the body (the body itself if not `copy`) with its type and
    namespace checked and set, and its metadata."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body must be a {rt.kind} object")
    obj = json_copy(body) if copy else body
    check_type(obj, rt)
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    meta = _metadata(obj)
    _check_namespace(meta, rt, namespace)
    return obj, meta


def prepare_for_create(
    obj: Obj,
    rt: ResourceType,
    namespace: str,
    *,
    now: Callable[[], str] = now_rfc3339,
    copy: bool = True,
) -> Obj:
    """A copy of `obj` ready to store as a new object (no resourceVersion yet);
    `obj` itself, changed in place, when the caller gives it up (`copy` False)."""
    obj, meta = _typed_copy(obj, rt, namespace, copy=copy)
    name = meta.get("name") or ""
    if not name:
        prefix = meta.get("generateName") or ""
        if not prefix:
            raise errors.invalid(rt.kind, "", [Cause(
                "metadata.name", "FieldValueRequired",
                "Required value: name or generateName is required")], rt.group)  # fmt: skip
        name = meta["name"] = generate_name(prefix)
    causes = validate_object_name(rt.kind, name)
    if causes:
        raise errors.invalid(rt.kind, name, causes, rt.group)
    for key in (*_SERVER_OWNED, "resourceVersion", "selfLink"):
        meta.pop(key, None)
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now()
    meta["generation"] = 1
    return obj


_random = threading.local()  # per thread: a shared pool could hand two threads one uid
_POOL_BYTES = 4096
# A forked child must not hand out the uids its parent will.
os.register_at_fork(after_in_child=lambda: _random.__dict__.clear())


def new_uid() -> str:
    """A random (version 4) UUID as text: what `str(uuid.uuid4())` gives, in a
    third of its time (the UUID object's arithmetic is pure Python), its bytes
    taken from a pool read from the kernel 256 uids at a time."""
    pool: bytes = getattr(_random, "pool", b"")
    if not pool:
        pool = os.urandom(_POOL_BYTES)
    raw, _random.pool = bytearray(pool[:16]), pool[16:]
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# ObjectMeta's fields that Go leaves out when empty (`omitempty` on a map, list or string).
_OMITTED_WHEN_EMPTY = ("labels", "annotations", "ownerReferences", "finalizers",
                       "managedFields", "generateName")  # fmt: skip


def drop_empty_metadata(meta: Obj) -> None:
    """Remove the empty labels, annotations and lists kube-apiserver does not store:
    `annotations: {}` sent by a client (kubectl's client-side apply patch sends one)
    is no annotations at all there, so `kubectl diff` shows no change. Done as the
    object is stored, after the managed fields were taken from what was sent."""
    for key in _OMITTED_WHEN_EMPTY:
        if key in meta and not meta[key]:
            del meta[key]


def spec_changed(new: Obj, old: Obj) -> bool:
    """True when anything but metadata and status differs (what bumps generation)."""
    skip = ("metadata", "status", "apiVersion", "kind")
    keys = (set(new) | set(old)) - set(skip)
    return any(new.get(k) != old.get(k) for k in keys)


def prepare_for_update(
    new: Obj, old: Obj, rt: ResourceType, namespace: str, name: str, *, copy: bool = True
) -> Obj:
    """A copy of `new` (`new` itself if not `copy`) that keeps `old`'s server-owned
    metadata (and its status when the kind has a status subresource)."""
    new, meta = _typed_copy(new, rt, namespace, copy=copy)
    given = meta.get("name") or name
    if given != name:
        raise errors.bad_request(
            f"the name of the object ({given}) does not match the name on the URL ({name})"
        )
    meta["name"] = name
    old_meta = old.get("metadata", {})
    for key in _SERVER_OWNED:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "status" in rt.subresources:
        if "status" in old:
            new["status"] = json_copy(old["status"])
        else:
            new.pop("status", None)
    generation = int(old_meta.get("generation") or 1)
    meta["generation"] = generation + 1 if spec_changed(new, old) else generation
    return new


def prepare_for_status_update(
    new: Obj,
    old: Obj,
    rt: ResourceType,
    *,
    metadata: bool = False,
    namespace: str = "",
    name: str = "",
) -> Obj:
    """`old` with `new`'s status: a status write changes nothing else, unless
    `metadata`, when it also takes `new`'s metadata as an update of the main
    resource would (the kind's status strategy resets only the spec)."""
    if not isinstance(new, dict):
        raise errors.bad_request(f"the body must be a {rt.kind} object")
    check_type(new, rt)
    result = json_copy(old)
    if metadata:
        meta = prepare_for_update(new, old, rt, namespace, name)["metadata"]
        meta["generation"] = old["metadata"].get("generation", 1)  # the spec is old's
        result["metadata"] = meta
    if "status" in new:
        result["status"] = json_copy(new["status"])
    else:
        result.pop("status", None)
    return result
