"""Pods as runc containers: a sandbox of pinned namespaces, containers on overlayfs.

A pod's sandbox is no pause container: its network namespace comes from the
pod network, and its IPC and UTS namespaces are pinned into files as
`unshare --ipc=FILE --uts=FILE hostname NAME` would (node-runtime.md §2),
from a thread instead of a process (`namespaces.pin_new`); every container
of the pod joins them by path. A pod that shares its process
namespace gets a small pause process (`pause.py`) as the namespace's PID 1,
which its containers join through `/proc/PID/ns/pid`. Each container is an
OCI bundle whose rootfs is an overlay of the image's unpacked layers, run
through the shim (`shim.py`), which keeps its logs and exit code. Everything
lives under one directory per pod and per container, so a restarted kubelet
finds it all again, and removing a pod removes every trace: containers,
mounts, namespace files, the pause process and the cgroup parents runc
leaves behind in each hierarchy (pitfall 7).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kybernetes.node.mounts import mount, unmount
from kybernetes.node.namespaces import CLONE_NEWIPC, CLONE_NEWUTS, pin_new
from kybernetes.node.network.commands import CommandError, run
from kybernetes.node.runtime.shimlauncher import ShimLauncher
from kybernetes.util.files import remove_tree
from kybernetes.util.pidwait import process_ended

__all__ = ["ContainerExit", "RuncRuntime", "SandboxFiles", "stop_pause"]

Obj = dict[str, Any]
CGROUP_ROOT = Path("/sys/fs/cgroup")
PAUSE_SCRIPT = str(Path(__file__).with_name("pause.py"))


@dataclass(frozen=True)
class SandboxFiles:
    ipc: str
    uts: str
    shm: str
    cgroup_parent: str
    pid: str = ""  # the shared PID namespace (shareProcessNamespace), "" for none


@dataclass(frozen=True)
class ContainerExit:
    exit_code: int
    signal: int | None
    finished_at: str
    oom_killed: bool


class RuncRuntime:
    """runc under `root` (runc's own state in `root/runc`)."""

    name = "runc"
    needs_images = True
    isolated = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runc_root = root / "runc"
        self.pods_dir = root / "pods"
        self.containers_dir = root / "containers"
        for path in (self.runc_root, self.pods_dir, self.containers_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._shims = ShimLauncher()
        # Each container's init process (pid, start time): fixed for its life, and
        # runc's state.json that records it is large (the whole spec) to parse.
        self._inits: dict[str, tuple[int, int]] = {}

    async def close(self) -> None:
        """Let go of the shim launcher; containers and their shims keep running."""
        await self._shims.close()

    async def version(self) -> str:
        out = await run("runc", "--version")
        return out.split()[2] if out.startswith("runc version") else out.strip()

    # -- sandboxes -------------------------------------------------------------

    def sandbox_files(self, pod_uid: str) -> SandboxFiles:
        pod_dir = self.pods_dir / pod_uid
        return SandboxFiles(ipc=str(pod_dir / "ipc"), uts=str(pod_dir / "uts"),
                            shm=str(pod_dir / "shm"),
                            cgroup_parent=f"/kubepods/pod{pod_uid}")  # fmt: skip

    async def create_sandbox(
        self, pod_uid: str, hostname: str, *, share_pid: bool = False
    ) -> SandboxFiles:
        """Pin the pod's IPC and UTS namespaces (hostname set once) and its /dev/shm;
        with `share_pid`, the pause process holding the pod's PID namespace too."""
        files = self.sandbox_files(pod_uid)
        if not (await _is_mountpoint(files.uts) and await _is_mountpoint(files.ipc)):
            await self.remove_sandbox(pod_uid)
            await asyncio.to_thread(_make_sandbox_dir, files)
            await pin_new({CLONE_NEWIPC: files.ipc, CLONE_NEWUTS: files.uts}, hostname=hostname)
            await asyncio.to_thread(mount, "shm", files.shm, "tmpfs",
                                    "nosuid,nodev,noexec,mode=1777,size=64m")  # fmt: skip
        if not share_pid:
            return files
        return dataclasses.replace(files, pid=await self._pause(pod_uid))

    async def _pause(self, pod_uid: str) -> str:
        """The pod's PID namespace, held by its pause process (started if it is not
        running: a namespace whose PID 1 ended is gone, with all it held)."""
        record = self.pods_dir / pod_uid / "pause.json"
        running = await asyncio.to_thread(_recorded_process, record)
        if running is None:
            running = int(await run(sys.executable, "-I", "-S", PAUSE_SCRIPT))
            started = _running_since(running)
            if started is None:
                raise CommandError(f"the pause process of pod {pod_uid} ended at once")
            saved = json.dumps({"pid": running, "start": started})
            await asyncio.to_thread(record.write_text, saved)
        return f"/proc/{running}/ns/pid"

    async def remove_sandbox(self, pod_uid: str) -> None:
        """Stop the pause process, unpin the namespaces, drop /dev/shm and the pod's
        cgroup parents."""
        files = self.sandbox_files(pod_uid)
        await asyncio.to_thread(stop_pause, self.pods_dir / pod_uid / "pause.json")
        for path in (files.ipc, files.uts, files.shm):
            if await _is_mountpoint(path):
                await asyncio.to_thread(unmount, path)
        await asyncio.to_thread(shutil.rmtree, Path(files.ipc).parent, True)
        await asyncio.to_thread(_remove_cgroup_dirs, files.cgroup_parent)

    # -- containers --------------------------------------------------------------

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    async def create(self, container_id: str, *, spec: Obj, layers: list[str]) -> None:
        """Bundle (overlay rootfs + config.json), then the shim runs it (`runc run -d`)."""
        directory = self.container_dir(container_id)
        rootfs, upper, work = directory / "rootfs", directory / "upper", directory / "work"
        await asyncio.to_thread(_write_bundle, directory, spec)
        if not await _is_mountpoint(str(rootfs)):
            # overlayfs lists the top layer first; images list the base first.
            lower = ":".join(reversed(layers))
            layout = f"lowerdir={lower},upperdir={upper},workdir={work}"
            await asyncio.to_thread(mount, "overlay", str(rootfs), "overlay", layout)
        await self._shims.launch(["--root", str(self.runc_root), "--id", container_id,
                                  "--bundle", str(directory), "--dir", str(directory)])  # fmt: skip

    async def start(self, container_id: str) -> None:
        """Nothing: the shim ran the container at create (`runc run -d`)."""

    async def kill(self, container_id: str, signal: str = "TERM") -> None:
        try:
            await run("runc", "--root", str(self.runc_root), "kill", container_id, signal)
        except CommandError as err:
            if "not running" not in str(err) and "does not exist" not in str(err):
                raise

    async def state(self, container_id: str) -> Obj | None:
        """runc's view (status created/running/stopped, pid), None when unknown to runc."""
        alive = self._live_state(container_id)
        if alive is not None:
            return alive
        try:
            out = await run("runc", "--root", str(self.runc_root), "state", container_id)
        except CommandError:
            return None
        state: Obj = json.loads(out)
        return state

    def _live_state(self, container_id: str) -> Obj | None:
        """runc's own rule for a live container, read from its state dir without running runc.

        The kubelet asks every pod's state at each sync step; one `runc state` each
        is most of an idle node's CPU. runc decides as here: the init process alive
        (same pid and start time as recorded) is `created` while the exec fifo
        exists, `running` once the start removed it (we never pause). Anything
        else (ended, unknown, unreadable) is left to runc itself.
        """
        directory = self.runc_root / container_id
        try:
            init = self._inits.get(container_id)
            if init is None:
                saved = orjson.loads((directory / "state.json").read_bytes())
                init = (int(saved["init_process_pid"]), int(saved["init_process_start"]))
                self._inits[container_id] = init
            pid, started = init
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        if _running_since(pid) != started:
            return None
        status = "created" if (directory / "exec.fifo").exists() else "running"
        return {"id": container_id, "pid": pid, "status": status}

    async def wait_exit(self, container_id: str) -> None:
        """Return once the container's process has ended (at once when it does not
        run): its init process is watched, not polled."""
        if self._live_state(container_id) is None:
            return
        pid, _ = self._inits[container_id]
        await process_ended(pid, lambda: self._live_state(container_id) is not None)

    def exit_status(self, container_id: str) -> ContainerExit | None:
        """What the shim recorded when the container ended, None while it runs."""
        path = self.container_dir(container_id) / "exit.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return ContainerExit(
            int(data["exit_code"]),
            data.get("signal"),
            str(data.get("finished_at", "")),
            bool(data.get("oom_killed")),
        )

    def log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "container.log"

    async def delete(self, container_id: str) -> None:
        """Remove the container, its rootfs mount and its files (logs included)."""
        self._inits.pop(container_id, None)
        try:
            await run("runc", "--root", str(self.runc_root), "delete", "--force", container_id)
        except CommandError as err:
            if "does not exist" not in str(err):
                raise
        directory = self.container_dir(container_id)
        if await _is_mountpoint(str(directory / "rootfs")):
            await asyncio.to_thread(unmount, str(directory / "rootfs"))
        await asyncio.to_thread(remove_tree, directory)

    async def containers(self) -> list[str]:
        """Every container this runtime has a directory for (for re-adoption)."""
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
        """`runc exec` of `command` in the container (its errors as JSON to `log_file`)."""
        logging = ["--log", str(log_file), "--log-format", "json"] if log_file else []
        return ["runc", "--root", str(self.runc_root), *logging, "exec",
                *(["-t"] if terminal else []), *(["--pid-file", pid_file] if pid_file else []),
                container_id, *command]  # fmt: skip


def _running_since(pid: int) -> int | None:
    """The start time (clock ticks after boot) of process `pid`, None unless it runs:
    with the start time a pid names the same process even once pids wrap."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _recorded_process(record: Path) -> int | None:
    """The pid saved in `record` ({"pid", "start"}) if that very process still runs."""
    try:
        saved = json.loads(record.read_bytes())
        pid, started = int(saved["pid"]), int(saved["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if _running_since(pid) == started else None


def stop_pause(record: Path) -> None:
    """SIGKILL the pod's pause process if it still runs: the kernel then ends
    whatever was left in its namespace. Its parent exited at its start, so init
    (or the node's subreaper) reaps it."""
    pid = _recorded_process(record)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _make_sandbox_dir(files: SandboxFiles) -> None:
    Path(files.ipc).parent.mkdir(parents=True, exist_ok=True)
    Path(files.shm).mkdir(exist_ok=True)


def _write_bundle(directory: Path, spec: Obj) -> None:
    for name in ("rootfs", "upper", "work"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(spec))


async def _is_mountpoint(path: str) -> bool:
    return await asyncio.to_thread(os.path.ismount, path)


def _remove_cgroup_dirs(parent: str) -> None:
    """rmdir the pod's cgroup in every hierarchy, deepest first (runc leaves them)."""
    relative = parent.strip("/")
    if not CGROUP_ROOT.is_dir():
        return
    for hierarchy in CGROUP_ROOT.iterdir():
        target = hierarchy / relative
        if not target.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(target), key=lambda w: -len(w[0])):
            # Still busy (a container of the pod runs): the next clean-up takes it.
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
