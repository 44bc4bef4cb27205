"""The orphan index the workload controllers find adoptable pods by."""

from __future__ import annotations

from kybernetes.controllers.adoption import orphan_namespace


def test_orphan_index() -> None:
    orphan = {"metadata": {"namespace": "ns", "ownerReferences": [{"uid": "x"}]}}
    assert orphan_namespace(orphan) == ["ns"]  # an owner, but no controller
    owned = {"metadata": {"namespace": "ns",
                          "ownerReferences": [{"uid": "x", "controller": True}]}}  # fmt: skip
    assert orphan_namespace(owned) == []
