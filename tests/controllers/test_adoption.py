"""Claiming objects: keep, adopt orphans the selector matches, release strays."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.adoption import claim, orphan_namespace

Obj = dict[str, Any]
OWNER = {"metadata": {"name": "ds", "uid": "me"}}


def obj(name: str, app: str, controller: str | None = None, deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "labels": {"app": app}}
    if controller:
        meta["ownerReferences"] = [{"uid": controller, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def matches(o: Obj) -> bool:
    return bool(o["metadata"]["labels"]["app"] == "web")


def names(objs: Any) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_claim() -> None:
    candidates = [
        obj("mine", "web", "me"),
        obj("stray", "other", "me"),
        obj("orphan", "web"),
        obj("orphan-other", "other"),
        obj("orphan-going", "web", deleting=True),
        obj("theirs", "web", "someone-else"),
    ]
    got = claim(OWNER, candidates, matches=matches)
    assert names(got.owned) == ["mine", "orphan"]
    assert names(got.adopt) == ["orphan"]
    assert names(got.release) == ["stray"]
    # An owner being deleted adopts nothing and releases nothing.
    going = {"metadata": {**OWNER["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    got = claim(going, candidates, matches=matches)
    assert names(got.owned) == ["mine", "stray"] and got.adopt == () and got.release == ()


def test_orphan_index() -> None:
    assert orphan_namespace(obj("o", "web")) == ["ns"]
    assert orphan_namespace(obj("m", "web", "me")) == []
