"""A CRD's `x-kubernetes-validations`: CEL rules, checked as kube-apiserver checks them.

Each rule belongs to a schema node and runs once per value at that node
with `self` bound to the value (and `oldSelf` to its previous value on an
update, where the old value can be paired with the new: object fields and
map entries by name, `x-kubernetes-list-type: map` items by their keys).
A rule that reads `oldSelf` (a transition rule) runs only when there is an
old value, unless `optionalOldSelf`; any other rule is skipped for a value
an update left as it was (kube-apiserver's ratcheting). A rule that is not
true becomes one cause at the node's path (plus its `fieldPath`), worded
as kube-apiserver words it: `spec: Invalid value: "object": <message>`, the
message being the rule's `message`, its `messageExpression`, or
`failed rule: <rule>`; `reason` picks Forbidden, Required or Duplicate.

CEL itself is cel-python (`celpy`), imported and compiled only when a rule
is first needed (it costs ~130 ms once). Values are typed as Kubernetes
types them (a `number` is a double; strings of format date, date-time,
duration and byte are timestamps, durations and bytes) and the functions
of Kubernetes' CEL libraries that CRDs use most are added (celengine.py).
A rule calling a function we lack is not checked and is logged once:
refusing every write would be worse than not checking it.
Not done: type-checking rules against the schema when the CRD is written
(only their syntax is checked) and cost limits.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kybernetes.apiserver.errors import Cause

__all__ = ["RuleNode", "check_rules", "compile_errors", "rule_tree"]

log = logging.getLogger(__name__)

Schema = dict[str, Any]

_REASONS = {
    "FieldValueForbidden": ("FieldValueForbidden", "Forbidden: {detail}"),
    "FieldValueRequired": ("FieldValueRequired", "Required value: {detail}"),
    "FieldValueDuplicate": ("FieldValueDuplicate", 'Duplicate value: "{type}"'),
}
_INVALID = ("FieldValueInvalid", 'Invalid value: "{type}": {detail}')


@dataclass(frozen=True)
class Rule:
    text: str
    message: str = ""
    message_expression: str = ""
    reason: str = ""
    field_path: str = ""
    optional_old_self: bool = False

    @property
    def transition(self) -> bool:
        return "oldSelf" in self.text

    @property
    def error_string(self) -> str:
        return self.message.strip() or self.text.strip()

    @property
    def default_message(self) -> str:
        return self.message.strip() or f"failed rule: {self.text.strip()}"


@dataclass
class RuleNode:
    """The rules of one schema node and the nodes below it that have rules."""

    schema: Schema
    rules: tuple[Rule, ...] = ()
    properties: dict[str, RuleNode] = field(default_factory=dict)
    items: RuleNode | None = None
    additional: RuleNode | None = None


def _rules(schema: Schema) -> tuple[Rule, ...]:
    out = []
    for entry in schema.get("x-kubernetes-validations") or []:
        if isinstance(entry, dict) and isinstance(entry.get("rule"), str):
            out.append(Rule(
                entry["rule"], str(entry.get("message") or ""),
                str(entry.get("messageExpression") or ""), str(entry.get("reason") or ""),
                str(entry.get("fieldPath") or ""), bool(entry.get("optionalOldSelf")),
            ))  # fmt: skip
    return tuple(out)


def rule_tree(schema: Any) -> RuleNode | None:
    """`schema`'s rules as a tree, None when it has none at all."""
    if not isinstance(schema, dict):
        return None
    node = RuleNode(schema, _rules(schema))
    for name, sub in (schema.get("properties") or {}).items():
        child = rule_tree(sub)
        if child is not None:
            node.properties[str(name)] = child
    node.items = rule_tree(schema.get("items"))
    node.additional = rule_tree(schema.get("additionalProperties"))
    if node.rules or node.properties or node.items or node.additional:
        return node
    return None


def compile_errors(schema: Any, path: str) -> list[Cause]:
    """The rules of a CRD version's schema that do not parse (kube-apiserver
    refuses such a CRD), at `path` (the schema's field path in the CRD)."""
    causes: list[Cause] = []
    for where, rule in _walk(rule_tree(schema), path):
        error = _engine().parse_error(rule.text)
        if error:
            message = f"Invalid value: {_go_rule(rule)}: compilation failed: {error}"
            causes.append(Cause(where, "FieldValueInvalid", message))
    return causes


def _go_rule(rule: Rule) -> str:
    """The rule as kube-apiserver quotes it in this error (Go's %#v of the struct)."""
    reason = (f'(*apiextensions.FieldValueErrorReason)("{rule.reason}")' if rule.reason
              else "(*apiextensions.FieldValueErrorReason)(nil)")  # fmt: skip
    return (f'apiextensions.ValidationRule{{Rule:"{rule.text}", Message:"{rule.message}", '
            f'MessageExpression:"{rule.message_expression}", Reason:{reason}, '
            f'FieldPath:"{rule.field_path}", OptionalOldSelf:(*bool)(nil)}}')  # fmt: skip


def _walk(node: RuleNode | None, path: str) -> Iterator[tuple[str, Rule]]:
    if node is None:
        return
    for i, rule in enumerate(node.rules):
        yield f"{path}.x-kubernetes-validations[{i}].rule", rule
    for name, child in node.properties.items():
        yield from _walk(child, f"{path}.properties[{name}]")
    yield from _walk(node.items, f"{path}.items")
    yield from _walk(node.additional, f"{path}.additionalProperties")


_MISSING = object()


def check_rules(
    node: RuleNode | None, new: Any, old: Any = _MISSING, path: str = ""
) -> list[Cause]:
    """Every rule under `node` that `new` breaks (`old`: the value it replaces,
    when there is one to pair it with)."""
    if node is None or new is None:
        return []
    causes: list[Cause] = []
    if node.rules and not (old is not _MISSING and old == new and not _any_transition(node)):
        causes += _run_rules(node, new, old, path)
    if isinstance(new, dict):
        old_map = old if isinstance(old, dict) else {}
        for name, child in node.properties.items():
            if name in new:
                causes += check_rules(child, new[name], old_map.get(name, _MISSING),
                                      _join(path, name))  # fmt: skip
        if node.additional is not None:
            for key, value in new.items():
                if key not in node.properties:
                    causes += check_rules(node.additional, value, old_map.get(key, _MISSING),
                                          f"{path}[{key}]")  # fmt: skip
    elif isinstance(new, list) and node.items is not None:
        pairs = _paired_items(node.schema, new, old)
        for i, (item, before) in enumerate(pairs):
            causes += check_rules(node.items, item, before, f"{path}[{i}]")
    return causes


def _any_transition(node: RuleNode) -> bool:
    return any(rule.transition for rule in node.rules)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _paired_items(schema: Schema, new: list[Any], old: Any) -> list[tuple[Any, Any]]:
    """Each item with its old self: only a map-list's items have one (by keys)."""
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
        return [(item, _MISSING) for item in new]

    def key(item: Any) -> Any:
        return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None

    before = {key(item): item for item in old}
    return [(item, before.get(key(item), _MISSING)) for item in new]


def _run_rules(node: RuleNode, new: Any, old: Any, path: str) -> list[Cause]:
    engine = _engine()
    causes = []
    for rule in node.rules:
        if rule.transition and old is _MISSING and not rule.optional_old_self:
            continue
        if not rule.transition and old is not _MISSING and old == new:
            continue  # ratcheting: an unchanged value is not checked again
        old_value = None if old is _MISSING else old
        outcome = engine.evaluate(rule.text, node.schema, new, old_value, rule.transition)
        if outcome is True:
            continue
        type_ = _schema_type(node.schema)
        if isinstance(outcome, Unsupported):
            _log_unsupported(rule.text, outcome.reason)
            continue
        if isinstance(outcome, str):  # an evaluation error
            detail = f"{outcome} evaluating rule: {rule.error_string}"
            causes.append(Cause(path, _INVALID[0], _INVALID[1].format(type=type_, detail=detail)))
            continue
        where = _join(path, rule.field_path.lstrip(".")) if rule.field_path else path
        detail = rule.default_message
        if rule.message_expression:
            text = engine.message(rule.message_expression, node.schema, new, old_value)
            detail = text.strip() or detail
        reason, template = _REASONS.get(rule.reason, _INVALID)
        causes.append(Cause(where, reason, template.format(type=type_, detail=detail)))
    return causes


def _schema_type(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return ""
    return str(schema.get("type") or "")


@dataclass(frozen=True)
class Unsupported:
    """A rule we cannot evaluate (it calls a function we lack)."""

    reason: str


@functools.lru_cache(maxsize=256)
def _log_unsupported(rule: str, reason: str) -> None:
    log.warning("x-kubernetes-validations rule %r is not checked here: %s", rule, reason)


@functools.cache
def _engine() -> Any:
    # Imported on first use: cel-python and its grammar cost ~130 ms.
    from kybernetes.apiserver.celengine import Engine

    return Engine()
