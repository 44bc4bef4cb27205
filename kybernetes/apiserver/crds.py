"""CustomResourceDefinitions: a CRD adds its resource while the server runs.

Creating or updating a CRD registers one `ResourceType` per served version
(so routing, discovery and OpenAPI pick it up at once), a strategy that
prunes and validates by the version's structural schema, and its
`additionalPrinterColumns`; the CRD's status says Established. Deleting a
CRD deletes its objects, then the resource. Every version is stored alike
(no conversion): an object read through another version only gets that
version's apiVersion. Each served version validates with its own schema
and prints its own columns.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.apiserver import errors, strategies
from kybernetes.apiserver.crd_strategy import CustomResourceStrategy
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.printers import CUSTOM_RESOURCE_COLUMNS, VERSIONED_COLUMNS
from kybernetes.apiserver.printers.common import NAME, Column
from kybernetes.apiserver.printers.custom import column_cell
from kybernetes.apiserver.resources import ResourceRegistry, ResourceType

__all__ = ["CrdRegistrar", "printer_columns", "resource_types"]

log = logging.getLogger(__name__)


def _revision(resource_version: str | None) -> int:
    return int(resource_version) if resource_version and resource_version.isdigit() else 0


def resource_types(crd: Obj) -> list[ResourceType]:
    """One ResourceType per served version of `crd`."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(s for s in ("status", "scale") if s in subresources),
                singular=names.get("singular") or names["kind"].lower(),
            )
        )
    return types


def _jsonpath_value(obj: Obj, path: str) -> Any:
    """The value at a simple JSONPath (`.spec.replicas`, `.status.conditions[0].type`)."""
    current: Any = obj
    for part in path.strip().lstrip(".").split("."):
        if not part:
            continue
        name, _, index = part.partition("[")
        if name:
            current = current.get(name) if isinstance(current, dict) else None
        if index:
            position = index.rstrip("]")
            if position.isdigit() and isinstance(current, list) and int(position) < len(current):
                current = current[int(position)]
            else:
                current = None
        if current is None:
            return None
    return current


def printer_columns(version: Obj) -> list[Column]:
    if not version.get("additionalPrinterColumns"):
        return list(CUSTOM_RESOURCE_COLUMNS)
    columns = [NAME]
    for spec in version.get("additionalPrinterColumns") or []:
        path = str(spec.get("jsonPath", ""))
        column_type = str(spec.get("type", "string"))

        def cell(obj: Obj, path: str = path, column_type: str = column_type) -> Any:
            return column_cell(column_type, _jsonpath_value(obj, path))

        columns.append(
            Column(
                str(spec.get("name", "")),
                cell,
                priority=int(spec.get("priority", 0)),
                type=column_type,
                format=str(spec.get("format", "")),
                description=str(spec.get("description", "")),
            )
        )
    return columns


class CrdRegistrar:
    """Keeps the registry, strategies and tables in step with the stored CRDs."""

    def __init__(self, registry: ResourceRegistry) -> None:
        self._registry = registry
        self._served: dict[str, list[ResourceType]] = {}
        self._versions: dict[str, str] = {}  # name -> the resourceVersion served

    def served(self, name: str) -> list[ResourceType]:
        return list(self._served.get(name, []))

    def check(self, crd: Obj) -> None:
        """Refuse a CRD whose resource another kind already serves (409)."""
        name = crd["metadata"]["name"]
        for rt in resource_types(crd):
            clash = self._registry.lookup(rt.group, rt.version, rt.plural)
            if clash is not None and clash not in self._served.get(name, []):
                raise errors.ApiError(
                    409, "AlreadyExists", f"the resource {rt.plural}.{rt.group} is already served"
                )

    def register(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        self.unregister(name)
        types = resource_types(crd)
        versions = {v["name"]: v for v in crd["spec"].get("versions") or []}
        for rt in types:
            version = versions[rt.version]
            schema_ = (version.get("schema") or {}).get("openAPIV3Schema")
            strategy = CustomResourceStrategy(schema_, "status" in rt.subresources)
            strategies.register(rt.group, rt.kind, strategy, version=rt.version)
            VERSIONED_COLUMNS[(rt.group, rt.kind, rt.version)] = printer_columns(version)
            self._registry.add(rt)
        self._served[name] = types
        self._versions[name] = crd["metadata"].get("resourceVersion", "")
        log.info("serving custom resource %s", name)

    def follow(self, stored: list[Obj], revision: int) -> None:
        """Serve the CRDs `stored` (all of them, as the store had them at
        `revision`): what another API process of this server created, changed
        or deleted since. What this process registered after that read (its
        own creates and updates racing the read) stays. A CRD that cannot be
        served is logged and skipped."""
        names = {crd["metadata"]["name"] for crd in stored}
        for name in [name for name in self._served if name not in names]:
            if _revision(self._versions.get(name)) <= revision:
                self.unregister(name)
        for crd in stored:
            meta = crd["metadata"]
            served = self._versions.get(meta["name"])
            if served is not None and _revision(served) >= _revision(meta.get("resourceVersion")):
                continue  # this version, or a newer one, is served already
            try:
                self.register(crd)
            except (errors.ApiError, KeyError, TypeError) as err:
                log.error("cannot serve the custom resource %s: %s", meta["name"], err)

    def unregister(self, name: str) -> list[ResourceType]:
        types = self._served.pop(name, [])
        self._versions.pop(name, None)
        for rt in types:
            self._registry.remove(rt.group, rt.version, rt.plural)
            strategies.unregister(rt.group, rt.kind, version=rt.version)
            VERSIONED_COLUMNS.pop((rt.group, rt.kind, rt.version), None)
        return types
