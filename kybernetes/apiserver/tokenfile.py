"""Static bearer tokens from a CSV file: kube-apiserver's `--token-auth-file`.

Each record is `token,user,uid[,"group1,group2"]`, as Kubernetes reads it, so
a file written for a kube-apiserver works here unchanged. Blank lines are
skipped; a record with an empty token is skipped (Kubernetes warns and goes
on); a later record for the same token replaces an earlier one.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from kybernetes.apiserver.pki import UserInfo

__all__ = ["TokenFileError", "parse_token_file", "read_token_file"]

log = logging.getLogger(__name__)


class TokenFileError(ValueError):
    """The token file cannot be used (unreadable, or a record is malformed)."""


def parse_token_file(text: str, source: str) -> dict[str, UserInfo]:
    """token → user of every record in `text` (`source` names it in errors)."""
    tokens: dict[str, UserInfo] = {}
    try:
        records = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as err:
        raise TokenFileError(f"token file {source}: not valid CSV: {err}") from None
    number = 0
    for record in records:
        if not record:
            continue
        number += 1
        if len(record) < 3:
            raise TokenFileError(
                f"token file {source}, record {number}: needs at least 3 columns "
                f"(token, user name, user uid), found {len(record)}"
            )
        token, name = record[0], record[1]
        if not token:
            log.warning("token file %s, record %d: empty token, skipped", source, number)
            continue
        if token in tokens:
            log.warning("token file %s, record %d: duplicate token, replaces the earlier one",
                        source, number)  # fmt: skip
        groups = tuple(g for g in record[3].split(",") if g) if len(record) > 3 else ()
        tokens[token] = UserInfo(name, groups)
    return tokens


def read_token_file(path: Path) -> dict[str, UserInfo]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TokenFileError(f"cannot read token file {path}: {err}") from None
    return parse_token_file(text, str(path))
