"""JSON Patch (RFC 6902) as the Kubernetes API server applies it.

Decision: RFC 6902 plus the leniencies of the library behind the API server
(evanphx/json-patch v4), because clients written against a real cluster rely
on them:

- `replace` of a missing object member adds it (the RFC calls it an error);
- array indices may be negative and count from the end; for `add`, -1 appends;
  an index may carry a sign or leading zeros ("01");
- `test` with the value null passes when the member is missing, and `copy`
  from a missing member copies null: Kubernetes treats null and absent alike.

Everything else the RFC calls an error is one here too. A path must start with
"/" (the upstream library would read "a/b" as "/b"), and the root "" works for
`add`, `replace`, `test` and `copy` as the RFC says.

This module is also the home of `PatchError` and of the JSON value helpers
that the merge patch and the strategic merge patch share.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PatchError", "apply_json_patch", "clone", "json_equal"]

_INDEX = re.compile(r"[+-]?[0-9]+")
_MISSING: Any = object()


class PatchError(ValueError):
    """A patch that cannot be applied.

    `code` is the HTTP status the Kubernetes API server answers with for the
    same mistake: 400 for a malformed patch document, 422 for a patch that
    does not apply to this object, and 500 where Kubernetes, surprisingly,
    lets the error through as an internal one (see the strategic merge patch).
    """

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts and lists are copied, scalars shared)."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


def json_equal(left: Any, right: Any) -> bool:
    """Whether two JSON values are equal as JSON: true is not 1, and 1 is not 1.0."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return bool(left == right)


def apply_json_patch(doc: Any, ops: Any) -> Any:
    """Apply the operations `ops` (a decoded JSON Patch document) to `doc`.

    Returns a new document; `doc` and `ops` are never changed. Raises
    `PatchError` naming the operation and path that failed.
    """
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations", code=400)
    result = clone(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(f"a JSON patch operation must be an object, not {op!r}", code=400)
        result = _apply_one(result, op)
    return result


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    if kind not in _OPERATIONS:
        raise PatchError(f"Unexpected kind: {kind}")
    path = _string_member(op, "path", kind)
    return _OPERATIONS[kind](doc, op, path)


def _add(doc: Any, op: dict[str, Any], path: str) -> Any:
    value = clone(_value_member(op, "add"))
    if path == "":
        return value
    parent, key = _parent(doc, path, "add")
    _insert(parent, key, value, path=path, kind="add")
    return doc


def _remove(doc: Any, op: dict[str, Any], path: str) -> Any:
    if path == "":
        raise PatchError('remove operation does not apply: cannot remove the root ""')
    parent, key = _parent(doc, path, "remove")
    _delete(parent, key, path=path, kind="remove")
    return doc


def _replace(doc: Any, op: dict[str, Any], path: str) -> Any:
    value = clone(_value_member(op, "replace"))
    if path == "":
        return value
    parent, key = _parent(doc, path, "replace")
    if isinstance(parent, dict):
        # Kubernetes adds a missing member instead of failing (see the docstring).
        parent[key] = value
    else:
        parent[_index(parent, key, path=path, kind="replace")] = value
    return doc


def _move(doc: Any, op: dict[str, Any], path: str) -> Any:
    source = _string_member(op, "from", "move")
    if path.startswith(source + "/") or source == "":
        raise PatchError(f'move operation does not apply: "{source}" cannot move into "{path}"')
    parent, key = _parent(doc, source, "move")
    value = _delete(parent, key, path=source, kind="move")
    if path == "":
        return value
    parent, key = _parent(doc, path, "move")
    _insert(parent, key, value, path=path, kind="move")
    return doc


def _copy(doc: Any, op: dict[str, Any], path: str) -> Any:
    source = _string_member(op, "from", "copy")
    value = clone(doc if source == "" else _get(doc, source, "copy"))
    if path == "":
        return value
    parent, key = _parent(doc, path, "copy")
    _insert(parent, key, value, path=path, kind="copy")
    return doc


def _test(doc: Any, op: dict[str, Any], path: str) -> Any:
    expected = _value_member(op, "test")
    actual = doc if path == "" else _get(doc, path, "test")
    if not json_equal(actual, expected):
        raise PatchError(f"testing value {path} failed: test failed")
    return doc


_OPERATIONS = {
    "add": _add,
    "remove": _remove,
    "replace": _replace,
    "move": _move,
    "copy": _copy,
    "test": _test,
}


def _string_member(op: dict[str, Any], name: str, kind: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise PatchError(f'{kind} operation needs a string "{name}" member')
    return value


def _value_member(op: dict[str, Any], kind: str) -> Any:
    if "value" not in op:
        raise PatchError(f'{kind} operation needs a "value" member')
    return op["value"]


def _tokens(path: str, kind: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f'{kind} operation does not apply: path "{path}" does not start with "/"')
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _parent(doc: Any, path: str, kind: str) -> tuple[Any, str]:
    """The container that holds the last token of `path`, and that token."""
    *walk, key = _tokens(path, kind)
    node = doc
    for token in walk:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list):
            node = node[_index(node, token, path=path, kind=kind)]
        else:
            node = None
        if not isinstance(node, (dict, list)):
            raise PatchError(f'{kind} operation does not apply: doc is missing path: "{path}"')
    if not isinstance(node, (dict, list)):
        raise PatchError(f'{kind} operation does not apply: doc is missing path: "{path}"')
    return node, key


def _get(doc: Any, path: str, kind: str) -> Any:
    parent, key = _parent(doc, path, kind)
    if isinstance(parent, dict):
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            # Missing reads as null, as in Kubernetes (see the module docstring).
            return None
        return value
    return parent[_index(parent, key, path=path, kind=kind)]


def _insert(parent: Any, key: str, value: Any, *, path: str, kind: str) -> None:
    if isinstance(parent, dict):
        parent[key] = value
        return
    if key == "-":
        parent.append(value)
        return
    index = _parse_index(key, path=path, kind=kind)
    size = len(parent) + 1
    if index < 0:
        index += size
    if not 0 <= index < size:
        raise PatchError(f"{kind} operation does not apply: index {key} is out of range in {path}")
    parent.insert(index, value)


def _delete(parent: Any, key: str, *, path: str, kind: str) -> Any:
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchError(f'{kind} operation does not apply: doc is missing key: "{path}"')
        return parent.pop(key)
    return parent.pop(_index(parent, key, path=path, kind=kind))


def _index(items: list[Any], key: str, *, path: str, kind: str) -> int:
    """An existing position in `items`, negative positions counting from the end."""
    index = _parse_index(key, path=path, kind=kind)
    if index < 0:
        index += len(items)
    if not 0 <= index < len(items):
        raise PatchError(f"{kind} operation does not apply: index {key} is out of range in {path}")
    return index


def _parse_index(key: str, *, path: str, kind: str) -> int:
    if not _INDEX.fullmatch(key):
        raise PatchError(
            f"{kind} operation does not apply: {key!r} is not an array index in {path}"
        )
    return int(key)
