"""`CrdRegistrar.follow`: serve the CRDs as a read of the store had them,
without undoing what this process registered after that read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kybernetes.apiserver.crds import CrdRegistrar
from kybernetes.apiserver.resources import builtin_registry


def _crd(version: str, resource_version: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "gizmos.follow.example.com", "resourceVersion": str(resource_version)},
        "spec": {
            "group": "follow.example.com", "scope": "Namespaced",
            "names": {"plural": "gizmos", "kind": "Gizmo"},
            "versions": [{"name": version, "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }  # fmt: skip


@pytest.fixture
def crds() -> Iterator[CrdRegistrar]:
    crds = CrdRegistrar(builtin_registry())
    yield crds
    crds.unregister("gizmos.follow.example.com")  # strategies and columns are global


def _served(crds: CrdRegistrar) -> list[str]:
    return [rt.version for rt in crds.served("gizmos.follow.example.com")]


def test_follow_serves_what_was_read_and_drops_what_is_gone(crds: CrdRegistrar) -> None:
    crds.follow([_crd("v1", 5)], 5)
    assert _served(crds) == ["v1"]
    crds.follow([_crd("v2", 7)], 7)  # changed by another process
    assert _served(crds) == ["v2"]
    crds.follow([], 9)  # deleted by another process
    assert _served(crds) == []


def test_a_read_older_than_what_this_process_registered_changes_nothing(
    crds: CrdRegistrar,
) -> None:
    crds.register(_crd("v2", 10))  # this process's own update, at revision 10
    crds.follow([], 8)  # a read from before its create
    assert _served(crds) == ["v2"]
    crds.follow([_crd("v1", 6)], 8)  # a read from before its update
    assert _served(crds) == ["v2"]
    crds.follow([], 11)  # deleted since, by another process
    assert _served(crds) == []
