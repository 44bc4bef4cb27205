"""What the kubelet asks of a container runtime, and which runtimes exist.

The pod worker, the prober and the exec/attach streams only ever call the
methods below, so a runtime is anything with them: `RuncRuntime` (real
containers, root and runc needed) and `ProcessRuntime` (the container's
command as a plain host process, for machines without either). A runtime
is picked by name (`RUNTIME_NAMES`, `--runtime runc|process`); its name is
the scheme of every container ID (`runc://…`, `process://…`) and of the
Node's `containerRuntimeVersion`, so what runs a pod shows wherever the
pod does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # (the CLI reads RUNTIME_NAMES before it starts anything: kept light)
    from kybernetes.node.runtime.runc import ContainerExit, SandboxFiles

__all__ = ["RUNTIME_NAMES", "ContainerRuntime", "ExecArgv"]

Obj = dict[str, Any]
RUNTIME_NAMES = ("runc", "process")


class ExecArgv(Protocol):
    """The command line that runs `command` in a running container (as `runc exec`)."""

    def __call__(
        self,
        container_id: str,
        command: list[str],
        *,
        terminal: bool = False,
        log_file: Path | None = None,
        pid_file: str | None = None,
    ) -> list[str]: ...


class ContainerRuntime(Protocol):
    name: str  # the container ID scheme
    needs_images: bool  # False: the kubelet neither pulls nor unpacks
    isolated: bool  # False: no namespaces, no cgroups, no root filesystem of its own
    runc_root: Path  # where exec finds a container (runc's state; the process runtime's dirs)

    async def version(self) -> str: ...
    async def close(self) -> None: ...
    def sandbox_files(self, pod_uid: str) -> SandboxFiles: ...
    async def create_sandbox(
        self, pod_uid: str, hostname: str, *, share_pid: bool = False
    ) -> SandboxFiles: ...
    async def remove_sandbox(self, pod_uid: str) -> None: ...
    async def create(self, container_id: str, *, spec: Obj, layers: list[str]) -> None: ...
    async def start(self, container_id: str) -> None: ...
    async def kill(self, container_id: str, signal: str = "TERM") -> None: ...
    async def state(self, container_id: str) -> Obj | None: ...
    def exit_status(self, container_id: str) -> ContainerExit | None: ...
    async def wait_exit(self, container_id: str) -> None: ...
    def log_path(self, container_id: str) -> Path: ...
    async def delete(self, container_id: str) -> None: ...
    async def containers(self) -> list[str]: ...
    def exec_argv(
        self,
        container_id: str,
        command: list[str],
        *,
        terminal: bool = False,
        log_file: Path | None = None,
        pid_file: str | None = None,
    ) -> list[str]: ...
