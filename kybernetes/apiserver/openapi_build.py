"""OpenAPI v3 component schemas for the built-in kinds, derived from the
official `kubernetes` Python client's model classes.

Decision: the field names, types, required fields and descriptions come at
run time from the installed client (`openapi_types` for the types,
`attribute_map` for the JSON names, pydantic field descriptions or, in
older clients, property docstrings for the text), so no Kubernetes schema
text lives in this repository. Importing the client's ~850 model modules
costs about a second and tens of MiB, so this module runs in a subprocess
(`python -m kybernetes.apiserver.openapi_build`), prints the schemas as
JSON and exits; the server keeps only that JSON (openapi_source.py).

Model classes carry no group, so a schema's name (`io.k8s.api.core.v1.PodSpec`)
is found from, in order: the group prefix of the class name (`CoreV1Event`,
`EventsV1Event`), the meta/v1 types, the group of a message of the same name
in our protobuf field tables, then the group of the first kind that uses it.
The client follows a newer Kubernetes than the 1.32 we serve, so a few newer
fields may show up in `kubectl explain`.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson

from kybernetes.api.patch import schema_for

__all__ = ["build", "class_for_kind", "schema_name"]

# Schema name prefixes per group, as kube-apiserver names its definitions.
_PACKAGES = {
    "meta": "io.k8s.apimachinery.pkg.apis.meta",
    "apiextensions": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "intstr": "io.k8s.apimachinery.pkg.util.intstr",
}
# Our protobuf tables' short group names -> the API group's first label.
_PROTOBUF_GROUPS = {"authz": "authorization", "authn": "authentication",
                    "autoscaling1": "autoscaling", "autoscaling2": "autoscaling",
                    "certs": "certificates"}  # fmt: skip
# meta/v1 types a built-in kind reaches that our protobuf tables may not list.
_META_TYPES = frozenset({
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause",
    "DeleteOptions", "Preconditions",
})  # fmt: skip
_CLASS_NAME = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
_LIST = re.compile(r"^(?:List\[|list\[)(.*)\]$")
_DICT = re.compile(r"^(?:Dict\[str, |dict\(str, )(.*)[\])]$")
_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def _group_label(group: str) -> str:
    """The first label of an API group ("" is core), as schema names use it."""
    return group.split(".")[0] if group else "core"


def schema_name(label: str, version: str, short: str) -> str:
    package = _PACKAGES.get(label, f"io.k8s.api.{label}")
    return f"{package}.{version}.{short}"


def class_for_kind(models: Any, group: str, version: str, kind: str) -> type | None:
    """The client's model class of a kind: `CoreV1Event`/`EventsV1Event`
    where two groups share a kind name, else `V1Deployment`."""
    prefix = _group_label(group).capitalize()
    ver = version[0].upper() + version[1:]
    for name in (f"{prefix}{ver}{kind}", f"{ver}{kind}"):
        cls = getattr(models, name, None)
        if isinstance(cls, type):
            return cls
    return None


def _description(cls: type) -> str:
    """A class's own docstring, without the generator's "Attributes:" block."""
    doc = textwrap.dedent(cls.__doc__ or "").split("Attributes:")[0]
    if "No description" in doc or "auto generated" in doc:
        return ""  # older clients' classes carry only the generator's notice
    return " ".join(doc.split())


class _Builder:
    def __init__(self, models: Any, protobuf_groups: dict[str, str]) -> None:
        self.models = models
        self.protobuf_groups = protobuf_groups
        self.schemas: dict[str, Any] = {}
        self.names: dict[type, str] = {}
        self.pending: deque[tuple[type, str]] = deque()

    def name_of(self, cls: type, owner_label: str) -> str:
        if cls in self.names:
            return self.names[cls]
        match = _CLASS_NAME.match(cls.__name__)
        prefix, ver, short = match.groups() if match else ("", "V1", cls.__name__)
        label = (prefix or "").lower()
        if not label and short in _META_TYPES:
            label = "meta"
        elif not label:
            label = self.protobuf_groups.get(short, owner_label)
        name = schema_name(label, ver.lower(), short)
        self.names[cls] = name
        self.pending.append((cls, label))
        return name

    def property_schema(self, type_name: str, annotation: Any, owner_label: str) -> dict[str, Any]:
        if type_name in _SCALARS:
            return dict(_SCALARS[type_name])
        if type_name == "object":
            if "int" in str(annotation) and "str" in str(annotation):
                return {"allOf": [{"$ref": f"#/components/schemas/{INT_OR_STRING}"}]}
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if match := _LIST.match(type_name):
            return {"type": "array", "items": self.item(match.group(1), owner_label)}
        if match := _DICT.match(type_name):
            return {
                "type": "object",
                "additionalProperties": self.item(match.group(1), owner_label),
            }
        cls = getattr(self.models, type_name, None)
        if not isinstance(cls, type):
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        ref = self.name_of(cls, owner_label)
        # Newer clients drop the descriptions of struct-typed fields. kubectl
        # explain shows the type's own description below a field's, so copying
        # it here would print it twice; the field lists say <no description>.
        return {"allOf": [{"$ref": f"#/components/schemas/{ref}"}], "default": {}}

    def item(self, type_name: str, owner_label: str) -> dict[str, Any]:
        schema = self.property_schema(type_name, None, owner_label)
        schema.pop("description", None)  # items carry no text of their own
        if schema.get("type") == "string":
            schema["default"] = ""  # as kube-apiserver's items of strings say
        return schema

    def class_schema(self, cls: type, label: str) -> dict[str, Any]:
        fields = getattr(cls, "model_fields", {})
        properties: dict[str, Any] = {}
        required: list[str] = []
        types: dict[str, str] = getattr(cls, "openapi_types", {})
        json_names: dict[str, str] = getattr(cls, "attribute_map", {})
        for attr, type_name in types.items():
            json_name = json_names.get(attr, attr)
            info = fields.get(attr)
            schema = self.property_schema(type_name, getattr(info, "annotation", None), label)
            text = getattr(info, "description", None) or _property_doc(cls, attr)
            if text:
                schema["description"] = text
            properties[json_name] = schema
            # The generator also marks struct fields with a default ({}) as
            # required (a Deployment's spec); only scalars' flags mean it.
            if info is not None and info.is_required() and "allOf" not in schema:
                required.append(json_name)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if description := _description(cls):
            out["description"] = description
        if required:
            out["required"] = required
        if not properties:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out

    def drain(self) -> None:
        while self.pending:
            cls, label = self.pending.popleft()
            self.schemas[self.names[cls]] = self.class_schema(cls, label)


def _property_doc(cls: type, attr: str) -> str:
    """Older (non-pydantic) clients: the text is the property's docstring."""
    prop = cls.__dict__.get(attr)
    doc = getattr(prop, "__doc__", None) or ""
    first = doc.split(":param")[0].split(":return")[0]
    text = " ".join(first.split())
    # The generator's boilerplate line ("Gets the x of this V1Foo.") says nothing.
    return re.sub(r"^(Gets|Sets) the \w+ of this \w+\.\s*", "", text)


def _protobuf_groups() -> dict[str, str]:
    from kybernetes.apiserver.protobuf.messages import MESSAGES

    out: dict[str, str] = {}
    for message in MESSAGES:
        prefix, _, short = message.partition(".")
        out.setdefault(short, _PROTOBUF_GROUPS.get(prefix, prefix))
    return out


def _target(schemas: dict[str, Any], prop: dict[str, Any]) -> str | None:
    """The type a property holds, itself or as the items of its list."""
    for holder in (prop, prop.get("items") or {}):
        for part in holder.get("allOf") or ():
            return str(part["$ref"]).rsplit("/", 1)[1]
    return None


def annotate_patch_strategies(
    schemas: dict[str, Any], name: str, fields: dict[tuple[str, ...], Any]
) -> None:
    """Mark the properties our strategic-merge-patch table lists
    (kybernetes/api/patch/merge_keys.py) with the `x-kubernetes-patch-strategy`
    and `x-kubernetes-patch-merge-key` kube-apiserver publishes for them."""
    for path, strategy in fields.items():
        current: str | None = name
        for depth, segment in enumerate(path):
            props = (schemas.get(current or "") or {}).get("properties") or {}
            prop = props.get(segment)
            if prop is None:
                break
            if depth < len(path) - 1:
                current = _target(schemas, prop)
                continue
            parts = [strategy.strategy] if strategy.strategy else []
            parts += ["retainKeys"] if strategy.retain_keys else []
            if parts:
                prop["x-kubernetes-patch-strategy"] = ",".join(parts)
            if strategy.merge_key:
                prop["x-kubernetes-patch-merge-key"] = strategy.merge_key


def build(kinds: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """{"client": version, "schemas": {name: schema}, "kinds": {"group/version/Kind": name}}
    for every (group, version, kind) the client has a model of, and every type they reach."""
    client = importlib.import_module("kubernetes")
    models = importlib.import_module("kubernetes.client.models")
    builder = _Builder(models, _protobuf_groups())
    found: dict[str, str] = {}
    for group, version, kind in kinds:
        cls = class_for_kind(models, group, version, kind)
        if cls is None:
            continue
        label = _group_label(group)
        # The kind's own schema is named by its group, whatever its class is called.
        name = builder.names.get(cls) or schema_name(label, version, kind)
        if cls not in builder.names:
            builder.names[cls] = name
            builder.pending.append((cls, label))
        builder.drain()
        builder.schemas[name]["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
        found[f"{group}/{version}/{kind}"] = name
        annotate_patch_strategies(
            builder.schemas, name, dict(schema_for(group, version, kind).fields)
        )
    builder.schemas[INT_OR_STRING] = {
        "type": "string",
        "format": "int-or-string",
        "description": "An int32 or a string.",
        "x-kubernetes-int-or-string": True,
    }
    return {"client": str(client.__version__), "schemas": builder.schemas, "kinds": found}


def main() -> None:
    from kybernetes.apiserver.resources import BUILTIN_TYPES

    kinds = [(rt.group, rt.version, rt.kind) for rt in BUILTIN_TYPES]
    sys.stdout.buffer.write(orjson.dumps(build(kinds)))


if __name__ == "__main__":
    main()
