"""Static bearer tokens from kube-apiserver's `--token-auth-file` CSV
(kybernetes/apiserver/tokenfile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.apiserver.pki import UserInfo
from kybernetes.apiserver.tokenfile import TokenFileError, parse_token_file, read_token_file


def test_records_name_the_user_and_the_quoted_groups() -> None:
    text = 'abc,alice,1001,"system:masters,dev"\n\nxyz,bob,1002\n'
    assert parse_token_file(text, "f") == {
        "abc": UserInfo("alice", ("system:masters", "dev")),
        "xyz": UserInfo("bob", ()),
    }


def test_a_later_record_replaces_an_earlier_one_and_an_empty_token_is_skipped() -> None:
    text = "t,first,1\n,nobody,2\nt,second,3,ops\n"
    assert parse_token_file(text, "f") == {"t": UserInfo("second", ("ops",))}


def test_a_short_record_names_the_file_and_the_record() -> None:
    with pytest.raises(TokenFileError, match=r"tokens.csv, record 2: needs at least 3 columns"):
        parse_token_file("t,alice,1\nu,bob\n", "tokens.csv")


def test_broken_csv_and_a_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="not valid CSV"):
        parse_token_file('t,alice,1,"open\n', "f")
    with pytest.raises(TokenFileError, match="cannot read token file"):
        read_token_file(tmp_path / "missing.csv")
