"""JSON Merge Patch (RFC 7386) as the Kubernetes API server applies it.

null deletes a member, objects merge recursively, anything else replaces.

Decision: match the library behind the API server (evanphx/json-patch v4)
where it refines the RFC. A value that lands where there was no object (a new
member, or one replacing a scalar or a list) loses its null members at every
depth, inside lists too, since null cannot mean "delete" there; a list that
replaces an object member is taken as it is. Null list items always stay.

Kubernetes answers 400 to a patch that is a scalar or null; this function
follows the RFC (the result is the patch) and leaves that check to the HTTP
layer.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.patch.jsonpatch import clone

__all__ = ["apply_merge_patch"]


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """Return `doc` with the merge patch `patch` applied; neither is changed."""
    if isinstance(patch, dict) and isinstance(doc, dict):
        return _merge_object(clone(doc), patch)
    return _without_nulls(patch)


def _merge_object(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `target`, which this call owns and changes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif not isinstance(target.get(key), dict):
            # Nothing to merge into (missing, null, a scalar or a list).
            target[key] = _without_nulls(value)
        elif isinstance(value, dict):
            target[key] = _merge_object(target[key], value)
        else:
            target[key] = clone(value)
    return target


def _without_nulls(value: Any) -> Any:
    """A copy of `value` without null object members, at any depth."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
