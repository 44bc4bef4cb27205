"""fieldValidation at the HTTP edge: the request-side glue of openapi_fields.py.

Built-in kinds are checked against the OpenAPI schemas (and their unknown
fields dropped here); custom resources against their structural schema
(which their strategy prunes by anyway).

The checks are pure functions of a body and the schemas; what a request
adds is the directive (`fieldValidation`, Warn when absent), the body's
raw JSON bytes (kept by `keep_raw_json` as the body is read, for repeated
keys), and the answer's `Warning` headers, one per finding, added by
`add_warnings` before the response goes out. A request that arrives while
the schemas are still being built waits for them (openapi_source.py):
unknown fields of built-in kinds are never stored.
"""

from __future__ import annotations

import asyncio
import functools
import unicodedata
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kybernetes.apiserver import errors
from kybernetes.apiserver.crd_strategy import CustomResourceStrategy
from kybernetes.apiserver.openapi_fields import (
    check_custom_object,
    check_object,
    duplicates,
    field_validation,
    patch_check,
    patch_verdict,
    structural_unknown,
    yaml_duplicates,
)
from kybernetes.apiserver.openapi_source import builtin_schemas
from kybernetes.apiserver.resources import ResourceType
from kybernetes.apiserver.strategies import strategy_for

__all__ = [
    "WARNINGS",
    "add_warnings",
    "check_apply_duplicates",
    "check_fields",
    "field_checked_patch",
    "keep_raw_json",
]

# A JSON or YAML body as it came, for the duplicate-field check.
RAW_JSON = web.RequestKey("raw_json", bytes)
RAW_YAML = web.RequestKey("raw_yaml", bytes)
RAW_APPLY = web.RequestKey("raw_apply", bytes)  # a server-side apply's body (YAML or JSON)
# The Warning headers a request's answer carries (kube-apiserver: one per finding).
WARNINGS = web.RequestKey("warnings", list)
# Bodies whose bytes are JSON objects, read again for repeated keys.
_JSON_BODY_TYPES = frozenset({"application/json", "application/merge-patch+json",
                              "application/strategic-merge-patch+json"})  # fmt: skip
# Bigger bodies are checked in a worker thread (http.py's INLINE_DECODE_BYTES).
INLINE_CHECK_BYTES = 64 * 1024


def keep_raw_json(request: web.BaseRequest, content_type: str, raw: bytes) -> None:
    if content_type in _JSON_BODY_TYPES:
        request[RAW_JSON] = raw
    elif content_type == "application/yaml":
        request[RAW_YAML] = raw
    elif content_type == "application/apply-patch+yaml":
        request[RAW_APPLY] = raw


def add_warnings(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """The request's warnings on its response, before it is sent (not a signal
    handler: aiohttp's `on_response_prepare` costs every response a coroutine):
    `Warning: 299 - "text"`, quoted as Go quotes it.

    A text with a control character (an unknown field named "\x1f") is not
    sent, as kube-apiserver's warning header refuses it: in a header it
    would end the response instead.
    """
    for text in request.get(WARNINGS) or ():
        if any(unicodedata.category(c) == "Cc" for c in text):
            continue
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')


_OPTIONS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def _directive(request: web.BaseRequest) -> str:
    options = _OPTIONS.get(request.method, "CreateOptions")
    return field_validation(request.query.get("fieldValidation", ""), options)


def _custom_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    """A custom resource's structural schema (of that version); None for anything else."""
    strategy = strategy_for(group, kind, version)
    return strategy.schema if isinstance(strategy, CustomResourceStrategy) else None


def _warn(request: web.BaseRequest, warnings: list[str]) -> None:
    if warnings:
        request.setdefault(WARNINGS, []).extend(warnings)


async def check_fields(request: web.BaseRequest, group: str, version: str, kind: str,
                        body: Any) -> None:  # fmt: skip
    """fieldValidation of a create/update body of a built-in kind (openapi_fields.py):
    unknown fields are dropped from `body`; Strict refuses, Warn warns."""
    mode = _directive(request)
    schemas = await builtin_schemas.get()
    node = schemas.kind_schema(group, version, kind)
    if not isinstance(body, dict):
        return
    raw = request.get(RAW_JSON)
    if node is None:
        custom = _custom_schema(group, kind, version)
        if custom is not None:
            _warn(request, check_custom_object(body, raw, schema=custom, meta=schemas.fields,
                                               mode=mode, kind=kind, version=version))  # fmt: skip
        return
    yaml_raw = request.get(RAW_YAML)
    size = len(raw or yaml_raw or b"")
    check = functools.partial(check_object, body, raw, node=node, table=schemas.fields,
                              mode=mode, kind=kind, version=version, yaml_raw=yaml_raw)  # fmt: skip
    found = await asyncio.to_thread(check) if size > INLINE_CHECK_BYTES else check()
    _warn(request, found)


async def field_checked_patch(
    request: web.BaseRequest,
    rt: ResourceType,
    apply: Callable[[Any], Any],
    patch: Any,
    content_type: str,
) -> Callable[[Any], Any]:
    """`apply`, whose patched object then goes through fieldValidation."""
    mode = _directive(request)
    schemas = await builtin_schemas.get()
    node = schemas.kind_schema(rt.group, rt.version, rt.kind)
    custom = _custom_schema(rt.group, rt.kind, rt.version) if node is None else None
    if node is None and custom is None:
        return apply
    raw = request.get(RAW_JSON)
    repeated: list[str] = []
    if raw is not None and mode != "Ignore":
        # The patch's own repeated keys, found once (not per retry), off the loop when big.
        big = len(raw) > INLINE_CHECK_BYTES
        repeated = await asyncio.to_thread(duplicates, raw) if big else duplicates(raw)
    found: list[str] = []
    strategic = content_type == "application/strategic-merge-patch+json"

    def run(obj: Any) -> Any:
        patched = apply(obj)
        if isinstance(patched, dict) and custom is not None:
            unknown = structural_unknown(patched, custom, schemas.fields)
            found[:] = patch_verdict([*repeated, *(f'unknown field "{p}"' for p in unknown)],
                                     patch, mode=mode, strategic=strategic)  # fmt: skip
        elif isinstance(patched, dict) and node is not None:
            found[:] = patch_check(patched, patch, repeated, node=node, table=schemas.fields,
                                   mode=mode, strategic=strategic)  # fmt: skip
        return patched

    request[WARNINGS] = found
    return run


async def check_apply_duplicates(request: web.BaseRequest) -> None:
    """A server-side apply's repeated keys, as kube-apiserver's apply patcher
    reports them once the apply has merged: Strict refuses (400), Warn warns.
    The body is YAML (JSON is YAML), so they are named by line."""
    raw = request.get(RAW_APPLY)
    mode = _directive(request)
    if raw is None or mode == "Ignore":
        return
    big = len(raw) > INLINE_CHECK_BYTES
    repeated = await asyncio.to_thread(yaml_duplicates, raw) if big else yaml_duplicates(raw)
    if not repeated:
        return
    text = "error converting YAML to JSON: yaml: unmarshal errors:\n  " + "\n  ".join(repeated)
    if mode == "Strict":
        raise errors.bad_request(f"error strict decoding YAML: {text}")
    _warn(request, [text])
