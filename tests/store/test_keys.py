"""The pure key helpers every backend shares."""

from __future__ import annotations

import pytest

from kybernetes.store import InvalidInputError
from kybernetes.store.keys import (
    check_key,
    check_value,
    decode_continue,
    encode_continue,
    prefix_end,
)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/a/", "/a0"),
        ("/registry/pods/", "/registry/pods0"),
        ("a", "b"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", ""),
        ("", ""),
        ("\ud7ff", "\ue000"),
    ],
)
def test_prefix_end(prefix: str, end: str) -> None:
    assert prefix_end(prefix) == end


def test_prefix_end_bounds_every_key_with_the_prefix() -> None:
    end = prefix_end("/a/")
    for key in ["/a/", "/a/\U0010ffff", "/a/zzzz"]:
        assert "/a/" <= key < end
        assert key.encode() < end.encode()
    assert not (end > "/a0")


def test_continue_key_round_trips() -> None:
    token = encode_continue(42, "/p/next")
    assert decode_continue(token, "/p/") == (42, "/p/next")


@pytest.mark.parametrize("token", ["", "!!!", "eyJ4IjoxfQ==", encode_continue(0, "/p/x")])
def test_bad_continue_keys_are_refused(token: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_continue(token, "/p/")


def test_errors_name_the_key_and_the_limit() -> None:
    with pytest.raises(InvalidInputError, match="must be a str, not bytes"):
        check_key(b"/k")
    with pytest.raises(InvalidInputError, match=r"'/k'.*1572865 bytes.*1.5 MiB"):
        check_value("/k", b"x" * 1572865)
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        check_key("/\udc80")
