"""The shim launcher: shims forked from one warm process, no root needed (process mode)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from kybernetes.node.runtime.shimlauncher import MAX_ERROR, ShimLauncher, answer_line


def bundle(directory: Path, args: list[str]) -> list[str]:
    directory.mkdir(parents=True)
    config = {"process": {"args": args, "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}}
    (directory / "config.json").write_text(json.dumps(config))
    return ["--process", "--id", directory.name, "--bundle", str(directory),
            "--dir", str(directory)]  # fmt: skip


async def exit_record(directory: Path) -> dict[str, object]:
    async with asyncio.timeout(10):
        while not (directory / "exit.json").exists():
            await asyncio.sleep(0.02)
    record: dict[str, object] = json.loads((directory / "exit.json").read_text())
    return record


def test_an_answer_is_one_line_below_pipe_buf_even_for_a_long_error() -> None:
    line = answer_line(7, "x" * 10_000)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and len(line) < 4096
    assert json.loads(line)["id"] == 7 and len(json.loads(line)["error"]) == MAX_ERROR + 1
    assert json.loads(answer_line(1, None)) == {"id": 1, "error": None}


async def test_many_shims_at_once_each_get_their_own_answer(tmp_path: Path) -> None:
    launcher = ShimLauncher()
    try:
        argvs = [bundle(tmp_path / f"c{n}", ["sh", "-c", f"echo hello {n}; exit {n}"])
                 for n in range(20)]  # fmt: skip
        await asyncio.gather(*(launcher.launch(argv) for argv in argvs))
        for n in range(20):
            record = await exit_record(tmp_path / f"c{n}")
            assert record["exit_code"] == n
            assert (
                f"stdout F hello {n}".encode()
                in (tmp_path / f"c{n}" / "container.log").read_bytes()
            )
        with pytest.raises(RuntimeError, match='exec: "no-such-program-kyb": executable file'):
            await launcher.launch(bundle(tmp_path / "bad", ["no-such-program-kyb"]))
        with pytest.raises(RuntimeError, match="bad shim arguments"):
            await launcher.launch(["--no-such-flag"])
    finally:
        await launcher.close()


async def test_shims_outlive_the_launcher_and_a_dead_launcher_is_replaced(tmp_path: Path) -> None:
    launcher = ShimLauncher()
    try:
        marker = tmp_path / "marker"
        await launcher.launch(bundle(tmp_path / "long", ["sh", "-c", f"sleep 0.5; touch {marker}"]))
        first = launcher._process
        assert first is not None
        first.kill()
        await first.wait()
        await launcher.launch(bundle(tmp_path / "after", ["true"]))  # a new launcher answers
        assert launcher._process is not first
        assert (await exit_record(tmp_path / "long"))["exit_code"] == 0 and marker.exists()
        assert (await exit_record(tmp_path / "after"))["exit_code"] == 0
    finally:
        await launcher.close()
    assert os.path.exists(tmp_path / "after" / "container.log")
