"""The process runtime on this host: no root, no runc, no image.

Each test starts real host processes through the shim and checks what the
kubelet relies on: CRI log lines, exit.json, signals to the whole process
group, nothing left behind, and exec with the container's env and cwd.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kybernetes.node.runtime.base import ContainerRuntime
from kybernetes.node.runtime.process import NO_COMMAND, ProcessRuntime
from kybernetes.node.runtime.registry import RUNTIMES
from kybernetes.node.runtime.runc import RuncRuntime


def spec(args: list[str], *, cwd: str = "/", env: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"process": {"args": args, "env": list(env), "cwd": cwd,
                        "user": {"uid": 0, "gid": 0}}}  # fmt: skip


async def ended(runtime: ProcessRuntime, container_id: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while runtime.exit_status(container_id) is None:
            await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: it has ended and waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_both_runtimes_are_registered_and_satisfy_the_protocol(tmp_path: Path) -> None:
    assert set(RUNTIMES) == {"runc", "process"}
    runtimes: list[ContainerRuntime] = [ProcessRuntime(tmp_path / "p"), RuncRuntime(tmp_path / "r")]
    assert [(r.name, r.needs_images, r.isolated) for r in runtimes] == [
        ("process", False, False), ("runc", True, True)]  # fmt: skip


async def test_a_command_runs_with_env_and_cwd_and_its_exit_is_recorded(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime")
    script = 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'
    await runtime.create("c1", spec=spec(["sh", "-c", script], cwd=str(tmp_path),
                                         env=("GREETING=hello",)), layers=[])  # fmt: skip
    await runtime.start("c1")
    await ended(runtime, "c1")
    exit_status = runtime.exit_status("c1")
    assert exit_status is not None and exit_status.exit_code == 3 and exit_status.signal is None
    records = runtime.log_path("c1").read_bytes().splitlines()
    texts = sorted(r.split(b" ", 1)[1] for r in records)
    assert texts == [b"stderr F oops", f"stdout F hello from {tmp_path}".encode()]
    assert (await runtime.state("c1") or {}).get("status") == "stopped"
    await runtime.delete("c1")
    assert await runtime.containers() == []


async def test_kill_signals_the_whole_group_and_nothing_is_left(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime")
    pids = tmp_path / "pids"
    # A child in the group, and a grandchild that left the group (setsid): both must go.
    script = f"sleep 300 & echo $! >> {pids}; setsid sleep 300 & echo $! >> {pids}; wait"
    await runtime.create("c1", spec=spec(["sh", "-c", script]), layers=[])
    state = await runtime.state("c1")
    assert state is not None and state["status"] == "running"
    async with asyncio.timeout(10):
        while len(pids.read_text().split() if pids.exists() else []) < 2:
            await asyncio.sleep(0.02)
    started = [state["pid"], *map(int, pids.read_text().split())]
    assert all(alive(pid) for pid in started)
    await runtime.kill("c1", "TERM")
    await ended(runtime, "c1")
    exit_status = runtime.exit_status("c1")
    assert exit_status is not None and exit_status.exit_code == 143 and exit_status.signal == 15
    assert not [pid for pid in started if alive(pid)]


async def test_a_command_that_cannot_start_is_a_create_error(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime")
    with pytest.raises(RuntimeError, match='exec: "no-such-program-kyb": executable file not'):
        await runtime.create("c1", spec=spec(["no-such-program-kyb"]), layers=[])
    assert runtime.exit_status("c1") is None
    assert "command" in NO_COMMAND


async def test_exec_runs_with_the_container_env_and_reports_failures_as_runc(
    tmp_path: Path,
) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime")
    await runtime.create("c1", spec=spec(["sleep", "30"], cwd=str(tmp_path),
                                         env=("WHO=container",)), layers=[])  # fmt: skip
    try:
        argv = runtime.exec_argv("c1", ["sh", "-c", "echo $WHO in $(pwd); exit 4"])
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, check=False)
        assert done.returncode == 4 and done.stdout.decode() == f"container in {tmp_path}\n"
        log = tmp_path / "exec.json"
        argv = runtime.exec_argv("c1", ["no-such-program-kyb"], log_file=log)
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, check=False)
        entry = json.loads(log.read_text().splitlines()[-1])
        assert done.returncode == 255 and entry["level"] == "error"
        assert "executable file not found" in entry["msg"]
    finally:
        await runtime.delete("c1")
    assert not (tmp_path / "runtime" / "containers" / "c1").exists()
