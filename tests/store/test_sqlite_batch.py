"""The SQLite writer's batch decisions (`plan_batch`), without a database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kybernetes.store.sqlite.batch import plan_batch
from kybernetes.store.types import (
    AlreadyExistsError,
    ConflictError,
    EventKind,
    KeyValue,
    NotFoundError,
)


@dataclass
class Op:
    kind: Literal["create", "update", "delete", "compact"]
    key: str
    value: bytes = b""
    expected: int = 0


def test_creates_take_revisions_in_order_and_become_live() -> None:
    plan = plan_batch([Op("create", "/a", b"1"), Op("create", "/b", b"2")], {}, 10)
    assert plan.results == [KeyValue("/a", b"1", 11, 11), KeyValue("/b", b"2", 12, 12)]
    assert plan.log_rows == [(11, "/a", 0, 11, 0, b"1"), (12, "/b", 0, 12, 0, b"2")]
    assert plan.live == {"/a": 11, "/b": 12}
    assert plan.revision == 12
    assert [e.kind for e in plan.events] == [EventKind.CREATED, EventKind.CREATED]


def test_a_failed_op_uses_no_revision_and_the_rest_go_on() -> None:
    live = {"/a": KeyValue("/a", b"old", 3, 5)}
    ops = [Op("create", "/a", b"x"), Op("update", "/a", b"y", expected=4),
           Op("delete", "/missing"), Op("update", "/a", b"z", expected=5)]  # fmt: skip
    plan = plan_batch(ops, live, 7)
    assert isinstance(plan.results[0], AlreadyExistsError)
    assert isinstance(plan.results[1], ConflictError)
    assert isinstance(plan.results[2], NotFoundError)
    assert plan.results[3] == KeyValue("/a", b"z", 3, 8)
    assert plan.log_rows == [(8, "/a", 0, 3, 5, b"z")]
    assert plan.events[0].prev == live["/a"]


def test_later_ops_see_earlier_ones_in_the_same_batch() -> None:
    ops = [Op("create", "/a", b"1"), Op("update", "/a", b"2", expected=1),
           Op("delete", "/a"), Op("create", "/a", b"3"), Op("delete", "/b")]  # fmt: skip
    plan = plan_batch(ops, {"/b": KeyValue("/b", b"bee", 1, 1)}, 0)
    assert [getattr(r, "mod_revision", None) for r in plan.results] == [1, 2, 3, 4, 5]
    deleted = plan.events[2]
    assert deleted.kind is EventKind.DELETED and deleted.kv == KeyValue("/a", b"2", 1, 3)
    assert plan.log_rows[2] == (3, "/a", 1, 1, 2, b"")
    assert plan.live == {"/a": 4, "/b": None}  # the last word per key
