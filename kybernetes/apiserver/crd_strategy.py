"""Strategies of CustomResourceDefinitions and of the custom resources they define."""

from __future__ import annotations

import copy
import functools
from typing import Any

from kybernetes.api.patch import PatchSchema, schema_for
from kybernetes.api.patch.strategic import FieldStrategy
from kybernetes.apiserver import schema
from kybernetes.apiserver.celrules import RuleNode, check_rules, compile_errors, rule_tree
from kybernetes.apiserver.errors import Cause
from kybernetes.apiserver.objects import Obj, now_rfc3339
from kybernetes.apiserver.strategy import Strategy

__all__ = ["CrdStrategy", "CustomResourceStrategy", "list_strategies"]


class CustomResourceStrategy(Strategy):
    """Prune and validate by the version's structural schema."""

    def __init__(self, openapi_schema: dict[str, Any] | None, has_status: bool) -> None:
        self._schema = openapi_schema or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        self._has_status = has_status

    @property
    def schema(self) -> dict[str, Any]:
        """The version's structural schema (fieldValidation names what it prunes)."""
        return self._schema

    @functools.cached_property
    def list_strategies(self) -> dict[tuple[str, ...], FieldStrategy]:
        """How server-side apply merges this version's lists (`list_strategies`)."""
        return list_strategies(self._schema)

    @functools.cached_property
    def patch_schema(self) -> PatchSchema:
        """The lists of ObjectMeta and this version's, as managedFields see them
        (made once per version: every write of a custom object reads it)."""
        meta = schema_for("", "", "").fields  # no built-in kind: ObjectMeta's lists alone
        return PatchSchema({**meta, **self.list_strategies})

    def prepare_for_create(self, obj: Obj) -> None:
        if self._has_status:
            obj.pop("status", None)

    @functools.cached_property
    def _defaults(self) -> bool:
        return schema.has_defaults(self._schema)

    def default(self, obj: Obj) -> None:
        pruned = schema.prune(obj, self._schema, root=True)
        if pruned is not obj:  # a schema that keeps unknown fields returns the object itself
            obj.clear()
            obj.update(pruned)
        if self._defaults:
            schema.apply_defaults(obj, self._schema, root=True)

    @functools.cached_property
    def _rules(self) -> RuleNode | None:
        return rule_tree(self._schema)

    def validate(self, obj: Obj) -> list[Cause]:
        return self._validate_schema(obj) + check_rules(self._rules, obj)

    def validate_update(self, new: Obj, old: Obj) -> list[Cause]:
        return self._validate_schema(new) + check_rules(self._rules, new, old)

    def _validate_schema(self, obj: Obj) -> list[Cause]:
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        properties = dict(self._schema.get("properties") or {})
        for name in ("apiVersion", "kind", "metadata"):
            properties.pop(name, None)
        required = [
            r
            for r in self._schema.get("required") or []
            if r not in ("apiVersion", "kind", "metadata")
        ]
        root = {**self._schema, "properties": properties, "required": required}
        return schema.validate(body, root)


class CrdStrategy(Strategy):
    """The CRD object itself: names and versions checked, status filled in."""

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        names = spec.get("names") or {}
        if isinstance(names, dict) and names.get("kind"):
            names.setdefault("singular", str(names["kind"]).lower())
            names.setdefault("listKind", f"{names['kind']}List")
        conversion = spec.setdefault("conversion", {"strategy": "None"})
        if isinstance(conversion, dict):
            conversion.setdefault("strategy", "None")
        now = now_rfc3339()
        obj["status"] = {
            "acceptedNames": copy.deepcopy(names),
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
        }

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "FieldValueRequired", "Required value")]
        causes = []
        names = spec.get("names") or {}
        for field in ("group",):
            if not spec.get(field):
                causes.append(Cause(f"spec.{field}", "FieldValueRequired", "Required value"))
        for field in ("plural", "kind"):
            if not names.get(field):
                causes.append(Cause(f"spec.names.{field}", "FieldValueRequired", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                Cause(
                    "spec.scope",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{spec.get("scope")}": supported values: '
                    '"Cluster", "Namespaced"',
                )
            )
        versions = spec.get("versions") or []
        if not versions:
            causes.append(Cause("spec.versions", "FieldValueRequired", "Required value"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                Cause(
                    "spec.versions",
                    "FieldValueInvalid",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        for i, version in enumerate(versions):
            found = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
            causes += compile_errors(found, f"spec.versions[{i}].schema.openAPIV3Schema")
        name = (obj.get("metadata") or {}).get("name")
        if (
            names.get("plural")
            and spec.get("group")
            and name != f"{names['plural']}.{spec['group']}"
        ):
            causes.append(
                Cause(
                    "metadata.name",
                    "FieldValueInvalid",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
        return causes


def _key_defaults(node: dict[str, Any], keys: list[str]) -> tuple[tuple[str, Any], ...]:
    items = node.get("items")
    props = (items.get("properties") or {}) if isinstance(items, dict) else {}
    return tuple((k, (props.get(k) or {}).get("default")) for k in keys)


def list_strategies(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], FieldStrategy]:
    """How server-side apply merges each list of a custom resource, by path of
    field names, from its structural schema: `x-kubernetes-list-type: map`
    item by item on its keys (a key an item lacks takes the item schema's
    default), `set` as a set, anything else as one value (atomic)."""
    out: dict[tuple[str, ...], FieldStrategy] = {}
    if not isinstance(node, dict):
        return out
    if node.get("type") == "array":
        keys = [str(k) for k in node.get("x-kubernetes-list-map-keys") or []]
        if node.get("x-kubernetes-list-type") == "map" and keys:
            out[path] = FieldStrategy("merge", keys[0], apply_keys=_key_defaults(node, keys))
        elif node.get("x-kubernetes-list-type") == "set":
            out[path] = FieldStrategy("merge")
        out |= list_strategies(node.get("items"), path)  # list positions are not in paths
    for name, sub in (node.get("properties") or {}).items():
        out |= list_strategies(sub, (*path, str(name)))
    return out
