"""Structural schemas of custom resources: prune unknown fields, default, validate.

What apiextensions-apiserver does with a CRD version's `openAPIV3Schema`:
fields the schema does not declare are dropped (unless a subtree says
`x-kubernetes-preserve-unknown-fields`), and so are nulls in fields it
declares without `nullable: true` and without a `default` (its
PruneNonNullableNullsWithoutDefaults); absent fields whose schema has a
`default` get a copy of it, then the object is checked against
types, required fields, enums, bounds and patterns. Every failure becomes a
`Cause` naming the field as Kubernetes does (`spec.replicas`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kybernetes.apiserver.errors import Cause

__all__ = ["apply_defaults", "has_defaults", "prune", "validate"]

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def prune(value: Any, schema: Schema, *, root: bool = False) -> Any:
    """`value` without the fields `schema` does not declare (a new value)."""
    # An embedded resource is a whole object: its apiVersion, kind and metadata
    # are kept as the root's are (apiextensions-apiserver's pruning).
    whole = root or (isinstance(schema, dict) and schema.get("x-kubernetes-embedded-resource"))
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        if isinstance(value, dict) and isinstance(schema, dict) and schema.get("properties"):
            kept = {}
            for key, item in value.items():
                declared = schema["properties"].get(key)
                if declared is None or (whole and key in _ROOT_FIELDS):
                    kept[key] = item  # unknown, and kept
                elif not _null_pruned(item, declared):
                    kept[key] = prune(item, declared)
            return kept
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            if whole and key in _ROOT_FIELDS:
                out[key] = item
            elif properties and key in properties:
                if not _null_pruned(item, properties[key]):
                    out[key] = prune(item, properties[key])
            elif isinstance(additional, dict):
                if not _null_pruned(item, additional):
                    out[key] = prune(item, additional)
            elif additional is True:
                out[key] = item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"]) for item in value]
    return value


def apply_defaults(value: Any, schema: Schema, *, root: bool = False) -> None:
    """Give each absent field (or null one that may not be null) a copy of its
    schema's `default`, in place, top-down, so a default's own fields are
    defaulted too; as apiextensions-apiserver's structural defaulting. The
    root's apiVersion, kind and metadata are never defaulted."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if (root and key in _ROOT_FIELDS) or not isinstance(sub, dict) or "default" not in sub:
                continue
            if key not in value or (value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key in _ROOT_FIELDS:
                continue
            sub = properties.get(key, additional)
            if isinstance(sub, dict):
                apply_defaults(item, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])


def has_defaults(schema: Any) -> bool:
    """Whether any field of the schema has a `default` (most have none: skip the walk)."""
    if isinstance(schema, dict):
        return "default" in schema or any(has_defaults(v) for v in schema.values())
    if isinstance(schema, list):
        return any(has_defaults(v) for v in schema)
    return False


def _null_pruned(value: Any, schema: Any) -> bool:
    """A null in a field the schema declares without `nullable: true` is dropped
    (one with a `default` gets it back from `apply_defaults`, which runs after)."""
    return value is None and isinstance(schema, dict) and not schema.get("nullable")


def _type_ok(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    kind = schema.get("type")
    if not kind:
        return True
    allowed = _TYPES.get(kind, (object,))
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, allowed)


def validate(value: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Every way `value` breaks `schema`, with the field path of each."""
    if not isinstance(schema, dict):
        return []
    if value is None:
        if schema.get("nullable"):
            return []
        return [Cause(path, "FieldValueRequired", "Required value")] if schema.get("type") else []
    if not _type_ok(value, schema):
        kind = "string or integer" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        return [
            Cause(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "{_short(value)}": {path or "body"} in body must be of '
                f'type {kind}: "{_json_type(value)}"',
            )
        ]
    causes: list[Cause] = []
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        options = ", ".join(f'"{e}"' for e in enum)
        causes.append(
            Cause(
                path,
                "FieldValueNotSupported",
                f'Unsupported value: "{_short(value)}": supported values: {options}',
            )
        )
    causes += _bounds(value, schema, path)
    if isinstance(value, dict):
        causes += _object(value, schema, path)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            causes += validate(item, schema["items"], f"{path}[{i}]")
    return causes


def _object(value: dict[str, Any], schema: Schema, path: str) -> list[Cause]:
    causes = []
    for name in schema.get("required") or []:
        if name not in value:
            causes.append(Cause(_join(path, name), "FieldValueRequired", "Required value"))
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            causes += validate(item, properties[key], _join(path, key))
        elif isinstance(additional, dict):
            causes += validate(item, additional, f"{path}[{key}]")
    return causes


def _bounds(value: Any, schema: Schema, path: str) -> list[Cause]:
    causes = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {path} in "
                    f"body should be greater than or equal to {schema['minimum']}",
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {path} in "
                    f"body should be less than or equal to {schema['maximum']}",
                )
            )
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f'Invalid value: "{_short(value)}": '
                    f"{path} in body should be at least {schema['minLength']} chars "
                    "long",
                )
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueTooLong",
                    f"Too long: may not be longer than {schema['maxLength']}",
                )
            )
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: \"{_short(value)}\": {path} in body should match '{pattern}'",
                )
            )
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {path} "
                    f"in body should have at least {schema['minItems']} items",
                )
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                Cause(
                    path,
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
    return causes


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
