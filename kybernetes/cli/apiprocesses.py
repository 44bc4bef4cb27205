"""The server's other API processes (`kyb server --api-processes N`): start,
keep, stop.

Each runs `kybernetes.cli.apiprocess` with a fresh link to the SQLite
store's writer process (or, on etcd, the store's URL), from the moment the
store is open; it listens once told the port (`listen`: the server's own
process listens), and stops when its stdin closes. One that dies is started
again (at once after a long life, with a growing pause while they keep
dying young, as the writer itself is). Until every one of them says it is
ready, `/readyz` says which are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from kybernetes.store.sqlite.backend import SqliteStore
from kybernetes.store.sqlite.writer_process import restart_delay
from kybernetes.store.types import Store, StoreError
from kybernetes.util.tasks import cancel_and_wait

__all__ = ["READY_LINE", "ApiProcesses"]

log = logging.getLogger("kybernetes.server")

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 30.0  # how long the server waits for them before it says it is up
READY_LINE = b"ready\n"  # what an API process prints once it listens


class ApiProcesses:
    """`count` API processes beside this one, on `port` and `store`."""

    def __init__(
        self,
        store: Store,
        *,
        store_url: str,
        count: int,
        data_dir: Path,
        bind: str,
        token_auth_file: Path | None,
    ) -> None:
        self._store = store
        self._count = count
        self._args = ["--store-url", store_url, "--data-dir", str(data_dir),
                      "--bind-address", bind]  # fmt: skip
        if token_auth_file is not None:
            self._args += ["--token-auth-file", str(token_auth_file)]
        self._port: int | None = None  # ours, once we listen
        self._running: dict[int, asyncio.subprocess.Process] = {}
        self._ready: set[int] = set()
        self._all_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep(index), name=f"kyb-api-process-{index}")
                       for index in range(2, self._count + 1)]  # fmt: skip

    def listen(self, port: int) -> None:
        """Ours listens on `port` now: so may they (and any started later)."""
        self._port = port
        for process in self._running.values():
            _tell_port(process, port)

    def not_ready(self) -> str | None:
        """Why the server is not ready yet (for /readyz), or None."""
        missing = sorted(set(range(2, self._count + 1)) - self._ready)
        if not missing:
            return None
        return "API process " + ", ".join(map(str, missing)) + " not serving yet"

    async def wait_ready(self) -> None:
        """Until every one serves."""
        await self._all_ready.wait()

    async def stop(self) -> None:
        """Stop them all at once; each gets STOP_TIMEOUT to finish its requests."""
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))
        self._tasks = []

    async def _keep(self, index: int) -> None:
        pause, started = 0.0, 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                started = loop.time()
                code = await self._run_once(index)
                log.error("API process %d exited (code %s)", index, code)
            except (StoreError, OSError) as err:  # the writer is being started again
                log.error("API process %d cannot start: %s", index, err)
            pause = restart_delay(pause, loop.time() - started)
            await asyncio.sleep(pause)

    async def _run_once(self, index: int) -> int:
        with self._store_access() as (args, fds):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kybernetes.cli.apiprocess", "--index", str(index),
                *args, *self._args, pass_fds=fds, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )  # fmt: skip
        self._running[index] = process
        if self._port is not None:
            _tell_port(process, self._port)
        try:
            assert process.stdout is not None
            if await process.stdout.readline() == READY_LINE:
                self._ready.add(index)
                if len(self._ready) == self._count - 1:
                    self._all_ready.set()
                log.info("API process %d serving (pid %d)", index, process.pid)
            return await process.wait()
        finally:
            del self._running[index]
            self._ready.discard(index)
            self._all_ready.clear()
            await _end(process)

    @contextlib.contextmanager
    def _store_access(self) -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """The arguments and descriptors that give a new API process the store:
        SQLite through our writer (the link is closed here once passed);
        any other store (etcd) is opened by the process itself from its URL."""
        if not isinstance(self._store, SqliteStore):
            yield [], ()
            return
        link, board_fd = self._store.add_follower()
        with link:
            fds = (link.fileno(), board_fd)
            yield ["--link-fd", str(fds[0]), "--board-fd", str(fds[1])], fds


def _tell_port(process: asyncio.subprocess.Process, port: int) -> None:
    """The go-ahead an API process waits for before it listens (apiprocess.py)."""
    assert process.stdin is not None
    process.stdin.write(b"%d\n" % port)


async def _end(process: asyncio.subprocess.Process) -> None:
    """Close its stdin (it stops), then SIGKILL if it has not exited within
    STOP_TIMEOUT. (It ignores signals sent to the whole process group.)"""
    if process.stdin is not None:
        process.stdin.close()
    if process.returncode is not None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
