"""Built-in kinds served at more than one version, stored at one.

kube-apiserver keeps each kind in one storage version and converts on the
way in and out, so an object written through one version reads back
through every other (`kubectl autoscale` writes an autoscaling/v1
HorizontalPodAutoscaler; `kubectl get hpa` reads autoscaling/v2). Here a
kind with several versions names its storage version and a pair of
functions per other version; `ObjectStorage` and the watch convert every
object that crosses the store. The versions share one storage prefix
(`ResourceType.storage_prefix` has no version in it), so they share the
watch cache too. A kind not listed here is served at one version and never
converted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kybernetes.apiserver import hpa_conversion
from kybernetes.apiserver.objects import Obj
from kybernetes.apiserver.resources import ResourceType

__all__ = ["Versions", "from_storage", "needs_conversion", "storage_version", "to_storage"]

Convert = Callable[[Obj], Obj]


@dataclass(frozen=True)
class Versions:
    storage: str
    to_storage: Mapping[str, Convert]  # served version -> storage version
    from_storage: Mapping[str, Convert]  # storage version -> served version


VERSIONS: dict[tuple[str, str], Versions] = {
    ("autoscaling", "HorizontalPodAutoscaler"): Versions(
        "v2", {"v1": hpa_conversion.v1_to_v2}, {"v1": hpa_conversion.v2_to_v1}
    ),
}


def storage_version(rt: ResourceType) -> str:
    versions = VERSIONS.get((rt.group, rt.kind))
    return versions.storage if versions else rt.version


def needs_conversion(rt: ResourceType) -> bool:
    versions = VERSIONS.get((rt.group, rt.kind))
    return versions is not None and versions.storage != rt.version


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """`obj` (of `rt`'s version) as it is stored."""
    versions = VERSIONS.get((rt.group, rt.kind))
    if versions is None or versions.storage == rt.version:
        return obj
    return versions.to_storage[rt.version](obj)


def from_storage(rt: ResourceType, obj: Obj) -> Obj:
    """A stored object as `rt`'s version serves it."""
    versions = VERSIONS.get((rt.group, rt.kind))
    if versions is None or versions.storage == rt.version:
        return obj
    return versions.from_storage[rt.version](obj)
