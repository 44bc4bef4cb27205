"""The `process` runtime: a container's command as a plain host process.

For machines without root or runc (a laptop, CI): no image, no namespaces,
no cgroups, no root filesystem of its own; the command runs on this host,
as the kubelet's user, with the pod's env and working directory. It is
labelled as such wherever it shows: `process://` container IDs, the
Node's `containerRuntimeVersion` and `kybernetes.io/runtime` label, a
Warning event on each pod, `kyb status`.

The shim (`shim.py --process`) starts the command, as it runs `runc
create` for runc, so logs (CRI lines), exit.json and kubelet restarts work
as for real containers. The command runs from `create` on (`start` has
nothing left to do: without runc there is no created-but-not-started
state). `kill` signals the command's whole process group; when the
command ends, the shim kills whatever it left behind.

Run as a module this is the exec helper (`kubectl exec`, exec probes and
hooks), standing in for `runc exec`: the container's env and working
directory, then exec of the command; a command that cannot start is
reported on the JSON log as runc does, with exit code 255.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal as signals
import sys
import termios
from pathlib import Path
from typing import Any

from kybernetes import __version__
from kybernetes.node.runtime.runc import ContainerExit, SandboxFiles
from kybernetes.node.runtime.shim import find_program, process_options
from kybernetes.node.runtime.shimlauncher import ShimLauncher
from kybernetes.util.files import remove_tree
from kybernetes.util.pidwait import process_ended

__all__ = ["ISOLATION_WARNING", "NO_COMMAND", "ProcessRuntime", "main"]

Obj = dict[str, Any]
NO_COMMAND = ("the process runtime runs the container's command on this host; "
              "give the container a command")  # fmt: skip
ISOLATION_WARNING = ("this node runs containers with the process runtime: each container's "
                     "command is a plain process on the host, with no image, no isolation "
                     "and no resource limits")  # fmt: skip
VOLUME_WARNING = ("the process runtime cannot mount volumes into a container; prepared on the "
                  "host only, not mounted: {names}")  # fmt: skip
EXEC_FAILED = 255  # as runc exec: the command could not be started


def read_exit(path: Path) -> ContainerExit | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    code, finished = int(data["exit_code"]), str(data.get("finished_at", ""))
    return ContainerExit(code, data.get("signal"), finished, bool(data.get("oom_killed")))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, under another user
    return True


class ProcessRuntime:
    """Host processes under `root` (one directory per pod and per container)."""

    name = "process"
    needs_images = False
    isolated = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pods_dir = root / "pods"
        self.containers_dir = root / "containers"
        self.runc_root = self.containers_dir  # what exec is given: where containers are
        for path in (self.pods_dir, self.containers_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._shims = ShimLauncher()

    async def close(self) -> None:
        """Let go of the shim launcher; the commands and their shims keep running."""
        await self._shims.close()

    async def version(self) -> str:
        return __version__

    # -- sandboxes: nothing to pin, the host's namespaces are the pod's ------------

    def sandbox_files(self, pod_uid: str) -> SandboxFiles:
        return SandboxFiles(ipc="", uts="", shm="", cgroup_parent="")

    async def create_sandbox(
        self, pod_uid: str, hostname: str, *, share_pid: bool = False
    ) -> SandboxFiles:
        await asyncio.to_thread((self.pods_dir / pod_uid).mkdir, parents=True, exist_ok=True)
        return self.sandbox_files(pod_uid)

    async def remove_sandbox(self, pod_uid: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.pods_dir / pod_uid, True)

    # -- containers --------------------------------------------------------------

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    async def create(self, container_id: str, *, spec: Obj, layers: list[str]) -> None:
        """Write config.json and have the shim start the command (it runs from now on)."""
        directory = self.container_dir(container_id)

        def write() -> None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "config.json").write_text(json.dumps(spec))

        await asyncio.to_thread(write)
        await self._shims.launch(["--process", "--id", container_id, "--bundle", str(directory),
                                  "--dir", str(directory)])  # fmt: skip

    async def start(self, container_id: str) -> None:
        """Nothing: the shim started the command at create."""

    def _pid(self, container_id: str) -> int | None:
        try:
            return int((self.container_dir(container_id) / "pid").read_text())
        except (OSError, ValueError):
            return None

    async def kill(self, container_id: str, signal: str = "TERM") -> None:
        """Signal the command's process group (nothing once it has ended)."""
        pid = self._pid(container_id)
        if pid is None or self.exit_status(container_id) is not None:
            return  # ended: the shim has killed what it left behind
        number = signals.Signals[f"SIG{signal.upper().removeprefix('SIG')}"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, number)

    async def state(self, container_id: str) -> Obj | None:
        """As runc state: status running/stopped and the pid; None when unknown."""
        pid = self._pid(container_id)
        if pid is None:
            return None
        if self.exit_status(container_id) is not None:
            return {"id": container_id, "status": "stopped", "pid": pid}
        if not _alive(pid):
            return None  # gone with no exit record (the machine rebooted, the shim was killed)
        return {"id": container_id, "status": "running", "pid": pid}

    async def wait_exit(self, container_id: str) -> None:
        """Return once the command has ended (at once if it has)."""
        pid = self._pid(container_id)
        if pid is None:
            return

        def running() -> bool:
            return self.exit_status(container_id) is None and _alive(pid)

        if running():
            await process_ended(pid, running)

    def exit_status(self, container_id: str) -> ContainerExit | None:
        return read_exit(self.container_dir(container_id) / "exit.json")

    def log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "container.log"

    async def delete(self, container_id: str) -> None:
        """Kill the command's group if it still runs, then remove its files (logs too)."""
        await self.kill(container_id, "KILL")
        await asyncio.to_thread(remove_tree, self.container_dir(container_id))

    async def containers(self) -> list[str]:
        return sorted(p.name for p in self.containers_dir.iterdir() if p.is_dir())

    def exec_argv(
        self,
        container_id: str,
        command: list[str],
        *,
        terminal: bool = False,
        log_file: Path | None = None,
        pid_file: str | None = None,
    ) -> list[str]:
        """This module as `runc exec`: the command with the container's env and cwd."""
        return [sys.executable, "-m", "kybernetes.node.runtime.process",
                "--dir", str(self.container_dir(container_id)),
                *(["--log", str(log_file)] if log_file else []),
                *(["--pid-file", pid_file] if pid_file else []),
                *(["--terminal"] if terminal else []), "--", *command]  # fmt: skip


def _fail(log_file: str, message: str) -> int:
    if log_file:
        with open(log_file, "a") as file:
            file.write(json.dumps({"level": "error", "msg": message}) + "\n")
    print(message, file=sys.stderr)
    return EXEC_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kyb-process-exec")
    parser.add_argument("--dir", required=True, help="the container's directory")
    parser.add_argument("--log", default="", help="errors as JSON lines, as runc --log")
    parser.add_argument("--pid-file", default="")
    parser.add_argument("--terminal", action="store_true", help="stdin is a terminal: own it")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    try:
        config = json.loads((Path(args.dir) / "config.json").read_text())
    except (OSError, ValueError) as err:
        return _fail(args.log, f"container not found: {err}")
    options = process_options(config)
    env = options["env"]
    assert isinstance(env, dict)
    try:
        os.chdir(str(options["cwd"]))
        if "user" in options:
            os.setgroups([int(g) for g in options["extra_groups"]])  # type: ignore[attr-defined]
            os.setgid(int(options["group"]))  # type: ignore[call-overload]
            os.setuid(int(options["user"]))  # type: ignore[call-overload]
    except OSError as err:
        return _fail(args.log, f"exec setup failed: {err}")
    if args.terminal:
        os.setsid()
        with contextlib.suppress(OSError):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    program = args.command[0]
    try:
        os.execve(find_program(program, env), args.command, env)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            return _fail(args.log, f'exec failed: exec: "{program}": executable file not found '
                         "in $PATH")  # fmt: skip
        return _fail(args.log, f'exec failed: exec: "{program}": {err.strerror}')
    return EXEC_FAILED  # not reached: execvpe replaced this process


if __name__ == "__main__":
    sys.exit(main())
