"""ControllerRevision history: hashes, the revision object, equality, pruning."""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.history import (
    HASH_LABEL,
    controller_revision,
    find_equal,
    hash_object,
    next_revision,
    revisions_to_delete,
    template_patch,
)

Obj = dict[str, Any]

PARENT = {
    "metadata": {"name": "web", "namespace": "ns", "uid": "u1",
                 "annotations": {"kubernetes.io/change-cause": "kubectl set image"}},
    "spec": {"template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
}  # fmt: skip


def revision(name: str, number: int, data: Obj | None = None) -> Obj:
    return {"metadata": {"name": name}, "revision": number, "data": data or {"n": name}}


def test_hash_is_stable_ignores_nulls_and_counts_collisions() -> None:
    template = PARENT["spec"]["template"]  # type: ignore[index]
    without_null = {**template, "metadata": {"labels": {"app": "web"}}}
    assert hash_object(template) == hash_object(without_null)
    assert hash_object(template) != hash_object(template, 1)
    assert hash_object(template, 1) != hash_object(template, 2)
    digest = hash_object(template)
    assert digest.isalnum() and not digest.isdigit()
    assert not set(digest) & set("aeiou013")  # SafeEncodeString never spells words


def test_template_patch_replaces_the_whole_template() -> None:
    patch = template_patch(PARENT)
    assert patch == {"spec": {"template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "$patch": "replace"}}}  # fmt: skip
    assert "$patch" not in PARENT["spec"]["template"]  # type: ignore[operator]


def test_controller_revision_object() -> None:
    made = controller_revision(PARENT, kind="StatefulSet", digest="abc", revision=4)
    meta = made["metadata"]
    assert meta["name"] == "web-abc" and meta["namespace"] == "ns"
    assert meta["labels"] == {"app": "web", HASH_LABEL: "abc"}
    assert meta["annotations"] == {"kubernetes.io/change-cause": "kubectl set image"}
    assert meta["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                        "name": "web", "uid": "u1", "controller": True,
                                        "blockOwnerDeletion": True}]  # fmt: skip
    assert made["revision"] == 4 and made["data"] == template_patch(PARENT)


def test_find_equal_and_next_revision() -> None:
    revisions = [revision("a", 3, {"x": 1}), revision("b", 1, {"x": 1}), revision("c", 2)]
    assert [r["metadata"]["name"] for r in find_equal(revisions, {"x": 1})] == ["b", "a"]
    assert find_equal(revisions, {"x": 2}) == []
    assert next_revision(revisions) == 4 and next_revision([]) == 1


def test_revisions_to_delete_keeps_live_and_the_newest() -> None:
    revisions = [revision(f"r{i}", i) for i in range(1, 7)]
    doomed = revisions_to_delete(revisions, live={"r6", "r1"}, limit=2)
    assert [r["metadata"]["name"] for r in doomed] == ["r2", "r3"]
    assert revisions_to_delete(revisions, live=set(), limit=10) == []
    assert len(revisions_to_delete(revisions, live={"r6"}, limit=0)) == 5
