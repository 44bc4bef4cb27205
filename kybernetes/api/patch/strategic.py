"""Strategic merge patch as the Kubernetes API server applies it.

A merge patch that knows, per field, whether a list is replaced (the default),
merged item by item on a merge key, or merged as a set of primitive values.
That knowledge is a `PatchSchema` (`merge_keys` has the built-in kinds). The
directives kubectl sends are honoured: `$patch` (replace or delete, in a map or
as a list item), `$retainKeys`, `$setElementOrder/<field>` and
`$deleteFromPrimitiveList/<field>`; null deletes a key.

Decision: reproduce what the API server's merge step returns (apimachinery's
`strategicpatch.StrategicMergeMapPatch`) exactly, quirks included, because
kubectl computes its three-way patches against that behaviour. What follows
in Kubernetes (decoding into the typed object, which drops unknown keys and
turns nulls into zero values) is the API server's business. The quirks:

- Order of a merged list: items named in the patch keep the patch's order,
  live items keep theirs, and a live item goes before a patch item only when
  both were live and it came first. So a new item goes *in front of* the live
  items it is not ordered against, unless `$setElementOrder` places it.
- `$patch: merge` is refused, in a map and in a list.
- `$patch: delete` in a map leaves an empty map, not a missing key; a list
  item `{"$patch": "replace"}` replaces the whole list with the patch's other
  items.
- A value that replaces wholesale (new key, different type) loses its null
  members and any map carrying `$patch`; one replaced by the field's strategy
  (a non-merging list, a `replace` map) is taken verbatim.
- `$setElementOrder` orders server-only items against the live list *as Go's
  slice aliasing left it*: deleting items and then appending new ones writes
  the new ones into the live list's freed tail. We replay that (see `_Merged`).
- A value both added to and deleted from a primitive list in one patch is
  deleted; Kubernetes picks either outcome at random (Go map order).
- Errors keep Kubernetes' HTTP status: 400 for malformed directives, 422 for
  a list of lists, 500 for the rest (a missing merge key, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from kybernetes.api.patch.jsonpatch import PatchError, clone

__all__ = [
    "DEFAULT",
    "MERGE",
    "REPLACE",
    "RETAIN_KEYS",
    "FieldStrategy",
    "PatchSchema",
    "apply_strategic_merge_patch",
    "merge_by",
]

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM = "$deleteFromPrimitiveList"
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class FieldStrategy:
    """How a strategic merge patch treats one field: the `patchStrategy` and
    `patchMergeKey` tags of the Kubernetes API types.

    `strategy` "" is the default (maps merge, lists are replaced); "merge" merges
    a list, by `merge_key` for lists of objects or as a set for primitives;
    "replace" replaces a map too. `retain_keys` marks fields where clients send
    `$retainKeys`; the directive works wherever it appears.

    `apply_keys` is for server-side apply, where a list merged on a key names its
    items by more fields than a strategic merge patch does (`+listMapKey` tags;
    container ports by containerPort *and* protocol): each key with the default
    an item without it takes, or None. Empty: the merge key alone.
    """

    strategy: Literal["", "merge", "replace"] = ""
    merge_key: str = ""
    retain_keys: bool = False
    apply_keys: tuple[tuple[str, Any], ...] = ()


DEFAULT = FieldStrategy()
MERGE = FieldStrategy("merge")
REPLACE = FieldStrategy("replace")
RETAIN_KEYS = FieldStrategy(retain_keys=True)


def merge_by(
    key: str, *, retain_keys: bool = False, apply_keys: tuple[tuple[str, Any], ...] = ()
) -> FieldStrategy:
    """The strategy of a list of objects merged on the field `key` (and, for
    server-side apply, on `apply_keys` when given)."""
    return FieldStrategy("merge", key, retain_keys, apply_keys)


@dataclass(frozen=True)
class PatchSchema:
    """Field strategies by path of field names from the object root.

    List positions are not part of a path: the containers' env lists are all
    ("spec", "containers", "env"). A path not listed gets `DEFAULT`.
    """

    fields: Mapping[tuple[str, ...], FieldStrategy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def lookup(self, path: tuple[str, ...]) -> FieldStrategy:
        return self.fields.get(path, DEFAULT)


def apply_strategic_merge_patch(
    doc: Mapping[str, Any], patch: Mapping[str, Any], *, schema: PatchSchema
) -> dict[str, Any]:
    """Return `doc` with the strategic merge patch `patch` applied.

    Neither input is changed. Raises `PatchError` for a patch Kubernetes
    would refuse.
    """
    if not isinstance(doc, Mapping):
        raise PatchError("the object to patch must be a JSON object", code=500)
    if not isinstance(patch, Mapping):
        raise PatchError("a strategic merge patch must be a JSON object", code=400)
    return _Merger(schema).merge_map(clone(dict(doc)), clone(dict(patch)), ())


class _Merged(NamedTuple):
    """A merged list, and the live list as the caller's Go slice sees it after.

    apimachinery deletes items from a merged list in place and then appends
    new ones to the same backing array: the caller's view of the live list (its
    length unchanged) then shows the shifted survivors followed by the first
    new items. `$setElementOrder` sorts server-only items against that view.
    """

    items: list[Any]
    live_view: list[Any]


class _Merger:
    """The merge walk. Works in place on copies that `apply_strategic_merge_patch` made."""

    def __init__(self, schema: PatchSchema) -> None:
        self._schema = schema

    def merge_map(
        self, original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]
    ) -> dict[str, Any]:
        """Merge `patch` into `original` (the map at `path`) and return the result.

        Directives go first: `$patch`, then `$retainKeys`, then each
        `$setElementOrder`; then the fields; `$deleteFromPrimitiveList` last.
        """
        if _PATCH in patch:
            directive = patch[_PATCH]
            if directive not in ("replace", "delete"):
                raise PatchError(f"unknown patch type: {directive} in map: {patch}", code=400)
            del patch[_PATCH]
            return patch if directive == "replace" else {}
        _retain_keys(original, patch)
        self._set_element_orders(original, patch, path)
        deletions: list[tuple[str, Any]] = []
        for key, value in list(patch.items()):
            if key.startswith(_DELETE_FROM):
                # Kubernetes walks the patch in random order; deleting last makes
                # "delete" win when a value is both added and deleted.
                deletions.append((_directive_field(key, _DELETE_FROM), value))
            else:
                self._merge_field(original, key, value, path, deleting=False)
        for key, value in deletions:
            self._merge_field(original, key, value, path, deleting=True)
        return original

    def _merge_field(
        self,
        original: dict[str, Any],
        key: str,
        value: Any,
        path: tuple[str, ...],
        *,
        deleting: bool,
    ) -> None:
        if value is None:
            original.pop(key, None)
            return
        current = original.get(key, _ABSENT)
        if current is _ABSENT or _kind(current) != _kind(value):
            if not deleting:
                _put_wholesale(original, key, value)
            return
        here = (*path, key)
        if isinstance(value, dict):
            if self._schema.lookup(here).strategy == "replace":
                original[key] = value
            else:
                original[key] = self.merge_map(current, value, here)
        elif isinstance(value, list):
            original[key] = self._merge_list_field(current, value, here, deleting=deleting).items
        else:
            original[key] = value

    def _merge_list_field(
        self, original: list[Any], patch: list[Any], path: tuple[str, ...], *, deleting: bool
    ) -> _Merged:
        strategy = self._schema.lookup(path)
        if strategy.strategy != "merge" and not deleting:
            return _Merged(patch, original)
        return self._merge_list(original, patch, path, strategy.merge_key, deleting=deleting)

    def _merge_list(
        self,
        original: list[Any],
        patch: list[Any],
        path: tuple[str, ...],
        merge_key: str,
        *,
        deleting: bool,
    ) -> _Merged:
        if not original and not patch:
            return _Merged(original, original)
        kind = _element_kind(original, patch)
        if kind != "dict":
            if deleting:
                doomed = {_token(item) for item in patch}
                return _Merged([v for v in original if _token(v) not in doomed], original)
            merged = _deduplicate(original + patch)
            ordered = _order(merged, patch, original, merge_key, by_key=False)
            return _Merged(ordered, original)
        if not merge_key:
            raise PatchError(f"cannot merge lists without merge key for {'.'.join(path)}", code=400)
        return self._merge_objects(original, patch, path, merge_key)

    def _merge_objects(
        self, original: list[Any], patch: list[Any], path: tuple[str, ...], merge_key: str
    ) -> _Merged:
        live = list(original)
        view = list(original)
        used = len(view)  # how much of the shared backing array `live` still covers

        plain: list[dict[str, Any]] = []
        replace = False
        for item in patch:
            directive = item.get(_PATCH, _ABSENT)
            if directive is _ABSENT:
                plain.append(item)
            elif directive == "delete":
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key)
                while (index := _find(live, merge_key, item[merge_key])) is not None:
                    del live[index]
                    view[index : used - 1] = view[index + 1 : used]
                    used -= 1
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise PatchError("merging lists cannot yet be specified in the patch", code=400)
            else:
                raise PatchError(f"unknown patch type: {directive} in map: {item}", code=400)
        if replace:
            # The patch's plain items are the list, unmerged, in their own order.
            return _Merged(_order(plain, [], plain, merge_key, by_key=True), view)

        survivors = list(live)
        for item in plain:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            index = _find(live, merge_key, item[merge_key])
            if index is not None:
                live[index] = self.merge_map(live[index], item, path)
            else:
                live.append(item)
                if used < len(view):
                    view[used] = item
                    used += 1
        ordered = _order(live, plain, survivors, merge_key, by_key=True)
        return _Merged(ordered, view)

    def _set_element_orders(
        self, original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]
    ) -> None:
        for key in [k for k in patch if k.startswith(_SET_ORDER)]:
            order = patch.pop(key)
            if not isinstance(order, list):
                raise PatchError(f"{key} must be a list, not {_kind(order)}", code=400)
            name = _directive_field(key, _SET_ORDER)
            live = original.get(name, _ABSENT)
            wanted = patch.pop(name, _ABSENT)
            for value in (live, wanted):
                if value is not _ABSENT and not isinstance(value, list):
                    raise PatchError(f"{name} must be a list to be ordered by {key}", code=400)
            here = (*path, name)
            merge_key = self._schema.lookup(here).merge_key
            _check_order(wanted if wanted is not _ABSENT else [], order, merge_key)
            if wanted is _ABSENT:
                if live is _ABSENT:
                    continue
                merged = _Merged(live, live)
            elif live is _ABSENT:
                merged = _Merged(_without_directives(wanted), [])
            else:
                merged = self._merge_list_field(live, wanted, here, deleting=False)
            kind = _element_kind(
                [] if live is _ABSENT else live, [] if wanted is _ABSENT else wanted
            )
            original[name] = _order(
                merged.items, order, merged.live_view, merge_key, by_key=kind == "dict"
            )


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply `$retainKeys`: drop live keys it does not list; the patch may set only those."""
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list) or any(isinstance(k, (dict, list)) for k in keep):
        raise PatchError("invalid patch format of retainKeys", code=400)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM, _SET_ORDER)):
            continue
        if key not in keep:
            raise PatchError("invalid patch format of retainKeys", code=400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _put_wholesale(original: dict[str, Any], key: str, value: Any) -> None:
    """Set a value that replaces whatever was there: no nulls, no `$patch` maps."""
    _discard_nulls(value)
    cleaned = _without_directives(value)
    if cleaned is _ABSENT:
        original.pop(key, None)
    else:
        original[key] = cleaned


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            _discard_nulls(item)
    elif isinstance(value, list):
        for item in value:
            _discard_nulls(item)


def _without_directives(value: Any) -> Any:
    """`value` without the maps that carry `$patch` (`_ABSENT` if it is one)."""
    if isinstance(value, dict):
        if _PATCH in value:
            return _ABSENT
        kept = {k: _without_directives(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not _ABSENT}
    if isinstance(value, list):
        kept_items = [_without_directives(item) for item in value]
        return [item for item in kept_items if item is not _ABSENT]
    return value


def _directive_field(key: str, prefix: str) -> str:
    head, slash, name = key.partition("/")
    if head != prefix or not slash:
        what = "primitive list" if prefix == _DELETE_FROM else "setElementOrder list"
        raise PatchError(f"invalid patch format of {what}", code=400)
    return name


def _check_order(patch: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's items must appear in `$setElementOrder`, in the same order."""
    if not order or not patch:
        return
    items = [i for i in patch if not _is_delete(i)] if merge_key else patch
    at = seen = 0
    while at < len(items) and seen < len(order):
        if isinstance(items[at], dict) and _PATCH in items[at]:
            at += 1
            continue
        if _same_item(items[at], order[seen], merge_key):
            at += 1
        seen += 1
    # Like Kubernetes, a directive item left after the order is used up counts as a mismatch.
    if at < len(items):
        raise PatchError(
            f"The order in patch list:\n{patch}\n doesn't match {_SET_ORDER} list:\n{order}\n",
            code=400,
        )


def _is_delete(item: Any) -> bool:
    if not isinstance(item, dict):
        raise PatchError(f"expected a map, but received {_kind(item)}", code=400)
    return bool(item.get(_PATCH) == "delete")


def _same_item(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise PatchError(f"expected a map, but received {_kind(item)}", code=400)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return _same(left[merge_key], right[merge_key])


def _order(
    merged: list[Any], order: list[Any], live: list[Any], merge_key: str, *, by_key: bool
) -> list[Any]:
    """Order `merged`: items named in `order` as there, the rest as in `live`,
    and interleave the two (see the module docstring)."""
    named, server_only = _partition(merged, order, merge_key)
    named = _sort_against(named, order, merge_key, by_key=by_key)
    server_only = _sort_against(server_only, live, merge_key, by_key=by_key)
    position = _positions(live, merge_key, by_key=by_key)
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(named):
        left = position.get(_identity(server_only[i], merge_key, by_key=by_key))
        right = position.get(_identity(named[j], merge_key, by_key=by_key))
        if left is not None and right is not None and left < right:
            result.append(server_only[i])
            i += 1
        else:
            result.append(named[j])
            j += 1
    return result + server_only[i:] + named[j:]


def _partition(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split `items` into those that appear in `by` and the others."""
    inside: list[Any] = []
    outside: list[Any] = []
    if not merge_key:
        present = {_token(item) for item in by}
        for item in items:
            (inside if _token(item) in present else outside).append(item)
        return inside, outside
    for item in items:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map, but received {_kind(item)}", code=400)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        found = _find(by, merge_key, item[merge_key]) is not None
        (inside if found else outside).append(item)
    return inside, outside


def _sort_against(items: list[Any], order: list[Any], merge_key: str, *, by_key: bool) -> list[Any]:
    """Stable-sort `items` by their place in `order`; `$patch: delete` items go last."""
    doomed: list[Any] = []
    if by_key:
        for item in (*items, *order):
            if not isinstance(item, dict):
                raise PatchError(f"expected a map, but received {_kind(item)}", code=400)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        doomed = [item for item in items if item.get(_PATCH) == "delete"]
        items = [item for item in items if item.get(_PATCH) != "delete"]
    position = _positions(order, merge_key, by_key=by_key)
    # -1: not in `order`.
    ranks = [position.get(_identity(item, merge_key, by_key=by_key), -1) for item in items]
    if -1 not in ranks:
        ranked = sorted(range(len(items)), key=ranks.__getitem__)
        return [items[i] for i in ranked] + doomed
    # Kubernetes' comparison says "less" whenever either item is not in `order`,
    # which is no ordering at all; the result is whatever Go's insertion sort
    # makes of it (exact up to 20 items, where Go switches to merging blocks).
    result = list(items)
    for i in range(1, len(result)):
        j = i
        while j > 0 and (-1 in (ranks[j], ranks[j - 1]) or ranks[j] < ranks[j - 1]):
            result[j], result[j - 1] = result[j - 1], result[j]
            ranks[j], ranks[j - 1] = ranks[j - 1], ranks[j]
            j -= 1
    return result + doomed


def _positions(items: list[Any], merge_key: str, *, by_key: bool) -> dict[Any, int]:
    position: dict[Any, int] = {}
    for index, item in enumerate(items):
        position.setdefault(_identity(item, merge_key, by_key=by_key), index)
    return position


def _identity(item: Any, merge_key: str, *, by_key: bool) -> Any:
    if by_key:
        return _token(item.get(merge_key) if isinstance(item, dict) else None)
    return _token(item)


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {index} is not a map", code=400)
        if merge_key in item and _same(item[merge_key], value):
            return index
    return None


def _deduplicate(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    unique = []
    for item in items:
        token = _token(item)
        if token not in seen:
            seen.add(token)
            unique.append(item)
    return unique


def _element_kind(*lists: list[Any]) -> str:
    """The one kind of item in all `lists`; Kubernetes refuses mixed lists."""
    first = ""
    for items in lists:
        for item in items:
            kind = _kind(item)
            if not first:
                if kind == "null":
                    raise PatchError("list items must not be null", code=400)
                if kind == "list":
                    raise PatchError("lists of lists are not supported", code=422)
                first = kind
            elif kind != first:
                raise PatchError(f"list element types are not identical: {list(lists)}", code=400)
    if not first:
        raise PatchError("no elements in any of the given slices", code=400)
    return first


def _kind(value: Any) -> str:
    """The JSON kind of `value`, telling integers from floats as Go's decoder does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list):
        return "list"
    raise PatchError(f"not a JSON value: {value!r}", code=400)


def _same(left: Any, right: Any) -> bool:
    """Go's == on decoded JSON: equal kinds and values; maps and lists cannot be compared."""
    if _kind(left) != _kind(right):
        return False
    if isinstance(left, (dict, list)):
        raise PatchError("merge key values must be strings or numbers", code=400)
    return bool(left == right)


def _token(value: Any) -> tuple[str, Any]:
    """A hashable stand-in for a scalar that is equal exactly when `_same` says so."""
    kind = _kind(value)
    if kind in ("dict", "list"):
        raise PatchError("cannot use a map or a list as a set member or merge key", code=400)
    return kind, value


def _no_merge_key(item: Any, merge_key: str) -> PatchError:
    return PatchError(f"map: {item} does not contain declared merge key: {merge_key}", code=400)
