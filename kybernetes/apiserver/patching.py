"""PATCH bodies by content type: which patch function turns the current
object into the new one (the three types kubectl sends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.api import patch as patches
from kybernetes.apiserver import errors
from kybernetes.apiserver.objects import Obj

__all__ = ["patcher"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MAX_JSON_PATCH_OPERATIONS = 10_000


def patcher(
    content_type: str, patch: Any, group: str, version: str, kind: str
) -> Callable[[Obj], Obj]:
    """The function that applies `patch` to an object; 415 for other types.

    The function raises Status errors (400, 422) when the patch does not apply.
    """
    apply = _patcher(content_type, patch, group, version, kind)

    def run(obj: Obj) -> Obj:
        try:
            return apply(obj)
        except patches.PatchError as err:
            reason = {400: "BadRequest", 422: "Invalid"}.get(err.code, "InternalError")
            raise errors.ApiError(err.code, reason, str(err)) from err

    return run


def _patcher(
    content_type: str, patch: Any, group: str, version: str, kind: str
) -> Callable[[Obj], Obj]:
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request("a JSON patch must be a list of operations")
        if len(patch) > MAX_JSON_PATCH_OPERATIONS:
            raise errors.too_large(
                f"The allowed maximum operations in a JSON patch is "
                f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}"
            )
        return lambda obj: _object(patches.apply_json_patch(obj, patch))
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        return lambda obj: _object(patches.apply_merge_patch(obj, patch))
    if content_type == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise errors.bad_request("a strategic merge patch must be an object")
        schema = patches.schema_for(group, version, kind)
        return lambda obj: _object(patches.apply_strategic_merge_patch(obj, patch, schema=schema))
    raise errors.unsupported_media_type(content_type)


def _object(result: Any) -> Obj:
    if not isinstance(result, dict):
        raise patches.PatchError("the patch did not produce an object")
    return result
