"""Removing a directory that a dying process still writes into."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kybernetes.util import files
from kybernetes.util.files import remove_tree


def test_a_file_written_during_removal_does_not_leave_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "container"
    target.mkdir()
    (target / "container.log").write_text("x")
    real_rmtree = shutil.rmtree
    calls = []

    def racing_rmtree(path: Path, ignore_errors: bool = False) -> None:
        calls.append(path)
        real_rmtree(path, ignore_errors=ignore_errors)
        if len(calls) == 1:  # the shim writes exit.json just as the directory goes
            target.mkdir()
            (target / "exit.json").write_text("{}")

    monkeypatch.setattr(files.shutil, "rmtree", racing_rmtree)
    assert remove_tree(target, pause=0)
    assert not target.exists() and len(calls) == 2
    assert remove_tree(tmp_path / "never-there")


def test_create_exclusive_makes_a_private_file_once_and_never_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert files.create_exclusive(path, b"first", mode=0o600)
    assert not files.create_exclusive(path, b"second", mode=0o600)
    assert path.read_bytes() == b"first"
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]  # no temp file left
