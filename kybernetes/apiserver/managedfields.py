"""Field ownership (`metadata.managedFields`) and server-side apply, as pure functions.

Decision: follow sigs.k8s.io/structured-merge-diff as kube-apiserver uses it,
over the field sets of `fieldsets.py`. A manager is a name, an operation
(Apply or Update) and a subresource together. Every ordinary write makes its
manager own what it added or changed and takes that from the others; an apply
owns its whole config, conflicts with other owners whose values it would
change (unless forced), and removes what it applied before and no one owns
any more. The field sets used here and the entries' wire form (fieldsV1) are
re-exported so callers need this module alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kybernetes.api.patch import PatchSchema
from kybernetes.apiserver.fieldsets import (
    ABSENT,
    NO_ZERO,
    FieldSet,
    ListKeys,
    Path,
    Zero,
    added,
    changes,
    child,
    field_set,
    field_values,
    fields_v1_of,
    from_fields_v1,
    is_set,
    key_element,
    keyed_by,
    path_string,
    read_fields_v1,
    to_fields_v1,
    value_at,
)
from kybernetes.apiserver.objects import Obj, json_copy

__all__ = [
    "ABSENT",
    "LAST_APPLIED",
    "ApplyConflict",
    "Conflict",
    "FieldSet",
    "Manager",
    "apply_config",
    "applied_entries",
    "conflict_cause_message",
    "conflict_message",
    "default_manager",
    "drop_nulls",
    "entries_of",
    "field_set",
    "from_fields_v1",
    "parent_entries",
    "path_string",
    "record_update",
    "scale_entries",
    "starting_entries",
    "to_fields_v1",
    "value_at",
]

Operation = Literal["Apply", "Update"]


@dataclass(frozen=True)
class Manager:
    """Who writes: the field manager, the operation, and through which subresource."""

    name: str
    operation: Operation = "Update"
    subresource: str = ""


@dataclass(frozen=True)
class Conflict:
    manager: str
    api_version: str
    subresource: str
    path: Path


class ApplyConflict(Exception):
    """An apply would change fields other managers own."""

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        super().__init__(conflict_message(conflicts))
        self.conflicts = list(conflicts)


# -- managedFields entries ----------------------------------------------------------


@dataclass
class _Entry:
    manager: Manager
    api_version: str
    time: str
    fields: FieldSet
    # The fieldsV1 the entry was read from, while it says just `fields`: an entry
    # that a write leaves alone is not encoded again (most entries, most writes).
    wire: Obj | None = field(default=None, compare=False)


def entries_of(obj: Obj) -> list[_Entry]:
    """The entries on `obj` (malformed ones are dropped)."""
    out = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict) or raw.get("operation") not in ("Apply", "Update"):
            continue
        manager = Manager(str(raw.get("manager") or ""), raw["operation"],
                          str(raw.get("subresource") or ""))  # fmt: skip
        wire = raw.get("fieldsV1")
        fields, canonical = read_fields_v1(wire)
        out.append(_Entry(manager, str(raw.get("apiVersion") or ""), str(raw.get("time") or ""),
                          fields, wire if canonical else None))  # fmt: skip
    return out


def starting_entries(
    sent: Any, live: Any, *, subresource: str, sent_owned: bool = False
) -> list[Obj]:
    """The managedFields a write starts from, as kube-apiserver decides.

    A client may set them in a create, an update or a non-apply patch (that is
    how kubectl hands client-side apply's fields to server-side apply): what
    it sent counts when every entry reads and they own something. `[]` (or
    `[{}]`) clears them. Anything else, and every write to a subresource,
    keeps the live object's, so a client that does not know the field
    cannot drop it by accident. The write's own entry is recorded on top.
    What is kept is a copy, unless it is `sent` and `sent_owned` (a request's
    own body, which nothing else holds: copying an update's entries was ~5%
    of it).
    """
    if subresource:
        return _entry_list(live)
    if sent == [] or sent == [{}]:
        return []
    readable = _entry_list(sent, copy=not sent_owned)
    if (
        readable
        and all(e.get("operation") in ("Apply", "Update") for e in readable)
        and any(_owns_something(e.get("fieldsV1")) for e in readable)
    ):
        return readable
    return _entry_list(live)


def _owns_something(tree: Any) -> bool:
    """`read_fields_v1(tree)` has a path, without reading the whole tree (the write
    reads it afterwards anyway): any member but the root's `.` makes one."""
    return isinstance(tree, dict) and any(element != "." for element in tree)


def _entry_list(value: Any, *, copy: bool = True) -> list[Obj]:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        return []
    return json_copy(value) if copy else value


def _encode(entries: list[_Entry]) -> list[Obj]:
    # Apply entries first, then oldest first, as kube-apiserver sorts them.
    ordered = sorted(entries, key=lambda e: (e.manager.operation != "Apply", e.time,
                                            e.manager.name))  # fmt: skip
    # A manager that owns nothing any more is forgotten.
    return [_raw_entry(entry.manager, entry.api_version, entry.time,
                       to_fields_v1(entry.fields) if entry.wire is None else entry.wire)
            for entry in ordered if entry.fields]  # fmt: skip


def _raw_entry(manager: Manager, api_version: str, time: str, fields_v1: Obj) -> Obj:
    raw: Obj = {
        "manager": manager.name,
        "operation": manager.operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
    }
    if not time:
        del raw["time"]  # (`scale` leaves one without: parent_entries)
    if manager.subresource:
        raw["subresource"] = manager.subresource
    return raw


def _set_entries(obj: Obj, entries: list[_Entry]) -> None:
    meta = obj.setdefault("metadata", {})
    encoded = _encode(entries)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)


def _own(entries: list[_Entry], entry: _Entry, taken: FieldSet) -> list[_Entry]:
    """`entry` replaces the same manager's entry; the others lose `taken`."""
    out = [entry]
    for other in entries:
        if other.manager == entry.manager:
            continue
        if other.fields.isdisjoint(taken):
            out.append(other)  # unchanged: its wire form still holds
        else:
            out.append(_Entry(other.manager, other.api_version, other.time, other.fields - taken))
    return out


def _entry(entries: list[_Entry], manager: Manager) -> _Entry | None:
    return next((e for e in entries if e.manager == manager), None)


def record_update(
    new: Obj,
    old: Obj | None,
    *,
    manager: Manager,
    schema: PatchSchema,
    api_version: str,
    now: str,
    status: bool | None,
    present: Zero = NO_ZERO,
    in_place: bool = False,
) -> Obj:
    """`new` with managedFields after an ordinary write (create, update, patch).

    The manager takes over what it added or modified, the maps it added
    included (their `.`); what the write removed no one owns any more.
    `new`'s managedFields are those to start from. `present`: the maps and
    lists the kind's zero value holds (zero_values.py), which no write adds.
    `in_place`: a caller that owns `new` has it updated, not copied.
    """
    entries = entries_of(new)
    if old is None and not entries:
        # A create that no one owned before: the manager owns everything it wrote.
        tree = fields_v1_of(new, schema, status=status, present=present)
        result = new if in_place else json_copy(new)
        meta = result.setdefault("metadata", {})
        if tree:
            meta["managedFields"] = [_raw_entry(manager, api_version, now, tree)]
        else:
            meta.pop("managedFields", None)
        return result
    if old is None:  # a create over entries it was given: all it sets is added
        changed = added(field_values(new, schema, status=status, nodes=True), {}, present)
        removed: FieldSet = frozenset()
    else:
        changed, removed = changes(new, old, schema, status=status, present=present)
    mine = _entry(entries, manager)
    owned = ((mine.fields if mine else frozenset()) | changed) - removed
    if changed or (mine and mine.fields != owned):
        # Changing only what it owned already (most updates): its fieldsV1 still holds.
        wire = mine.wire if mine and mine.fields == owned else None
        entry = _Entry(manager, api_version, now, owned, wire)
    elif mine:
        entry = mine
    else:
        entry = _Entry(manager, api_version, now, frozenset())
    result = new if in_place else json_copy(new)
    if result is not new:  # the result shares nothing with `new`: encode afresh
        entries = [_Entry(e.manager, e.api_version, e.time, e.fields) for e in entries]
    _set_entries(result, _own(entries, entry, changed | removed))
    return result


# -- apply --------------------------------------------------------------------------


def _merge(live: Any, applied: Any, names: Path, schema: PatchSchema) -> Any:
    """`applied` over `live`: maps merge, keyed lists merge by key, sets union,
    everything else is replaced. A null over a map or a merged list that has
    members merges nothing into it (structured-merge-diff's merge: the null
    side has no items), so only pruning takes from it what the applier had."""
    if applied is None and live and _granular(live, names, schema):
        return live
    if isinstance(live, dict) and isinstance(applied, dict):
        merged = dict(live)
        for key, value in applied.items():
            old = live.get(key, ABSENT)
            merged[key] = copy.deepcopy(value) if old is ABSENT else _merge(
                old, value, (*names, key), schema)  # fmt: skip
        return merged
    if isinstance(live, list) and isinstance(applied, list):
        key = keyed_by(schema, names, live + applied)
        if key:
            return _merge_keyed(live, applied, key, names, schema)
        if is_set(schema, names, live + applied):
            return live + [copy.deepcopy(v) for v in applied if v not in live]
    return copy.deepcopy(applied)


def _granular(value: Any, names: Path, schema: PatchSchema) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and bool(
        keyed_by(schema, names, value) or is_set(schema, names, value)
    )


def drop_nulls(value: Any) -> None:
    """Remove the null fields from `value`, in place, as kube-apiserver's decode of
    a built-in object does: null is the Go zero value, which for the pointers,
    maps, lists and `omitempty` fields that hold nearly every optional setting
    is no field at all (defaulting may then fill it in). An apply's nulls land
    here: the applier owns such a field (structured-merge-diff's ToFieldSet
    lists a null as a leaf) but it is not set."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for child in value.values():
            drop_nulls(child)
    elif isinstance(value, list):
        for item in value:
            drop_nulls(item)


def _merge_keyed(
    live: list[Any], applied: list[Any], key: ListKeys, names: Path, schema: PatchSchema
) -> list[Any]:
    by_key = {key_element(item, key): item for item in applied}
    merged = []
    for item in live:
        element = key_element(item, key)
        if element in by_key:
            merged.append(_merge(item, by_key.pop(element), names, schema))
        else:
            merged.append(item)
    return merged + [copy.deepcopy(item) for item in by_key.values()]


def _is_item_key(path: Path) -> bool:
    """The merge key of a list item: it names the item, so it goes only with it."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


def _remove(obj: Obj, path: Path) -> list[Path]:
    """Remove the field at `path`, then the maps and lists it leaves empty (as
    Go's `omitempty` drops them when kube-apiserver encodes the object); the
    paths removed, deepest first."""
    removed = []
    for depth in range(len(path), 0, -1):
        parent = value_at(obj, path[: depth - 1])
        if parent is ABSENT:
            break  # an ancestor went first
        element = path[depth - 1]
        node = child(parent, element)
        if node is ABSENT or (depth < len(path) and node not in ({}, [])):
            break  # gone already, or an ancestor that still holds something
        if isinstance(parent, dict):
            parent.pop(element[2:], None)
        else:
            parent.remove(node)
        removed.append(path[:depth])
    return removed


def _conflicts(
    live: Obj, merged: Obj, applied: FieldSet, entries: list[_Entry], manager: Manager
) -> list[Conflict]:
    """Fields of the config that other managers own and the apply would change.

    A manager is its name, operation and subresource together: kubectl's
    apply and kubectl's scale (both "kubectl") conflict with each other. An
    Update manager is named with its apiVersion, an applier without, as
    kube-apiserver prints them (an Update manager's identifier holds its
    version, an applier's does not).
    """
    out = []
    for entry in entries:
        if entry.manager == manager:
            continue
        version = entry.api_version if entry.manager.operation == "Update" else ""
        for path in sorted(entry.fields & applied):
            if path[-1].startswith("k:"):
                continue  # the same key is the same item
            if value_at(live, path) != value_at(merged, path):
                out.append(Conflict(entry.manager.name, version, entry.manager.subresource, path))
    return out


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _upgrades_client_side_apply(
    live: Obj, conflicts: Sequence[Conflict], applied: FieldSet, schema: PatchSchema,
    status: bool | None,
) -> bool:  # fmt: skip
    """True when every conflict is a field the object's client-side apply
    config (its last-applied annotation) also sets: moving from `kubectl apply`
    to `kubectl apply --server-side` then takes those fields over without a
    conflict, as kube-apiserver allows."""
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return False
    if not isinstance(last, dict):
        return False
    allowed = field_set(last, schema, status=status) & applied
    return all(c.path in allowed for c in conflicts)


def apply_config(
    live: Obj,
    config: Obj,
    *,
    manager: Manager,
    force: bool,
    schema: PatchSchema,
    api_version: str,
    now: str,
    status: bool | None,
) -> Obj:
    """`live` with the applied `config` merged in and its managedFields updated.

    Raises ApplyConflict unless `force`, which takes the fields over instead.
    Neither input is changed.
    """
    live = copy.deepcopy(live)  # the merge shares what the config leaves alone
    me = manager
    entries = entries_of(live)
    applied = field_set(config, schema, status=status)
    body = {k: v for k, v in config.items() if k != "metadata"}
    body["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items()
                        if k != "managedFields"}  # fmt: skip
    merged: Obj = _merge(live, body, (), schema)
    conflicts = _conflicts(live, merged, applied, entries, me)
    if (
        conflicts
        and not force
        and not _upgrades_client_side_apply(live, conflicts, applied, schema, status)
    ):
        raise ApplyConflict(conflicts)
    previous = _entry(entries, me)
    others: FieldSet = frozenset().union(*(e.fields for e in entries if e.manager != me))
    taken = frozenset(c.path for c in conflicts)
    # What this manager applied before and dropped from its config goes,
    # unless someone else still owns it (deepest first, parents after children).
    dropped = ((previous.fields if previous else frozenset()) - applied) - (others - taken)
    kept = applied | (others - taken)
    # Shallowest first: a list item goes before its own fields, which name it.
    removed: list[Path] = []
    for path in sorted(dropped, key=len):
        if not _is_item_key(path) and not any(p[: len(path)] == path for p in kept):
            removed += _remove(merged, path)
    # What went is no one's (a map another manager added and the pruning emptied:
    # structured-merge-diff takes what the apply removed from every manager).
    gone = {p for path in removed for p in _under(path, entries)}
    _set_entries(merged, _own(entries, _Entry(me, api_version, now, applied), taken | gone))
    return merged


def _under(path: Path, entries: list[_Entry]) -> FieldSet:
    """`path` and the fields under it that any of `entries` own."""
    return frozenset(p for e in entries for p in e.fields if p[: len(path)] == path)


def applied_entries(config: Obj, *, manager: str, schema: PatchSchema, api_version: str,
                    now: str, status: bool | None) -> list[Obj]:  # fmt: skip
    """The managedFields of an object an apply creates: the config is all its manager's."""
    fields = field_set(config, schema, status=status)
    return _encode([_Entry(Manager(manager, "Apply"), api_version, now, fields)])


def conflict_message(conflicts: Sequence[Conflict]) -> str:
    """Kubernetes' text: `Apply failed with 1 conflict: conflict with "m" using v: .a.b`."""
    groups: dict[tuple[str, str, str], list[Path]] = {}
    for c in conflicts:
        groups.setdefault((c.manager, c.subresource, c.api_version), []).append(c.path)
    parts = []
    for (name, subresource, version), paths in groups.items():
        who = _who(name, subresource, version)
        if len(paths) == 1:
            parts.append(f"conflict with {who}: {path_string(paths[0])}")
        else:
            lines = "".join(f"\n- {path_string(p)}" for p in paths)
            parts.append(f"conflicts with {who}:{lines}")
    count = len(conflicts)
    return f"Apply failed with {count} conflict{'s' if count != 1 else ''}: " + "\n".join(parts)


def conflict_cause_message(conflict: Conflict) -> str:
    return "conflict with " + _who(conflict.manager, conflict.subresource, conflict.api_version)


def _who(name: str, subresource: str, version: str) -> str:
    text = json.dumps(name)
    if subresource:
        text += f" with subresource {json.dumps(subresource)}"
    return f"{text} using {version}" if version else text


def default_manager(user_agent: str) -> str:
    """The manager of a write that names none: the User-Agent up to its first "/"."""
    return user_agent.split("/", 1)[0][:128]


# -- the scale subresource ----------------------------------------------------------
# kube-apiserver's ScaleHandler: a write to `scale` runs on an autoscaling/v1 Scale
# whose managedFields are the parent's owners of spec.replicas, then hands the
# owners of the Scale's spec.replicas back to the parent.

REPLICAS: Path = ("f:spec", "f:replicas")  # the Scale's, and every kind's here
SCALE_API_VERSION = "autoscaling/v1"


def scale_entries(parent: Obj) -> list[Obj]:
    """The managedFields of the parent's Scale: each entry that owns the parent's
    spec.replicas, owning the Scale's (ToSubresource). kube-apiserver marks
    them autoscaling/v1, but a conflict names the version of the manager's own
    identifier, the parent's: that is the version kept here (a Scale's entries
    are never shown)."""
    return _encode([_Entry(e.manager, e.api_version, e.time, frozenset({REPLICAS}))
                    for e in entries_of(parent) if REPLICAS in e.fields])  # fmt: skip


def parent_entries(parent: Obj, scale: Obj, *, api_version: str) -> list[Obj]:
    """The parent's managedFields after a write to its Scale (ToParent): an owner
    of spec.replicas the Scale no longer lists loses it; one new to it gets an
    entry of its own, at the parent's `api_version`. Times are the parent's, so
    an entry new to the parent has none, as kube-apiserver writes it."""
    owners = {e.manager: e for e in entries_of(scale) if REPLICAS in e.fields}
    out: dict[Manager, _Entry] = {}
    for entry in entries_of(parent):
        if REPLICAS not in entry.fields:
            out[entry.manager] = entry
        elif owners.pop(entry.manager, None) is None:
            out[entry.manager] = _Entry(entry.manager, entry.api_version, entry.time,
                                        entry.fields - {REPLICAS})  # taken  # fmt: skip
        else:
            out[entry.manager] = entry
    for manager in owners:
        out[manager] = _Entry(manager, api_version, "", frozenset({REPLICAS}))
    return _encode(list(out.values()))
