"""Field sets: which fields an object sets, as Kubernetes' FieldsV1 paths.

Decision: a field set is a frozenset of paths, each a tuple of FieldsV1 path
elements (`f:spec`, `k:{"name":"web"}` for an item of a list merged on a key,
`v:"x"` for an item of a set of primitives). Lists the strategic merge schema
(`kybernetes.api.patch.schema_for`) does not merge are atomic: the list is one
leaf. Sets are easy to union, subtract and compare; FieldsV1 (nested maps,
`.` marking a member that also has members) is only their wire form, as in
sigs.k8s.io/structured-merge-diff.

A map, or a list merged by key or as a set, is a member of its own only
where a write added it (structured-merge-diff's compare: a path absent
before and present after is "Added", leaves and maps alike); an applied
config never makes one (its ToFieldSet lists leaves and list items).
`field_values(..., nodes=True)` therefore marks such a path `NODE`, and
`fields_v1_of` writes the `.` of what a create adds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from kybernetes.api.patch import PatchSchema
from kybernetes.apiserver.objects import Obj
from kybernetes.util.memo import Memo, json_key

__all__ = [
    "ABSENT",
    "NODE",
    "NO_ZERO",
    "FieldSet",
    "Path",
    "child",
    "field_set",
    "field_values",
    "fields_v1_of",
    "from_fields_v1",
    "is_set",
    "key_element",
    "keyed_by",
    "ListKeys",
    "Names",
    "Zero",
    "added",
    "changes",
    "path_string",
    "read_fields_v1",
    "to_fields_v1",
    "value_at",
]

Path = tuple[str, ...]
FieldSet = frozenset[Path]
Names = tuple[str, ...]  # field names from the root, list positions left out
ABSENT: Any = object()
NODE: Any = object()  # `field_values(nodes=True)`: a map or list with members
# What the zero value of a kind holds (zero_values.py): True a struct, False null.
Zero = Mapping[Names, bool]
NO_ZERO: Zero = MappingProxyType({})
_CONTAINERS = (dict, list)
# What no manager owns: identity and bookkeeping the server keeps itself
# (kube-apiserver's strip set).
_STRIPPED_META = frozenset({"name", "namespace", "uid", "resourceVersion", "generation",
                            "creationTimestamp", "selfLink", "managedFields",
                            "deletionTimestamp", "deletionGracePeriodSeconds"})  # fmt: skip


# Printable ASCII except the quote and the backslash: JSON writes it as it is.
_PLAIN_TEXT = re.compile(r"[ !#-\[\]-~]*")


ListKeys = tuple[tuple[str, Any], ...]  # a list map's keys, each with its default or None


def key_element(item: Mapping[str, Any], keys: ListKeys) -> str:
    """The `k:` path element naming `item` of a list map by `keys` (JSON with the
    keys sorted, as structured-merge-diff writes it; a key the item lacks takes
    its default, or is left out when it has none)."""
    if len(keys) == 1:
        key = keys[0][0]
        value = item.get(key)
        # A name or a path, nearly always (a pod write makes dozens): written directly.
        if type(value) is str and _PLAIN_TEXT.fullmatch(value) and _PLAIN_TEXT.fullmatch(key):
            return f'k:{{"{key}":"{value}"}}'
        named = {key: value}
    else:
        named = {k: item.get(k, default) for k, default in keys if k in item or default is not None}
    # Names, ports and protocols, nearly always: written directly (a pod write makes dozens).
    pieces = [_plain_member(k, v) for k, v in sorted(named.items())]
    if all(pieces):
        return "k:{" + ",".join(pieces) + "}"
    return "k:" + json.dumps(named, separators=(",", ":"), sort_keys=True)


def _plain_member(key: str, value: Any) -> str:
    """`"key":value` as JSON writes it when nothing in it needs escaping, else ""."""
    if not _PLAIN_TEXT.fullmatch(key):
        return ""
    if type(value) is int:
        return f'"{key}":{value}'
    if type(value) is str and _PLAIN_TEXT.fullmatch(value):
        return f'"{key}":"{value}"'
    return ""


def _value_element(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"), sort_keys=True)


def keyed_by(schema: PatchSchema, names: Path, items: list[Any]) -> ListKeys:
    """The keys of a list that merges by key (all items are maps), else ()."""
    strategy = schema.lookup(names)
    if strategy.strategy != "merge" or not strategy.merge_key:
        return ()
    if not all(isinstance(i, dict) for i in items):
        return ()
    return strategy.apply_keys or ((strategy.merge_key, None),)


def is_set(schema: PatchSchema, names: Path, items: list[Any]) -> bool:
    strategy = schema.lookup(names)
    return (
        strategy.strategy == "merge"
        and not strategy.merge_key
        and not any(isinstance(i, dict | list) for i in items)
    )


def _walk(
    value: Any, path: Path, names: Path, schema: PatchSchema, out: dict[Path, Any], nodes: bool
) -> None:
    if isinstance(value, dict) and value:
        if nodes:
            out[path] = NODE
        for key, child in value.items():
            _walk(child, (*path, f"f:{key}"), (*names, key), schema, out, nodes)
        return
    if isinstance(value, list) and value:
        key = keyed_by(schema, names, value)
        if key:
            if nodes:
                out[path] = NODE
            for item in value:
                _walk_item(item, (*path, key_element(item, key)), names, schema, out, nodes)
            return
        if is_set(schema, names, value):
            if nodes:
                out[path] = NODE
            out.update(((*path, _value_element(item)), item) for item in value)
            return
    out[path] = value  # a scalar, an empty map or list, or an atomic list


def _walk_item(
    item: Any, path: Path, names: Path, schema: PatchSchema, out: dict[Path, Any], nodes: bool
) -> None:
    out[path] = item  # the item itself is a member ("." in FieldsV1)
    _walk(item, path, names, schema, out, nodes)


def _owned_top_level(obj: Obj, status: bool | None) -> Iterator[tuple[str, Any]]:
    """The top-level fields a manager can own. `status` False leaves out
    `status` (a write to the main resource of a kind with a status subresource
    cannot set it), True keeps only `status` (a write to that subresource),
    None keeps both; metadata without what the server keeps itself."""
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (status is not None and (key == "status") != status):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_META}
            if not value:
                continue
        yield key, value


def field_set(obj: Obj, schema: PatchSchema, *, status: bool | None = None) -> FieldSet:
    """The fields `obj` sets (`status` as `_owned_top_level` takes it)."""
    return frozenset(field_values(obj, schema, status=status))


def field_values(
    obj: Obj, schema: PatchSchema, *, status: bool | None = None, nodes: bool = False
) -> dict[Path, Any]:
    """`field_set` with the value at each field (`value_at` of it, found in the same walk).

    `nodes`: maps and merged lists that hold members are there too, as `NODE`
    (what a write compares to find the ones it added); `metadata` itself never
    is (kube-apiserver strips it from every manager's set).
    """
    out: dict[Path, Any] = {}
    for key, value in _owned_top_level(obj, status):
        _walk(value, (f"f:{key}",), (key,), schema, out, nodes)
    if nodes:
        out.pop(("f:metadata",), None)
    return out


def fields_v1_of(
    obj: Obj, schema: PatchSchema, *, status: bool | None = None, present: Zero = NO_ZERO
) -> Obj:
    """FieldsV1 of what creating `obj` adds, built in one walk: every field, and
    the `.` of each map or merged list that the zero value of the kind lacks
    (`present` names those it has); an empty struct where the zero value has
    one is no change. No path tuples, no sorting; keys come in the object's
    order, which FieldsV1 readers ignore. The same as `to_fields_v1` of
    `added(field_values(obj, nodes=True), {}, present)`.
    """
    tree: Obj = {}
    for key, value in _owned_top_level(obj, status):
        if value and isinstance(value, _CONTAINERS):
            tree[f"f:{key}"] = _added_field(key, value, schema, present)
        elif type(value) is not dict or not present.get((key,)):
            tree[f"f:{key}"] = {}  # (an empty struct the zero value has is no change)
    return tree


def _added_field(key: str, value: Any, schema: PatchSchema, present: Zero) -> Obj:
    """FieldsV1 of what a create adds under the top-level field `key`.

    It depends on `value` alone, so objects made from one template (a
    ReplicaSet's pods, a benchmark's) share their spec's, found by its JSON:
    the walk costs ~30 us a pod, the lookup ~2. What is answered is shared:
    FieldsV1 trees are only read once made (managedfields.py never changes
    one in place). Metadata is each object's own (names, labels): not kept.
    """
    if key == "metadata":
        member: Obj = {}
        _fill(value, member, (key,), schema, False, present)  # (metadata's `.` is stripped)
        return member
    text = json_key(value)
    memo_key = (id(schema), id(present), key, text)
    if text is not None:
        kept = _ADDED.get(memo_key)
        # The kept entry holds its schema and table, so their ids name them while it lives.
        if kept is not None and kept[0] is schema and kept[1] is present:
            return kept[2]
    member = {}
    absent = (key,) not in present
    _fill(value, member, (key,), schema, absent, present)
    if absent and member:
        member["."] = {}
    if text is not None:
        _ADDED.put(memo_key, (schema, present, member))
    return member


# Top-level fields' FieldsV1 by their JSON (`_added_field`): 256 of up to KEY_BYTES.
_ADDED: Memo[tuple[int, int, str, bytes | None], tuple[PatchSchema, Zero, Obj]] = Memo(256)


def _fill(
    value: Any, node: Obj, names: Path, schema: PatchSchema, absent: bool, present: Zero
) -> None:
    """`_walk`, writing into the FieldsV1 map `node` (the value's own place).
    Scalars are leaves with nothing to fill: only maps and lists are visited
    (most of an object's fields are scalars; a create pays this walk).
    `absent`: the value is not in the zero value (nor, then, anything in it)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if child and isinstance(child, _CONTAINERS):
                member = node.setdefault(f"f:{key}", {})
                child_names = (*names, key)
                missing = absent or child_names not in present
                _fill(child, member, child_names, schema, missing, present)
                if missing and member:
                    member["."] = {}  # added, and has members (an atomic list has none)
            elif absent or type(child) is not dict or not present.get((*names, key)):
                node.setdefault(f"f:{key}", {})  # (not an empty struct the zero value has)
        return
    if not isinstance(value, list):
        return
    key = keyed_by(schema, names, value)
    if key:
        for item in value:
            member = node.setdefault(key_element(item, key), {})
            if item:
                _fill(item, member, names, schema, True, present)  # no zero value has items
            if member:
                member["."] = {}  # the item is a member and has members
        return
    if is_set(schema, names, value):
        for item in value:
            node.setdefault(_value_element(item), {})


def added(new: dict[Path, Any], old: dict[Path, Any], present: Zero) -> FieldSet:
    """What a write adds or changes, as structured-merge-diff's compare finds it:
    fields `new` sets that `old` did not, or to another value; maps and merged
    lists (`NODE`s) only when `old` lacked them and the zero value of the kind
    does not hold them either (`present`, zero_values.py): kube-apiserver
    compares Go objects, which have their struct-valued fields (so an empty
    struct there is no change either). Both sides are
    `field_values(..., nodes=True)`; a map that turns into a leaf (`{}`) or
    back is neither added nor changed."""
    out = []
    for path, value in new.items():
        old_value = old.get(path, ABSENT)
        if old_value is ABSENT:
            if value is NODE or type(value) is dict:  # (a leaf dict is empty)
                held = _zero_value_of(path, old, present)
                if held or (held is False and value is NODE):
                    continue  # a struct the zero value has, or a null it fills in
            out.append(path)
        elif value is not NODE and old_value is not NODE and old_value != value:
            out.append(path)
    return frozenset(out)


def changes(
    new: Obj, old: Obj, schema: PatchSchema, *, status: bool | None, present: Zero
) -> tuple[FieldSet, FieldSet]:
    """What a write from `old` to `new` adds or changes (`added`) and removes: the
    same as comparing both objects' `field_values(..., nodes=True)`, but parts the
    write left as they were are skipped whole instead of being listed on both
    sides (an update that changes one annotation walked every field twice)."""
    new_values: dict[Path, Any] = {}
    old_values: dict[Path, Any] = {}
    old_top = dict(_owned_top_level(old, status))
    for key, value in _owned_top_level(new, status):
        path, names = (f"f:{key}",), (key,)
        _diff(value, old_top.pop(key, ABSENT), path, names, schema, new_values, old_values)
    for key, value in old_top.items():
        _walk(value, (f"f:{key}",), (key,), schema, old_values, True)
    new_values.pop(("f:metadata",), None)
    old_values.pop(("f:metadata",), None)
    return added(new_values, old_values, present), frozenset(old_values) - frozenset(new_values)


def _diff(
    new: Any, old: Any, path: Path, names: Names, schema: PatchSchema,
    new_out: dict[Path, Any], old_out: dict[Path, Any],
) -> None:  # fmt: skip
    """`_walk` of `new` into `new_out` and of `old` into `old_out`, leaving out what
    both would list alike. Where the two are not both maps, or lists merged on
    keys no item repeats, each side is walked whole."""
    if old is ABSENT:
        _walk(new, path, names, schema, new_out, True)
        return
    if _same(new, old):
        return
    if type(new) is dict and type(old) is dict and new and old:
        new_out[path] = old_out[path] = NODE
        for key, child in new.items():
            child_old = old.get(key, ABSENT)
            _diff(child, child_old, (*path, f"f:{key}"), (*names, key), schema, new_out, old_out)
        for key, child in old.items():
            if key not in new:
                _walk(child, (*path, f"f:{key}"), (*names, key), schema, old_out, True)
        return
    new_items, old_items = _keyed_items(new, names, schema), _keyed_items(old, names, schema)
    if new_items is None or old_items is None:
        _walk(new, path, names, schema, new_out, True)
        _walk(old, path, names, schema, old_out, True)
        return
    new_out[path] = old_out[path] = NODE
    for element, item in new_items.items():
        item_path = (*path, element)
        old_item = old_items.pop(element, ABSENT)
        if old_item is ABSENT or not item or not old_item:
            _walk_item(item, item_path, names, schema, new_out, True)
            if old_item is not ABSENT:
                _walk_item(old_item, item_path, names, schema, old_out, True)
        else:
            _diff(item, old_item, item_path, names, schema, new_out, old_out)
    for element, item in old_items.items():
        _walk_item(item, (*path, element), names, schema, old_out, True)


def _keyed_items(value: Any, names: Names, schema: PatchSchema) -> dict[str, Any] | None:
    """A non-empty list merged on keys, as its items by FieldsV1 element; None for
    anything else, or a list where two items have the same key."""
    if type(value) is not list or not value:
        return None
    keys = keyed_by(schema, names, value)
    if not keys:
        return None
    items = {key_element(item, keys): item for item in value}
    return items if len(items) == len(value) else None


def _same(new: Any, old: Any) -> bool:
    """Equal as JSON: Python's == alone takes 1, 1.0 and true for one another."""
    if new is old:
        return True
    if type(new) is not type(old) or new != old:
        return False
    if type(new) not in _CONTAINERS:
        return True
    try:
        return orjson.dumps(new) == orjson.dumps(old)  # (key order aside: then walked)
    except orjson.JSONEncodeError:
        return False


def _zero_value_of(path: Path, old: dict[Path, Any], present: Zero) -> bool | None:
    """How Go's view of the object `old` has `path` though its JSON does not: a
    struct (True) or null (False), when each field from the nearest one `old`
    has down to `path` is one the zero value holds; else None."""
    held = None
    for depth in range(len(path), 0, -1):
        prefix = path[:depth]
        if depth < len(path) and prefix in old:
            return held
        if not prefix[-1].startswith("f:"):
            return None  # a list item: no zero value holds one
        flag = present.get(tuple(e[2:] for e in prefix if e.startswith("f:")))
        if flag is None:
            return None
        if held is None:
            held = flag
    return held


def value_at(obj: Any, path: Path) -> Any:
    """The value at `path` in `obj`, or ABSENT."""
    node = obj
    for element in path:
        node = child(node, element)
        if node is ABSENT:
            return ABSENT
    return node


def child(node: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return node.get(rest, ABSENT) if isinstance(node, dict) else ABSENT
    if not isinstance(node, list):
        return ABSENT
    try:
        wanted = json.loads(rest)
    except ValueError:
        return ABSENT  # not an element this module wrote
    for item in node:
        if kind == "v" and item == wanted:
            return item
        if (
            kind == "k"
            and isinstance(item, dict)
            and all(item.get(k) == v for k, v in wanted.items())
        ):
            return item
    return ABSENT


def to_fields_v1(fields: Iterable[Path]) -> Obj:
    """The FieldsV1 form: nested maps; `.` marks a member that has members too."""
    tree: Obj = {}
    members = set(fields)
    for path in sorted(members):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def from_fields_v1(tree: Any) -> FieldSet:
    """The paths of a FieldsV1 map (anything malformed counts for nothing)."""
    return read_fields_v1(tree)[0]


def read_fields_v1(tree: Any) -> tuple[FieldSet, bool]:
    """`from_fields_v1`, and whether `tree` is exactly what `to_fields_v1` writes
    for those paths (so it can be written again as it is)."""
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return frozenset(), False
    canonical = _read(tree, (), out)
    return frozenset(out), canonical


def _read(tree: Obj, prefix: Path, out: set[Path]) -> bool:
    canonical = True
    for element, sub in tree.items():
        if element == ".":
            if prefix:
                out.add(prefix)
            canonical = canonical and sub == {} and len(tree) > 1 and bool(prefix)
        elif isinstance(sub, dict) and sub:
            canonical = _read(sub, (*prefix, element), out) and canonical
        else:
            out.add((*prefix, element))
            canonical = canonical and sub == {}
    return canonical


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as Kubernetes prints paths."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            pairs = json.loads(rest)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs.items()) + "]"
        else:
            text += f"[={rest}]"
    return text
