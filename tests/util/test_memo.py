"""Values kept per key for the version they were made from (kybernetes/util/memo.py)."""

from __future__ import annotations

from kybernetes.util.memo import VersionMemo


def test_a_value_answers_only_for_its_version() -> None:
    memo: VersionMemo[str, bytes] = VersionMemo(10)
    assert memo.get("a", 1) is None
    memo.put("a", 1, b"one")
    assert memo.get("a", 1) == b"one"
    assert memo.get("a", 2) is None  # another version misses
    memo.put("a", 2, b"two")
    assert (memo.get("a", 2), memo.get("a", 1)) == (b"two", None)


def test_past_its_limit_everything_is_dropped_at_once() -> None:
    memo: VersionMemo[int, int] = VersionMemo(3)
    for key in range(3):
        memo.put(key, 1, key)
    assert len(memo) == 3
    memo.put(3, 1, 3)
    assert len(memo) == 1
    assert memo.get(0, 1) is None and memo.get(3, 1) == 3
