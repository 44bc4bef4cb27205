"""The three Kubernetes patch types as pure functions over JSON values.

`apply_json_patch` (application/json-patch+json, RFC 6902),
`apply_merge_patch` (application/merge-patch+json, RFC 7386) and
`apply_strategic_merge_patch` (application/strategic-merge-patch+json) return
a new document and never change their inputs; `schema_for` gives the
strategic merge schema of a built-in kind.
"""

from kybernetes.api.patch.jsonpatch import PatchError, apply_json_patch
from kybernetes.api.patch.merge_keys import schema_for
from kybernetes.api.patch.mergepatch import apply_merge_patch
from kybernetes.api.patch.strategic import (
    DEFAULT,
    MERGE,
    REPLACE,
    RETAIN_KEYS,
    FieldStrategy,
    PatchSchema,
    apply_strategic_merge_patch,
    merge_by,
)

__all__ = [
    "DEFAULT",
    "MERGE",
    "REPLACE",
    "RETAIN_KEYS",
    "FieldStrategy",
    "PatchError",
    "PatchSchema",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "merge_by",
    "schema_for",
]
