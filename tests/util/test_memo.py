"""Values kept per key for the version they were made from (kybernetes/util/memo.py)."""

from __future__ import annotations

from kybernetes.util.memo import KEY_BYTES, Memo, VersionMemo, json_key


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


def test_a_memo_is_bounded_the_same_way() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, 2, None)
    memo.put("c", 3)
    assert len(memo) == 1 and memo.get("a") is None and memo.get("c") == 3


def test_json_keys_are_equal_for_equal_values_and_absent_when_unwritable_or_big() -> None:
    assert json_key({"a": [1, "x"]}) == json_key({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert json_key({"a": 1}) != json_key({"a": 1.0})
    assert json_key({"n": 2**70}) is None  # (YAML and protobuf can carry one)
    assert json_key({1: "x"}) is None
    assert json_key("x" * KEY_BYTES) is None
