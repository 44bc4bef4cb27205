"""Unknown and duplicate fields of objects, found from their schemas.

kube-apiserver decodes a body into Go structs, so a field the struct lacks
is never stored; `fieldValidation` only says what the client hears about
it: `Strict` refuses the request (`strict decoding error: unknown field
"spec.foo", duplicate field "spec.replicas"`), `Warn` (the default when the
parameter is absent) sends one `Warning` header per field, `Ignore` says
nothing. Here the OpenAPI schemas become a `FieldTable` (each type's field
names and what each holds), and pure functions walk an object against it:
`prune` drops unknown fields in place and names them, `strict_errors` walks
the body's key/value pairs as sent (duplicates kept) and names both kinds
in document order, as Go's strict decoder reports them. A field that is
both unknown and repeated is reported once, as unknown, as Go does.
Patches report the patch's repeated keys, then the patched object's unknown
fields; custom resources what their structural schema prunes
(`structural_unknown`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from kybernetes.apiserver import errors
from kybernetes.util.memo import Memo, json_key

__all__ = [
    "ANY",
    "FIELD_VALIDATIONS",
    "FieldTable",
    "Node",
    "check_custom_object",
    "check_object",
    "duplicates",
    "field_table",
    "field_validation",
    "go_repr",
    "has_repeated_keys",
    "json_pairs",
    "patch_check",
    "patch_verdict",
    "prune",
    "prune_counting",
    "strict_errors",
    "structural_unknown",
    "yaml_duplicates",
]

# What a field holds: a type's name (a key of the table), a list of or a map
# of something, or ANY (a scalar, or something open: nothing to check inside).
Node = str | tuple[str, "Node"] | None
ANY: Node = None
FieldTable = dict[str, dict[str, Node]]
FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")
_REF = "#/components/schemas/"


def field_validation(value: str, options: str = "CreateOptions") -> str:
    """The `fieldValidation` directive: absent is Warn; another value is refused
    as kube-apiserver refuses it, a 422 on the request's `options` kind
    (CreateOptions, UpdateOptions or PatchOptions)."""
    if not value:
        return "Warn"
    if value not in FIELD_VALIDATIONS:
        supported = ", ".join(f'"{v}"' for v in ("", "Ignore", "Strict", "Warn"))
        message = f'Unsupported value: "{value}": supported values: {supported}'
        cause = errors.Cause("fieldValidation", "FieldValueNotSupported", message)
        raise errors.invalid(options, "", [cause], "meta.k8s.io")
    return value


def _node(schema: dict[str, Any]) -> Node:
    for part in schema.get("allOf") or ():
        ref = str(part.get("$ref", ""))
        if ref.startswith(_REF):
            return ref[len(_REF) :]
    ref = str(schema.get("$ref", ""))
    if ref.startswith(_REF):
        return ref[len(_REF) :]
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return ("[]", _node(schema["items"]))
    additional = schema.get("additionalProperties")
    if schema.get("type") == "object" and isinstance(additional, dict):
        return ("{}", _node(additional))
    return ANY


def field_table(schemas: dict[str, Any]) -> FieldTable:
    """Each closed object type's fields. Types with no properties, or that
    keep unknown fields, are left out: anything goes inside them."""
    table: FieldTable = {}
    for name, schema in schemas.items():
        properties = schema.get("properties")
        if not properties or schema.get("x-kubernetes-preserve-unknown-fields"):
            continue
        table[name] = {field: _node(prop) for field, prop in properties.items()}
    return table


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def prune(obj: Any, node: Node, table: FieldTable, *, sort_keys: bool = False) -> list[str]:
    """Remove from `obj` (in place) every field its type lacks; their paths,
    in the object's order (or sorted, as Go walks a patched object's map)."""
    return prune_counting(obj, node, table, sort_keys=sort_keys)[0]


def prune_counting(
    obj: Any, node: Node, table: FieldTable, *, sort_keys: bool = False
) -> tuple[list[str], int]:
    """`prune`, and how many keys the maps of `obj` held before it: what
    `has_repeated_keys` compares with the text, counted in the same walk."""
    unknown: list[str] = []
    fields = table.get(node) if isinstance(node, str) else None
    if fields is None or not isinstance(obj, dict):
        return unknown, _prune(obj, node, table, [], unknown, sort_keys)
    return unknown, _prune_fields(obj, fields, table, [], unknown, sort_keys, _prune_kept)


def _prune_kept(
    value: Any, node: Node, table: FieldTable, where: list[str | int], out: list[str],
    sort_keys: bool,
) -> int:  # fmt: skip
    """`_prune` of a top-level field, whose verdict depends on its JSON alone:
    objects made from one template (a ReplicaSet's pods) share their spec's.
    Only a field with nothing to drop is kept (its key count); metadata, each
    object's own, is walked every time."""
    if not isinstance(node, str) or node == _OBJECT_META:
        return _prune(value, node, table, where, out, sort_keys)
    text = json_key(value)
    memo_key = (id(table), node, text)
    if text is not None:
        kept = _PRUNED.get(memo_key)
        # The kept entry holds its table, so its id names it while the entry lives.
        if kept is not None and kept[0] is table:
            return kept[1]
    before = len(out)
    count = _prune(value, node, table, where, out, sort_keys)
    if text is not None and len(out) == before:
        _PRUNED.put(memo_key, (table, count))
    return count


# Top-level fields with nothing unknown, by their JSON: 256 of up to KEY_BYTES.
_PRUNED: Memo[tuple[int, str, bytes | None], tuple[FieldTable, int]] = Memo(256)


_CONTAINERS = (dict, list)


def _path_string(where: list[str | int], key: str) -> str:
    """`where` (keys and list positions down to a map) and its `key`, written as
    `a.b[0].c`; built only for a field being reported, never on the way down."""
    text = ""
    for step in [*where, key]:
        text = f"{text}[{step}]" if isinstance(step, int) else _join(text, step)
    return text


def _prune(
    value: Any,
    node: Node,
    table: FieldTable,
    where: list[str | int],
    out: list[str],
    sort_keys: bool,
) -> int:
    """`value` pruned by `node`; `where` is the path to it, grown and shrunk in
    place. Only maps and lists are visited: a scalar has no fields to drop.
    Returns how many keys `value`'s maps held, the dropped ones included."""
    if node is None:
        return _count_keys(value)
    if isinstance(node, tuple):
        shape, inner = node
        if inner is None:
            return _count_keys(value)
        if shape == "[]" and isinstance(value, list):
            count = 0
            for i, item in enumerate(value):
                if isinstance(item, _CONTAINERS):
                    where.append(i)
                    count += _prune(item, inner, table, where, out, sort_keys)
                    where.pop()
            return count
        if shape == "{}" and isinstance(value, dict):
            count = len(value)
            for key in sorted(value) if sort_keys else list(value):
                item = value[key]
                if isinstance(item, _CONTAINERS):
                    where.append(key)
                    count += _prune(item, inner, table, where, out, sort_keys)
                    where.pop()
            return count
        return _count_keys(value)
    fields = table.get(node)
    if fields is None or not isinstance(value, dict):
        return _count_keys(value)
    return _prune_fields(value, fields, table, where, out, sort_keys, _prune)


def _prune_fields(
    value: dict[str, Any],
    fields: dict[str, Node],
    table: FieldTable,
    where: list[str | int],
    out: list[str],
    sort_keys: bool,
    walk: Callable[..., int],
) -> int:
    """`_prune` of a struct: its unknown fields dropped, its known ones `walk`ed."""
    count = len(value)
    for key in sorted(value) if sort_keys else list(value):
        item = value[key]
        if key not in fields:
            out.append(_path_string(where, key))
            count += _count_keys(item)
            del value[key]
            continue
        if isinstance(item, _CONTAINERS):
            where.append(key)
            count += walk(item, fields[key], table, where, out, sort_keys)
            where.pop()
    return count


_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def structural_unknown(value: Any, schema: dict[str, Any], meta: FieldTable) -> list[str]:
    """The paths a custom resource's structural schema prunes, sorted (as
    kube-apiserver reports them); `metadata` is checked against ObjectMeta
    in `meta`. Nothing is removed: the resource's strategy prunes."""
    out: list[str] = []
    if isinstance(value, dict):
        _object_fields(value, schema, "", meta, out)
    return sorted(out)


def _object_fields(
    value: dict[str, Any], schema: dict[str, Any], path: str, meta: FieldTable, out: list[str]
) -> None:
    """A whole object (the root, or an `x-kubernetes-embedded-resource`): its
    apiVersion and kind are known, its metadata is an ObjectMeta."""
    for key in sorted(value):
        if key == "metadata":
            copy_ = _copy_dict(value[key])
            out += [_join(path, f"metadata.{p}") for p in prune(copy_, _OBJECT_META, meta)]
        elif key not in _ROOT_FIELDS:
            _structural(value[key], _child(schema, key), _join(path, key), meta, out)


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OPEN: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


def _copy_dict(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _child(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The schema of field `key`, or None when the schema prunes it."""
    properties = schema.get("properties") or {}
    if key in properties:
        return dict(properties[key])
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        return additional
    if additional is True or schema.get("x-kubernetes-preserve-unknown-fields"):
        return _OPEN
    return None


def _structural(
    value: Any, schema: dict[str, Any] | None, path: str, meta: FieldTable, out: list[str]
) -> None:
    if schema is None:
        out.append(path)
        return
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            _object_fields(value, schema, path, meta, out)
            return
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
            return
        for key, item in value.items():
            _structural(item, _child(schema, key), _join(path, key), meta, out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _structural(item, schema["items"], f"{path}[{i}]", meta, out)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as sent: its key/value pairs in order, repeats kept."""


def json_pairs(raw: bytes) -> Any:
    """`raw` parsed with every object as `_Pairs`, so repeated keys survive.

    Only called on bodies orjson has already accepted (and bounded in depth).
    """
    return json.loads(raw, object_pairs_hook=_Pairs)


class _Repeated(Exception):
    pass


# A key's closing quote: a quote after a backslash is one inside a string (`\"`),
# unless the backslash is itself escaped, which `_ESCAPED_BACKSLASH_QUOTE` catches.
_KEY_END = re.compile(rb'(?<!\\)"[ \t\r\n]*:')
_ESCAPED_BACKSLASH_QUOTE = b'\\\\"'


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Repeated
    return obj


def has_repeated_keys(raw: bytes, *, keys: int | None = None) -> bool:
    """Whether any object of the JSON document `raw` repeats a key.

    With `keys` (how many keys the objects of `raw` as parsed hold, as
    `prune_counting` finds them), most bodies are answered by counting: every
    key in the text ends with an unescaped quote followed by a colon (a
    quote-colon inside a string is `\\"` and a colon: managedFields are full
    of them), so the text holds as many as the parsed objects hold keys if no
    key repeats, more if one does. A text with an escaped backslash before a
    quote cannot be counted so. Otherwise a parse with a hook that only
    compares counts: a fraction of building the `_Pairs` tree and walking it
    in Python, which nearly every body has nothing to report from.
    """
    if keys is not None and _ESCAPED_BACKSLASH_QUOTE not in raw and _keys_in_text(raw) == keys:
        return False
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs)
    except _Repeated:
        return True
    return False


def _keys_in_text(raw: bytes) -> int:
    """How many key-closing quote-colons `raw` holds (no escaped backslash before a quote).

    Compact JSON (what kubectl and most clients send) is counted with
    `bytes.count`: with no tab or line break and no unescaped quote before a
    space, every key's quote touches its colon. Otherwise the regex, 5x slower.
    """
    if (
        b"\n" not in raw
        and b"\t" not in raw
        and b"\r" not in raw
        and raw.count(b'" ') == raw.count(b'\\" ')
    ):
        return raw.count(b'":') - raw.count(b'\\":')
    return len(_KEY_END.findall(raw))


def _count_keys(value: Any) -> int:
    """Keys in every object of a parsed JSON value (a loop, no recursion: every body pays it)."""
    count = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            count += len(node)
            node = node.values()
        elif type(node) is not list:
            continue
        for child in node:
            if type(child) is dict or type(child) is list:
                stack.append(child)
    return count


def strict_errors(tree: Any, node: Node, table: FieldTable) -> list[str]:
    """`duplicate field "p"` and `unknown field "p"` for a body parsed by
    `json_pairs`, in document order; `node` None finds only duplicates."""
    out: list[str] = []
    _walk(tree, node, table, "", out)
    return out


def _items(value: Any) -> Iterator[tuple[str, Any]]:
    return iter(value) if isinstance(value, _Pairs) else iter(())


def _walk(value: Any, node: Node, table: FieldTable, path: str, out: list[str]) -> None:
    if isinstance(node, tuple):
        shape, inner = node
        if shape == "[]" and isinstance(value, list) and not isinstance(value, _Pairs):
            for i, item in enumerate(value):
                _walk(item, inner, table, f"{path}[{i}]", out)
        elif shape == "{}":
            _walk_object(value, None, inner, table, path, out)
        return
    fields = table.get(node) if node is not None else None
    if isinstance(value, _Pairs):
        _walk_object(value, fields, ANY, table, path, out)
    elif isinstance(value, list) and node is None:
        for i, item in enumerate(value):
            _walk(item, ANY, table, f"{path}[{i}]", out)


def _walk_object(
    value: Any,
    fields: dict[str, Node] | None,
    values: Node,
    table: FieldTable,
    path: str,
    out: list[str],
) -> None:
    """An object's pairs: a struct when `fields` is given, else a map of `values`."""
    seen: set[str] = set()
    reported: set[str] = set()
    for key, item in _items(value):
        where = _join(path, key)
        if fields is not None and key not in fields:
            if key not in reported:
                out.append(f'unknown field "{where}"')
                reported.add(key)
            continue
        if key in seen:
            out.append(f'duplicate field "{where}"')
        seen.add(key)
        _walk(item, fields[key] if fields is not None else values, table, where, out)


# -- what a request hears -----------------------------------------------------------


def _strict(messages: list[str]) -> str:
    return "strict decoding error: " + ", ".join(messages)


def check_object(
    body: Any,
    raw: bytes | None,
    *,
    node: str,
    table: FieldTable,
    mode: str,
    kind: str,
    version: str,
    yaml_raw: bytes | None = None,
) -> list[str]:
    """Drop `body`'s unknown fields; under Strict refuse the request (400, as
    Go's strict decoder words it), else return the warnings to send (none under
    Ignore). `raw`, when the body was JSON, is read again for repeated keys;
    `yaml_raw`, when it was YAML, too (Go reports those by line, then the
    unknown fields in sorted order: the YAML went through a Go map)."""
    unknown, keys = prune_counting(body, node, table, sort_keys=yaml_raw is not None)
    if mode == "Ignore":
        return []
    if raw is not None:
        if not unknown and not has_repeated_keys(raw, keys=keys):
            return []  # the walk below reports only unknown and repeated fields
        return _verdict(strict_errors(json_pairs(raw), node, table), mode, kind, version)
    repeated = yaml_duplicates(yaml_raw) if yaml_raw is not None else []
    messages = [*repeated, *(f'unknown field "{path}"' for path in unknown)]
    if repeated and mode == "Strict":
        block = "yaml: unmarshal errors:\n  " + "\n  ".join(repeated)
        messages = [block, *messages[len(repeated) :]]
    return _verdict(messages, mode, kind, version)


def yaml_duplicates(raw: bytes) -> list[str]:
    """`line N: key "k" already set in map` for each repeated key of a YAML
    document, as Go's YAML decoder words it. Read from the parser's events
    (libyaml's, in C), not a composed tree, which costs seconds for a big
    body. Only called on bodies already decoded (so without aliases)."""
    out: list[str] = []
    # One frame per open collection: (seen keys, or None for a sequence; is the next scalar a key?)
    stack: list[list[Any]] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for event in yaml.parse(raw, Loader=loader):
        top = stack[-1] if stack else None
        at_key = top is not None and top[0] is not None and top[1]
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if top is not None and top[0] is not None:
                top[1] = not top[1]  # a collection is a value (keys are scalars here)
            stack.append([set() if isinstance(event, yaml.MappingStartEvent) else None, True])
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
        elif isinstance(event, yaml.ScalarEvent) and top is not None and top[0] is not None:
            if at_key:
                if event.value in top[0]:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    out.append(f"line {line}: key {json.dumps(event.value)} already set in map")
                top[0].add(event.value)
            top[1] = not top[1]
    return out


def check_custom_object(
    body: Any,
    raw: bytes | None,
    *,
    schema: dict[str, Any],
    meta: FieldTable,
    mode: str,
    kind: str,
    version: str,
) -> list[str]:
    """`check_object` for a custom resource: its repeated keys, then what its
    structural schema prunes (the strategy prunes it later)."""
    if mode == "Ignore":
        return []
    messages = duplicates(raw) if raw is not None else []
    messages += [f'unknown field "{p}"' for p in structural_unknown(body, schema, meta)]
    return _verdict(messages, mode, kind, version)


def _verdict(messages: list[str], mode: str, kind: str, version: str) -> list[str]:
    if messages and mode == "Strict":
        raise errors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {_strict(messages)}'
        )
    return messages


def go_repr(value: Any) -> str:
    """A value as Go's `%+v` prints a decoded JSON map (kube-apiserver quotes
    a strategic merge patch this way in its errors)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_repr(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_repr(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def duplicates(raw: bytes) -> list[str]:
    """`duplicate field "p"` for each repeated key of a JSON document (a patch)."""
    return strict_errors(json_pairs(raw), ANY, {}) if has_repeated_keys(raw) else []


def patch_check(
    patched: Any,
    patch: Any,
    repeated: list[str],
    *,
    node: str,
    table: FieldTable,
    mode: str,
    strategic: bool,
) -> list[str]:
    """Drop a patched object's unknown fields; the patch's `repeated` keys
    (from `duplicates`) and then the unknown fields (Go re-encodes the
    patched map, so in sorted order) are refused under Strict: a 400 for
    JSON and merge patches, a 422 on field `patch` for strategic merge
    patches, as kube-apiserver answers."""
    unknown = prune(patched, node, table, sort_keys=True)
    messages = [*repeated, *(f'unknown field "{path}"' for path in unknown)]
    return patch_verdict(messages, patch, mode=mode, strategic=strategic)


def patch_verdict(messages: list[str], patch: Any, *, mode: str, strategic: bool) -> list[str]:
    """What a patch's findings become: nothing (Ignore), warnings (Warn) or an error."""
    if mode == "Ignore":
        return []
    if messages and mode == "Strict":
        if strategic:
            text = f'Invalid value: "{go_repr(patch)}": {_strict(messages)}'
            cause = errors.Cause("patch", "FieldValueInvalid", text)
            raise errors.ApiError(422, "Invalid", f' "" is invalid: patch: {text}',
                                  causes=[cause])  # fmt: skip
        raise errors.bad_request(_strict(messages))
    return messages
